/**
 * TGDPO: token-level reward guided DPO (Zhu et al., ICML 2025, arXiv 2506.14574; reference code
 * dvlab-research/TGDPO, `dpo_loss`, `sigmoid` branch).
 *
 *   r_t   = beta (lp_RM(y_t) - lp_ref(y_t))            the token reward of a DPO-trained model
 *   chosen:   beta_t = beta (1 + alpha r_t);   rejected: beta_t = beta (1 - alpha r_t)
 *   L = -log sigma( sum_t beta_w,t Delta_w,t - sum_t beta_l,t Delta_l,t ),  Delta = lp_theta - lp_ref
 *
 * The shaping weights carry no gradient (computed under no_grad in the code); label smoothing is
 * ignored in this branch, as in the code.
 */
import { assertFinite, assertSameLength, logSigmoid, sigmoid, type PairLoss, type SeqLogps } from "./common.js";

export interface TgdpoOptions {
  beta: number;
  /** default 0.5 (the code's dataclass default and example YAML). */
  alpha: number;
}

/** One response with the token reward model's log-probs on its tokens. */
export interface TgdpoSeq extends SeqLogps {
  rm: Float64Array;
}

/**
 * The per-token factor 1 + alpha r_t (chosen) or 1 - alpha r_t (rejected), r_t = beta (lp_RM - lp_ref):
 * beta_t / beta, the weight TGDPO puts on DPO's per-token gradient.
 */
export function tgdpoTokenFactors(rm: ArrayLike<number>, ref: ArrayLike<number>, side: "chosen" | "rejected", beta: number, alpha: number): Float64Array {
  assertSameLength("reward-model and reference log-probs", rm, ref);
  const sign = side === "chosen" ? 1 : -1;
  const out = new Float64Array(rm.length);
  for (let t = 0; t < rm.length; t++) out[t] = 1 + sign * alpha * beta * (rm[t] - ref[t]);
  return out;
}

function weightedDelta(s: TgdpoSeq, betas: Float64Array): number {
  let z = 0;
  for (let t = 0; t < betas.length; t++) z += betas[t] * (s.policy[t] - s.ref[t]);
  return z;
}

export function tgdpoLoss(chosen: TgdpoSeq, rejected: TgdpoSeq, o: TgdpoOptions): PairLoss & { z: number } {
  for (const [what, s] of [["chosen", chosen], ["rejected", rejected]] as const) {
    assertFinite(`${what} policy log-probs`, s.policy);
    assertFinite(`${what} reference log-probs`, s.ref);
    assertFinite(`${what} reward-model log-probs`, s.rm);
    assertSameLength(`${what} policy and reference log-probs`, s.policy, s.ref);
  }
  const bw = tgdpoTokenFactors(chosen.rm, chosen.ref, "chosen", o.beta, o.alpha).map((f) => o.beta * f);
  const bl = tgdpoTokenFactors(rejected.rm, rejected.ref, "rejected", o.beta, o.alpha).map((f) => o.beta * f);
  const z = weightedDelta(chosen, bw) - weightedDelta(rejected, bl);
  const dz = -sigmoid(-z);
  return { loss: -logSigmoid(z), z, chosen: bw.map((b) => dz * b), rejected: bl.map((b) => -dz * b) };
}
