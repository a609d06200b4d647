/**
 * RLOO (arXiv 2402.14740): leave-one-out baseline, as verl's `compute_rloo_outcome_advantage`:
 *
 *   A_i = s_i - mean_{j != i} s_j = n/(n-1) (s_i - mean_g)
 *
 * A one-response group keeps its raw score (verl's loop; its vectorized twin returns 0).
 */
import type { RolloutBatch } from "../core/batch.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { outcomeScores, SCORE_TOKENS_OPTION, type ScoreTokens } from "../core/rewards.js";
import { broadcastToTokens, groupStats } from "../core/stats.js";

export interface RlooOptions {
  scoreTokens: ScoreTokens;
}

export function rloo(batch: RolloutBatch, opts: RlooOptions): Assignment {
  const s = outcomeScores(batch, opts.scoreTokens);
  const { mean, count } = groupStats(batch, s);
  const a = new Float64Array(batch.n);
  for (let i = 0; i < batch.n; i++) {
    const g = batch.group[i];
    const c = count[g];
    a[i] = c > 1 ? (s[i] * c) / (c - 1) - (mean[g] * c) / (c - 1) : s[i];
  }
  const advantages = broadcastToTokens(batch, a);
  return { advantages, returns: advantages };
}

export const rlooSpec = registerMethod<RlooOptions>({
  name: "rloo",
  locality: "group",
  summary: "Leave-one-out baseline: s - mean of the other responses of the group",
  paper: "Back to Basics (RLOO), arXiv 2402.14740; verl compute_rloo_outcome_advantage",
  status: "standard",
  example: "plain.jsonl",
  options: { scoreTokens: SCORE_TOKENS_OPTION },
  assign: rloo,
});
