/**
 * LaSeR's last-token self-reward loss (Yang et al., 2025; reference code
 * RUCBM/LaSeR, `update_policy`), with its gradient: the trainer side of the `laser` method.
 *
 *   r_s,i = beta_v (log pi(z_c | x, y_i, EOS) - c)
 *   L_SR  = mean over untruncated i of w_i (r_s,i - r_v,i)^2      (balanced or unit weights)
 *   d L_SR / d log pi(z_c)_i = 2 beta_v w_i (r_s,i - r_v,i) / n_untruncated
 * The value and the weights are the `laser` method's own (src/methods/laser.ts), not re-derived.
 */
import { selfRewardLoss, selfRewardScore, selfRewardWeights } from "../methods/laser.js";
import { assertFinite, assertSameLength, type SeqLoss } from "./common.js";

export interface SelfRewardLossOptions {
  betaV: number;
  /** The constant c (the paper scripts' ref_model_log_ratio_constant, e.g. -23). */
  c: number;
  balanced: boolean;
}

export function selfRewardLossWithGrad(logprobZc: Float64Array, verifier: ArrayLike<number>, untruncated: ArrayLike<number | boolean>, o: SelfRewardLossOptions): SeqLoss & { selfReward: Float64Array } {
  assertFinite("self-reward token log-probs", logprobZc);
  assertSameLength("self-reward token log-probs and verifier rewards", logprobZc, verifier);
  const selfReward = logprobZc.map((lp) => selfRewardScore(lp, o.c, o.betaV));
  const loss = selfRewardLoss(selfReward, verifier, untruncated, o.balanced);
  const { weights, count } = selfRewardWeights(verifier, untruncated, o.balanced);
  const grad = new Float64Array(logprobZc.length);
  for (let i = 0; i < grad.length; i++) {
    if (weights[i] !== 0) grad[i] = (2 * o.betaV * weights[i] * (selfReward[i] - verifier[i])) / count;
  }
  return { loss, grad, selfReward };
}
