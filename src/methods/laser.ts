/**
 * LaSeR: RL with Last-Token Self-Rewarding (Yang et al., 2025; reference code RUCBM/LaSeR
 * @48996f78e769, verl/trainer/ppo/ray_trainer.py and workers/actor/dp_actor.py).
 *
 * The policy scores its own response with the log-probability of a self-reward token z_c placed
 * after EOS: r_s = beta_v (log pi(z_c | x, y, EOS) - c). The trainer computes r_s
 * ({@link selfRewardScore}) and trains it towards the verifier reward with an MSE loss
 * ({@link selfRewardLoss}); this method is the advantage side:
 *
 *   r~_i   = clamp(r_s,i, 0, 1)                   (0 for truncated rows, finished: false)
 *   A_sr,i = (r~_i - mean_g(r~)) / std_g(r~)       if std_g(r~) > tau (unbiased std, no eps)
 *          = A_GRPO,i                              otherwise
 *   A_i    = (1 - lambda) A_GRPO,i + lambda A_sr,i      on every mask-1 token of rollout i
 *
 * A_GRPO is verl's GRPO (unbiased std, eps, one-response group mean 0 std 1) over the outcome
 * score s = reward + sum(token_rewards).
 *
 * Choices (methods.md Part 0, laser):
 * - A truncated row enters the group statistics with r~ = 0 and its `signals.self_reward` is
 *   optional (ignored when given). QUIRK: the reference reads a truncated row's r_s from the
 *   token-0 log-prob (argmax over an all-zero `is_zero` is 0); that is an accident of the code,
 *   so r~ = 0 is used instead.
 * - A one-response group has A_sr = r~ (verl's singleton convention: mean 0, std 1), whatever tau.
 * - `lambda` 0.1 and `tau` 0.1 are the paper scripts' values (actor.yaml ships lambda 0, which
 *   turns the integration off: A = A_GRPO).
 */
import type { RolloutBatch } from "../core/batch.js";
import { InputError } from "../core/errors.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { outcomeScores } from "../core/rewards.js";
import { broadcastToTokens, groupStats } from "../core/stats.js";
import { grpoSequenceAdvantages } from "./grpo.js";

export interface LaserOptions {
  lambda: number;
  tau: number;
  eps: number;
}

/** r_s = beta_v (log pi(z_c) - c): the trainer's self-reward score, the `signals.self_reward` input. */
export function selfRewardScore(logprobZc: number, c: number, betaV: number): number {
  return betaV * (logprobZc - c);
}

/**
 * The trainer-side self-reward loss L_SR = mean over untruncated i of (r_s,i - r_v,i)^2 w_i.
 * Balanced weights count the untruncated samples of the whole batch: w = n / (2 n_correct) for a
 * correct sample (r_v > 0.5; the verifier reward is 0/1) and n / (2 n_incorrect) otherwise;
 * unbalanced weights are 1. No untruncated sample gives 0.
 */
/**
 * The per-sample weights of L_SR [n] (0 on truncated samples) and the number of untruncated
 * samples. Balanced weights count the untruncated samples of the whole batch: w = n / (2 n_correct)
 * for a correct sample (r_v > 0.5; the verifier reward is 0/1) and n / (2 n_incorrect) otherwise;
 * unbalanced weights are 1.
 */
export function selfRewardWeights(
  verifierReward: ArrayLike<number>,
  untruncated: ArrayLike<number | boolean>,
  balanced: boolean,
): { weights: Float64Array; count: number } {
  let nTot = 0, nCorrect = 0;
  for (let i = 0; i < verifierReward.length; i++) {
    if (!untruncated[i]) continue;
    nTot++;
    if (verifierReward[i] > 0.5) nCorrect++;
  }
  const nIncorrect = nTot - nCorrect;
  const wCorrect = balanced ? (nCorrect > 0 ? nTot / (2 * nCorrect) : 0) : 1;
  const wIncorrect = balanced ? (nIncorrect > 0 ? nTot / (2 * nIncorrect) : 0) : 1;
  const weights = new Float64Array(verifierReward.length);
  for (let i = 0; i < weights.length; i++) {
    if (untruncated[i]) weights[i] = verifierReward[i] > 0.5 ? wCorrect : wIncorrect;
  }
  return { weights, count: nTot };
}

