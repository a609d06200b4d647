/**
 * What the preference methods registered for `assign` share: which side of a preference pair a
 * rollout is on, and the group-relative sequence signal their token weights rescale.
 *
 * DPO's gradient on a pair is a +-1 sequence signal on every token (chosen up, rejected down); the
 * token-level methods of this family (cDPO, TGDPO, T-REG) rescale it per token. In a policy-gradient
 * trainer fed by `assign`, the group-relative GRPO advantage plays the +-1 (correct rollouts above
 * the group mean, incorrect below) and the method's per-token factor is the `weights` column, so a
 * token's update is A_i * w_t as in the pairwise loss.
 */
import type { RolloutBatch } from "../core/batch.js";
import type { OptionsSchema } from "../core/schema.js";
import type { Assignment } from "../core/registry.js";
import { rawSignal, signalBoolean } from "../core/signals.js";
import { broadcastToTokens } from "../core/stats.js";
import { grpoSequenceAdvantages, type GroupNorm } from "../methods/grpo.js";

/** The GRPO options the weighted preference methods carry (same defaults as `grpo`). */
export const GROUP_NORM_OPTIONS: OptionsSchema<GroupNorm> = {
  eps: { type: "number", default: 1e-6, min: 0, doc: "added to the group std" },
  normByStd: { type: "boolean", default: true, doc: "divide by the group std (false = Dr.GRPO)" },
  std: { type: "enum", values: ["unbiased", "population"], default: "unbiased", doc: "group std: unbiased (torch.std, verl) or population" },
};

/** [nTokens] GRPO advantages of the outcome reward, broadcast to mask-1 tokens. */
export function groupAdvantages(batch: RolloutBatch, opts: GroupNorm): Float64Array {
  return broadcastToTokens(batch, grpoSequenceAdvantages(batch, opts));
}

/**
 * True when rollout i is on the chosen side of a pair: `signals.solved` when given, else reward > 0.5
 * (the verifier's 0/1 reward).
 */
export function isChosen(batch: RolloutBatch, i: number, method: string): boolean {
  if (rawSignal(batch, i, "solved") !== undefined) return signalBoolean(batch, i, "solved", method);
  return batch.reward[i] > 0.5;
}

/**
 * The reweighting methods' credit from a per-token reward r [nTokens]: weights 1 + alpha r_t on the
 * chosen side and 1 - alpha r_t on the rejected side (the factor their pairwise losses put on DPO's
 * per-token gradient), floored at 0, on mask-1 tokens (1 elsewhere); GRPO advantages; r in diag.
 */
export function rewardWeightedCredit(batch: RolloutBatch, reward: Float64Array, alpha: number, opts: GroupNorm, method: string): Assignment {
  const weights = new Float64Array(batch.nTokens).fill(1);
  for (let i = 0; i < batch.n; i++) {
    const sign = isChosen(batch, i, method) ? 1 : -1;
    for (let k = batch.offsets[i]; k < batch.offsets[i + 1]; k++) {
      if (batch.mask[k] === 1) weights[k] = Math.max(0, 1 + sign * alpha * reward[k]);
    }
  }
  return { advantages: groupAdvantages(batch, opts), weights, diag: { tokens: { token_reward: reward } } };
}
