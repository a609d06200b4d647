/**
 * T-REG: preference optimisation with token-level reward regularisation (Zhou et al., ACL 2025,
 * arXiv 2412.02685). SECONDARY: from third-party paper notes only (methods.md Part 4 section 2).
 *
 *   r^_t  = sigma(lp_eval(y_t | x_better) - lp_eval(y_t | x_worse)) - 0.5     in (-0.5, 0.5)
 *   L_REG = -sum_t beta r^_t lp_theta(y_t)                                    (sum, [PROPOSAL])
 *   w     = sigma(r_DPO(y_l) - r_DPO(y_w)),  r_DPO = beta sum_t (lp_theta - lp_ref)   (detached, [PROPOSAL])
 *   L     = L_DPO + alpha w (L_REG(y_w) + L_REG(y_l))
 * With w detached, dL/dlp_t is -beta w (1 + alpha r^_t) on chosen tokens and +beta w (1 - alpha r^_t)
 * on rejected ones: DPO's per-token gradient rescaled by 1 +- alpha r^_t.
 */
import { assertFinite, assertSameLength, logRatio, sigmoid, type PairLoss, type SeqLogps } from "./common.js";
import { dpoLoss } from "./dpo.js";

export interface TregOptions {
  beta: number;
  /** Regulariser weight; [PROPOSAL] 0.25 (the middle of the paper's grid {0.1, 0.25, 0.5}). */
  alpha: number;
}

/** A response with the evaluator's log-probs of its tokens under the two revision prompts. */
export interface TregSeq extends SeqLogps {
  better: Float64Array;
  worse: Float64Array;
}

/** Self-generated token rewards r^_t = sigma(better_t - worse_t) - 0.5. */
export function tregTokenRewards(better: ArrayLike<number>, worse: ArrayLike<number>): Float64Array {
  assertSameLength("evaluator log-probs under the better and worse prompts", better, worse);
  const r = new Float64Array(better.length);
  for (let t = 0; t < r.length; t++) r[t] = sigmoid(better[t] - worse[t]) - 0.5;
  return r;
}

export interface TregResult extends PairLoss {
  dpo: number;
  regChosen: number;
  regRejected: number;
  weight: number;
  rewardsChosen: Float64Array;
  rewardsRejected: Float64Array;
}

export function tregLoss(chosen: TregSeq, rejected: TregSeq, o: TregOptions): TregResult {
  for (const [what, s] of [["chosen", chosen], ["rejected", rejected]] as const) {
    assertFinite(`${what} evaluator log-probs (better prompt)`, s.better);
    assertFinite(`${what} evaluator log-probs (worse prompt)`, s.worse);
    assertSameLength(`${what} policy log-probs and evaluator log-probs`, s.policy, s.better);
  }
  const base = dpoLoss(chosen, rejected, { beta: o.beta });
  const rw = tregTokenRewards(chosen.better, chosen.worse);
  const rl = tregTokenRewards(rejected.better, rejected.worse);
  const weight = sigmoid(o.beta * (logRatio(rejected) - logRatio(chosen)));
  let regW = 0, regL = 0;
  for (let t = 0; t < rw.length; t++) regW -= o.beta * rw[t] * chosen.policy[t];
  for (let t = 0; t < rl.length; t++) regL -= o.beta * rl[t] * rejected.policy[t];
  const gw = base.chosen.map((g, t) => g - o.alpha * weight * o.beta * rw[t]);
  const gl = base.rejected.map((g, t) => g - o.alpha * weight * o.beta * rl[t]);
  return {
    loss: base.loss + o.alpha * weight * (regW + regL),
    dpo: base.loss,
    regChosen: regW,
    regRejected: regL,
    weight,
    rewardsChosen: rw,
    rewardsRejected: rl,
    chosen: gw,
    rejected: gl,
  };
}
