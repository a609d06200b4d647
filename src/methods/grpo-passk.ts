/**
 * Pass@k GRPO (arXiv 2503.19595), as verl's `compute_grpo_passk_outcome_advantage`: only the
 * best response of each group gets a non-zero advantage,
 *
 *   A_best = (r_max - r_second) / (std_g + eps)   (or without the division),   others 0.
 *
 * Ties for the maximum go to the earliest response. Every group needs at least 2 responses.
 */
import type { RolloutBatch } from "../core/batch.js";
import { InputError } from "../core/errors.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { outcomeScores, SCORE_TOKENS_OPTION, type ScoreTokens } from "../core/rewards.js";
import { broadcastToTokens, groupStats } from "../core/stats.js";

export interface GrpoPasskOptions {
  eps: number;
  normByStd: boolean;
  scoreTokens: ScoreTokens;
}

export function grpoPassk(batch: RolloutBatch, opts: GrpoPasskOptions): Assignment {
  const s = outcomeScores(batch, opts.scoreTokens);
  const { std } = groupStats(batch, s);
  const a = new Float64Array(batch.n);
  const { groupOffsets, groupMembers } = batch;
  for (let g = 0; g < batch.groupNames.length; g++) {
    const lo = groupOffsets[g], hi = groupOffsets[g + 1];
    if (hi - lo < 2) {
      const i = groupMembers[lo];
      throw new InputError(batch.source, batch.lines[i], "group", `method 'grpo-passk' needs at least 2 responses per group; group '${batch.groupNames[g]}' has 1`);
    }
    let best = -1, second = -Infinity;
    for (let k = lo; k < hi; k++) {
      const i = groupMembers[k];
      if (best < 0 || s[i] > s[best]) {
        if (best >= 0) second = Math.max(second, s[best]);
        best = i;
      } else {
        second = Math.max(second, s[i]);
      }
    }
    const adv = s[best] - second;
    a[best] = opts.normByStd ? adv / (std[g] + opts.eps) : adv;
  }
  const advantages = broadcastToTokens(batch, a);
  return { advantages, returns: advantages };
}

export const grpoPasskSpec = registerMethod<GrpoPasskOptions>({
  name: "grpo-passk",
  locality: "group",
  summary: "Pass@k credit: only the group's best response gets (r_max - r_2nd) / std",
  paper: "Pass@k training, arXiv 2503.19595; verl compute_grpo_passk_outcome_advantage",
  status: "standard",
  example: "graded.jsonl",
  options: {
    eps: { type: "number", default: 1e-6, min: 0, doc: "added to the group std" },
    normByStd: { type: "boolean", default: true, doc: "divide by the group std" },
    scoreTokens: SCORE_TOKENS_OPTION,
  },
  assign: grpoPassk,
});
