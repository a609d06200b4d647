/**
 * REINFORCE++-baseline (arXiv 2501.03262), as verl's
 * `compute_reinforce_plus_plus_baseline_outcome_advantage`: group-mean baseline on the score,
 * broadcast to tokens, then whitened over all mask-1 tokens of the batch:
 *
 *   A_{i,t} = whiten_batch(s_i - mean_g)
 *
 * A one-response group has mean 0.
 */
import type { RolloutBatch } from "../core/batch.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { outcomeScores, SCORE_TOKENS_OPTION, type ScoreTokens } from "../core/rewards.js";
import { broadcastToTokens, groupStats } from "../core/stats.js";
import { maskedWhiten } from "../core/whiten.js";

export interface ReinforcePPBaselineOptions {
  scoreTokens: ScoreTokens;
}

export function reinforcePPBaseline(batch: RolloutBatch, opts: ReinforcePPBaselineOptions): Assignment {
  const s = outcomeScores(batch, opts.scoreTokens);
  const { mean } = groupStats(batch, s);
  const centred = new Float64Array(batch.n);
  for (let i = 0; i < batch.n; i++) centred[i] = s[i] - mean[batch.group[i]];
  const advantages = maskedWhiten(broadcastToTokens(batch, centred), batch.mask);
  return { advantages, returns: advantages };
}

export const reinforcePPBaselineSpec = registerMethod<ReinforcePPBaselineOptions>({
  name: "reinforce++-baseline",
  summary: "Group-mean baseline, then whitening over the batch's tokens",
  paper: "REINFORCE++, arXiv 2501.03262; verl compute_reinforce_plus_plus_baseline_outcome_advantage",
  status: "standard",
  example: "plain.jsonl",
  options: { scoreTokens: SCORE_TOKENS_OPTION },
  assign: reinforcePPBaseline,
});
