/**
 * GRPO: group-relative outcome advantage (DeepSeekMath, arXiv 2402.03300), as verl's
 * `compute_grpo_outcome_advantage` loop:
 *
 *   A_i = (s_i - mean_g) / (std_g + eps)        broadcast to every mask-1 token of response i
 *
 * with std the unbiased std of the group's scores; a one-response group has mean 0, std 1.
 * `normByStd: false` gives Dr.GRPO (arXiv 2503.20783), also registered as `dr-grpo`.
 */
import type { RolloutBatch } from "../core/batch.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { outcomeScores, SCORE_TOKENS_OPTION, type ScoreTokens } from "../core/rewards.js";
import { broadcastToTokens, groupStats, type StdKind } from "../core/stats.js";

/** How a group's scores are normalised; shared by the methods that start from the GRPO advantage. */
export interface GroupNorm {
  eps: number;
  normByStd: boolean;
  std: StdKind;
}

export interface GrpoOptions extends GroupNorm {
  scoreTokens: ScoreTokens;
}

/** Per-rollout GRPO advantages [n]; shared by methods that start from the GRPO advantage. */
export function grpoSequenceAdvantages(batch: RolloutBatch, opts: GroupNorm, scores: Float64Array = outcomeScores(batch)): Float64Array {
  const stats = groupStats(batch, scores, { std: opts.std });
  const a = new Float64Array(batch.n);
  for (let i = 0; i < batch.n; i++) {
    const g = batch.group[i];
    const d = scores[i] - stats.mean[g];
    if (!opts.normByStd) a[i] = d;
    else if (Number.isFinite(d)) a[i] = d / (stats.std[g] + opts.eps);
    // Scores near the float limit (the statistics are computed scaled): divide before subtracting.
    else a[i] = scores[i] / (stats.std[g] + opts.eps) - stats.mean[g] / (stats.std[g] + opts.eps);
  }
  return a;
}

export function grpo(batch: RolloutBatch, opts: GrpoOptions): Assignment {
  const advantages = broadcastToTokens(batch, grpoSequenceAdvantages(batch, opts, outcomeScores(batch, opts.scoreTokens)));
  return { advantages, returns: advantages };
}

export const grpoSpec = registerMethod<GrpoOptions>({
  name: "grpo",
  locality: "group",
  summary: "Group-relative outcome advantage (s - group mean) / (group std + eps), as verl",
  paper: "DeepSeekMath, arXiv 2402.03300; verl compute_grpo_outcome_advantage",
  status: "standard",
  example: "plain.jsonl",
  options: {
    eps: { type: "number", default: 1e-6, min: 0, doc: "added to the group std" },
    normByStd: { type: "boolean", default: true, doc: "divide by the group std (false = Dr.GRPO)" },
    std: { type: "enum", values: ["unbiased", "population"], default: "unbiased", doc: "group std: unbiased (torch.std, verl) or population" },
    scoreTokens: SCORE_TOKENS_OPTION,
  },
  assign: grpo,
});
