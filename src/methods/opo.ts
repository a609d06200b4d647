/**
 * OPO (On-Policy RL with Optimal reward baseline, arXiv 2505.23585), as verl's
 * `compute_opo_outcome_advantage`: a length-weighted group baseline
 *
 *   b_g = sum_j |o_j| s_j / sum_j |o_j|,   A_i = s_i - b_g
 *
 * with |o_j| the number of mask-1 tokens. A one-response group (or one whose responses have no
 * trainable token) has baseline 0.
 */
import type { RolloutBatch } from "../core/batch.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { outcomeScores, trainableCounts, SCORE_TOKENS_OPTION, type ScoreTokens } from "../core/rewards.js";
import { broadcastToTokens } from "../core/stats.js";

export interface OpoOptions {
  scoreTokens: ScoreTokens;
}

export function opo(batch: RolloutBatch, opts: OpoOptions): Assignment {
  const s = outcomeScores(batch, opts.scoreTokens);
  const len = trainableCounts(batch);
  const a = new Float64Array(batch.n);
  const { groupOffsets, groupMembers } = batch;
  for (let g = 0; g < batch.groupNames.length; g++) {
    const lo = groupOffsets[g], hi = groupOffsets[g + 1];
    let num = 0, den = 0;
    for (let k = lo; k < hi; k++) {
      const i = groupMembers[k];
      num += len[i] * s[i];
      den += len[i];
    }
    const baseline = hi - lo > 1 && den > 0 ? num / den : 0;
    for (let k = lo; k < hi; k++) a[groupMembers[k]] = s[groupMembers[k]] - baseline;
  }
  const advantages = broadcastToTokens(batch, a);
  return { advantages, returns: advantages };
}

export const opoSpec = registerMethod<OpoOptions>({
  name: "opo",
  locality: "group",
  summary: "Length-weighted group-mean baseline (optimal reward baseline)",
  paper: "OPO, arXiv 2505.23585; verl compute_opo_outcome_advantage",
  status: "standard",
  example: "plain.jsonl",
  options: { scoreTokens: SCORE_TOKENS_OPTION },
  assign: opo,
});
