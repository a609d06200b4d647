/**
 * TGDPO's token-level reward guidance as token credit (Zhu et al., ICML 2025, arXiv 2506.14574; code
 * dvlab-research/TGDPO).
 *
 *   r_t = beta (lp_dpo(y_t) - lp_ref(y_t))       token reward of a DPO-trained model
 *   weights: 1 + alpha r_t on a correct rollout, 1 - alpha r_t on an incorrect one (TGDPO's per-token
 *   beta_t / beta), floored at 0 (weights are non-negative; the pairwise loss lets them go negative)
 *   advantages: GRPO's group-relative outcome advantage (src/preference/credit.ts).
 *
 * Inputs: `ref_logprobs`, `signals.dpo_logprobs` (as `dpo-token-reward`), `signals.solved` optional.
 * `diag.tokens.token_reward` is r_t. The pairwise loss is src/preference/tgdpo.ts.
 */
import type { RolloutBatch } from "../core/batch.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { GROUP_NORM_OPTIONS, rewardWeightedCredit } from "../preference/credit.js";
import { implicitTokenRewards } from "./dpo-token-reward.js";
import type { GroupNorm } from "./grpo.js";

export interface TgdpoOptions extends GroupNorm {
  beta: number;
  alpha: number;
}

export function tgdpo(batch: RolloutBatch, opts: TgdpoOptions): Assignment {
  return rewardWeightedCredit(batch, implicitTokenRewards(batch, opts.beta, "tgdpo"), opts.alpha, opts, "tgdpo");
}

export const tgdpoSpec = registerMethod<TgdpoOptions>({
  name: "tgdpo",
  locality: "group",
  summary: "TGDPO token weights 1 +- alpha beta (log pi_dpo - log pi_ref) (+ correct, - incorrect) on GRPO advantages",
  paper: "TGDPO, Zhu et al. ICML 2025, arXiv 2506.14574; code dvlab-research/TGDPO",
  status: "reference-code",
  requires: ["ref_logprobs"],
  signals: ["dpo_logprobs", "solved"],
  requiredSignals: ["dpo_logprobs"],
  example: "preference.jsonl",
  options: {
    beta: { type: "number", default: 0.1, min: 0, exclusiveMin: true, doc: "beta of the token reward beta (lp_dpo - lp_ref)" },
    alpha: { type: "number", default: 0.5, min: 0, doc: "guidance strength (the code's tgdpo_alpha)" },
    ...GROUP_NORM_OPTIONS,
  },
  assign: tgdpo,
});