/**
 * The trainer-side self-reward loss L_SR = mean over untruncated i of (r_s,i - r_v,i)^2 w_i, with the
 * weights of {@link selfRewardWeights}. No untruncated sample gives 0.
 */
export function selfRewardLoss(
  selfReward: ArrayLike<number>,
  verifierReward: ArrayLike<number>,
  untruncated: ArrayLike<number | boolean>,
  balanced: boolean,
): number {
  const { weights, count } = selfRewardWeights(verifierReward, untruncated, balanced);
  if (count === 0) return 0;
  let acc = 0;
  for (let i = 0; i < selfReward.length; i++) {
    if (!untruncated[i]) continue;
    const d = selfReward[i] - verifierReward[i];
    acc += d * d * weights[i];
  }
  return acc / count;
}

/** [n] r~ = clamp(signals.self_reward, 0, 1), 0 on truncated rows; input error when missing or not finite. */
function clampedSelfRewards(batch: RolloutBatch): Float64Array {
  const out = new Float64Array(batch.n);
  for (let i = 0; i < batch.n; i++) {
    const sig = batch.signals[i];
    const v = sig === undefined ? undefined : sig.self_reward;
    if (v !== undefined && (typeof v !== "number" || !Number.isFinite(v))) {
      throw new InputError(batch.source, batch.lines[i], "signals.self_reward", `expected a finite number, got ${v === null ? "null" : Array.isArray(v) ? "an array" : typeof v === "number" ? String(v) : typeof v}`);
    }
    if (!batch.finished[i]) continue;
    if (v === undefined) {
      throw new InputError(batch.source, batch.lines[i], "signals.self_reward", "required by method 'laser' on finished rows but missing");
    }
    out[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
  return out;
}

/** Per-rollout LaSeR advantages [n], with the two components for diagnostics. */
export function laserSequenceAdvantages(batch: RolloutBatch, opts: LaserOptions): { a: Float64Array; aGrpo: Float64Array; aSr: Float64Array; rTilde: Float64Array } {
  const aGrpo = grpoSequenceAdvantages(batch, { eps: opts.eps, normByStd: true, std: "unbiased" }, outcomeScores(batch));
  const rTilde = clampedSelfRewards(batch);
  const stats = groupStats(batch, rTilde, { std: "unbiased", singleton: "verl" });
  const aSr = new Float64Array(batch.n);
  const a = new Float64Array(batch.n);
  for (let i = 0; i < batch.n; i++) {
    const g = batch.group[i];
    if (stats.count[g] === 1) aSr[i] = rTilde[i];
    else if (stats.std[g] > opts.tau) aSr[i] = (rTilde[i] - stats.mean[g]) / stats.std[g];
    else aSr[i] = aGrpo[i];
    a[i] = (1 - opts.lambda) * aGrpo[i] + opts.lambda * aSr[i];
  }
  return { a, aGrpo, aSr, rTilde };
}

export function laser(batch: RolloutBatch, opts: LaserOptions): Assignment {
  const { a, aGrpo, aSr, rTilde } = laserSequenceAdvantages(batch, opts);
  const advantages = broadcastToTokens(batch, a);
  return { advantages, returns: advantages, diag: { rollouts: { a_grpo: aGrpo, a_sr: aSr, self_reward_clamped: rTilde } } };
}

export const laserSpec = registerMethod<LaserOptions>({
  name: "laser",
  summary: "LaSeR: GRPO advantage mixed with a group-normalised last-token self-reward (signals.self_reward)",
  paper: "LaSeR, Yang et al. 2025; code RUCBM/LaSeR @48996f78e769 (ray_trainer.py)",
  status: "reference-code",
  signals: ["self_reward"],
  requiredSignals: ["self_reward"],
  example: "implicit.jsonl",
  options: {
    lambda: { type: "number", default: 0.1, min: 0, max: 1, doc: "weight of the self-reward advantage: A = (1 - lambda) A_GRPO + lambda A_sr" },
    tau: { type: "number", default: 0.1, min: 0, doc: "A_sr falls back to A_GRPO in groups whose self-reward std is <= tau" },
    eps: { type: "number", default: 1e-6, min: 0, doc: "added to the group std of the GRPO part" },
  },
  assign: laser,
});
