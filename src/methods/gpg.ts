/**
 * GPG (Group Policy Gradient, arXiv 2504.02546), as verl's `compute_gpg_outcome_advantage`:
 *
 *   alpha = B / max(1, #{i : s_i != 0}),   A_i = alpha (s_i - mean_g)
 *
 * over the whole batch of B responses (f_norm = 1). A one-response group has mean 0.
 */
import type { RolloutBatch } from "../core/batch.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { outcomeScores, SCORE_TOKENS_OPTION, type ScoreTokens } from "../core/rewards.js";
import { broadcastToTokens, groupStats } from "../core/stats.js";

export interface GpgOptions {
  scoreTokens: ScoreTokens;
}

export function gpg(batch: RolloutBatch, opts: GpgOptions): Assignment {
  const s = outcomeScores(batch, opts.scoreTokens);
  let nonZero = 0;
  for (let i = 0; i < batch.n; i++) if (s[i] !== 0) nonZero++;
  const alpha = batch.n / Math.max(1, nonZero);
  const { mean } = groupStats(batch, s);
  const a = new Float64Array(batch.n);
  for (let i = 0; i < batch.n; i++) a[i] = alpha * (s[i] - mean[batch.group[i]]);
  const advantages = broadcastToTokens(batch, a);
  return { advantages, returns: advantages };
}

export const gpgSpec = registerMethod<GpgOptions>({
  name: "gpg",
  summary: "Group-mean baseline scaled by batch size / number of non-zero scores",
  paper: "GPG, arXiv 2504.02546; verl compute_gpg_outcome_advantage",
  status: "standard",
  example: "plain.jsonl",
  options: { scoreTokens: SCORE_TOKENS_OPTION },
  assign: gpg,
});
