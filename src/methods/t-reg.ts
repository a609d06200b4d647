/**
 * T-REG's self-generated token rewards as token credit (Zhou et al., ACL 2025, arXiv 2412.02685).
 * SECONDARY: from third-party paper notes only (methods-part4.md section 2).
 *
 *   r^_t = sigma(lp_eval(y_t | x_better) - lp_eval(y_t | x_worse)) - 0.5     in (-0.5, 0.5)
 *   weights: 1 + alpha r^_t on a correct rollout, 1 - alpha r^_t on an incorrect one: with w detached,
 *   T-REG's gradient is DPO's rescaled by exactly these factors (src/preference/treg.ts)
 *   advantages: GRPO's group-relative outcome advantage (src/preference/credit.ts).
 *
 * Inputs: `signals.eval_better_logprobs` / `signals.eval_worse_logprobs`, the evaluator's (the
 * reference model's, [PROPOSAL]) log-probs of each token teacher-forced under the two revision
 * prompts; `signals.solved` optional. alpha 0.25 is a [PROPOSAL] (the middle of the paper's grid).
 */
import type { RolloutBatch } from "../core/batch.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { signalNumbers } from "../core/signals.js";
import { GROUP_NORM_OPTIONS, rewardWeightedCredit } from "../preference/credit.js";
import { tregTokenRewards } from "../preference/treg.js";
import type { GroupNorm } from "./grpo.js";

export interface TregOptions extends GroupNorm {
  alpha: number;
}

export function treg(batch: RolloutBatch, opts: TregOptions): Assignment {
  const reward = new Float64Array(batch.nTokens);
  for (let i = 0; i < batch.n; i++) {
    const o = batch.offsets[i];
    const T = batch.offsets[i + 1] - o;
    const better = signalNumbers(batch, i, "eval_better_logprobs", "t-reg", T)!;
    const worse = signalNumbers(batch, i, "eval_worse_logprobs", "t-reg", T)!;
    const r = tregTokenRewards(better, worse);
    for (let t = 0; t < T; t++) if (batch.mask[o + t] === 1) reward[o + t] = r[t];
  }
  return rewardWeightedCredit(batch, reward, opts.alpha, opts, "t-reg");
}

export const tregSpec = registerMethod<TregOptions>({
  name: "t-reg",
  locality: "group",
  summary: "T-REG token weights 1 +- alpha r^_t from contrastive-prompt self-rewards (+ correct, - incorrect) on GRPO advantages; SECONDARY",
  paper: "T-REG, Zhou et al. ACL 2025, arXiv 2412.02685 (paper notes only)",
  status: "secondary",
  signals: ["eval_better_logprobs", "eval_worse_logprobs", "solved"],
  requiredSignals: ["eval_better_logprobs", "eval_worse_logprobs"],
  example: "preference.jsonl",
  options: {
    alpha: { type: "number", default: 0.25, min: 0, max: 2, doc: "regulariser weight ([PROPOSAL]: the paper searched 0.1, 0.25, 0.5)" },
    ...GROUP_NORM_OPTIONS,
  },
  assign: treg,
});
