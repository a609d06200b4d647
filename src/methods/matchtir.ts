/**
 * MatchTIR: dual-level (trajectory + turn) advantages for tool-integrated reasoning, with turn
 * rewards from bipartite matching of tool calls (Qu et al., 2026, "MatchTIR: Fine-Grained Supervision
 * for Tool-Integrated Reasoning via Bipartite Matching", arXiv 2601.10712; reference code
 * quchangle1/MatchTIR @f614ce1135dc, `Code/verl/trainer/ppo/core_algos.py::
 * compute_grpo_outcome_advantage`). Status: reference code.
 *
 * Turn j of rollout i covers tokens (step_ends[j-1], step_ends[j]]; its reward r_ij is
 * step_rewards[j] plus the token-level reward at its end token (token_rewards there, when mask 1),
 * and `reward` joins the last turn. With s_i = reward + sum(mask-1 token_rewards) + sum_j step_rewards:
 *
 *   A^traj_i    = (s_i - mean_g s) / (std_g s + eps)                     group g of rollout i
 *   R_ij        = r_ij + discount * R_i,j+1                               discounted turn return
 *   A^turn_ij   = (R_ij - mean_{k in g with a turn j} R_kj) / (std + eps)
 *   A_t         = (A^traj_i + A^turn_ij) / 2       on every mask-1 token t of turn j
 *
 * std is unbiased; a one-member group (or a turn index only one rollout of the group reaches) has
 * mean 0 and std 1, as the reference. Tokens after the last step end get 0 (methods.md Part 0).
 * Returns equal advantages (the reference returns its scores twice).
 *
 * The reference finds turns as runs of mask 1 and reads the turn reward at the run's last token;
 * here turns come from `step_ends` (methods.md Part 0), so a turn may span tool-output tokens.
 * The turn rewards themselves come from `src/rewards/toolcalls.ts` (`turnRewards`: greedy, optimal
 * or Sinkhorn matching, answer F1), which is where the paper's hard/soft variants live.
 */
import type { RolloutBatch } from "../core/batch.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { outcomeScores } from "../core/rewards.js";
import { discountedReturns } from "../core/returns.js";
import { stepSegments } from "../core/segments.js";
import { meanStd } from "../core/stats.js";
import { grpoSequenceAdvantages } from "./grpo.js";

export interface MatchtirOptions {
  discount: number;
  eps: number;
}

export function matchtir(batch: RolloutBatch, opts: MatchtirOptions): Assignment {
  const { n, offsets, mask, stepOffsets, stepEnds, groupOffsets, groupMembers } = batch;
  const nSteps = stepOffsets[n];
  const stepData = batch.stepRewards ? batch.stepRewards.data : new Float64Array(nSteps);
  const tokenRewards = batch.tokenRewards ? batch.tokenRewards.data : null;

  // Immediate turn rewards [nSteps] and trajectory scores [n].
  const turnR = new Float64Array(nSteps);
  const scores = outcomeScores(batch);
  for (let i = 0; i < n; i++) {
    const a = stepOffsets[i], b = stepOffsets[i + 1];
    for (let j = a; j < b; j++) {
      const k = offsets[i] + stepEnds[j];
      turnR[j] = stepData[j] + (tokenRewards && mask[k] === 1 ? tokenRewards[k] : 0);
      scores[i] += stepData[j];
    }
    if (b > a) turnR[b - 1] += batch.reward[i];
  }
  const traj = grpoSequenceAdvantages(batch, { eps: opts.eps, normByStd: true, std: "unbiased" }, scores);

  // Discounted turn returns: the core's return recursion over the step axis (every step counts).
  const ones = new Uint8Array(nSteps).fill(1);
  const R = discountedReturns(turnR, ones, stepOffsets, opts.discount);

  // Turn-level advantages, grouped by (group, turn index).
  const turnAdv = new Float64Array(nSteps);
  const scratch = new Float64Array(n);
  for (let g = 0; g + 1 < groupOffsets.length; g++) {
    const ga = groupOffsets[g], gb = groupOffsets[g + 1];
    let maxTurns = 0;
    for (let m = ga; m < gb; m++) {
      const i = groupMembers[m];
      maxTurns = Math.max(maxTurns, stepOffsets[i + 1] - stepOffsets[i]);
    }
    for (let j = 0; j < maxTurns; j++) {
      let c = 0;
      for (let m = ga; m < gb; m++) {
        const i = groupMembers[m];
        if (stepOffsets[i] + j < stepOffsets[i + 1]) scratch[c++] = R[stepOffsets[i] + j];
      }
      const st = c === 1 ? { mean: 0, std: 1 } : meanStd(scratch.subarray(0, c), "unbiased");
      for (let m = ga; m < gb; m++) {
        const i = groupMembers[m];
        const s = stepOffsets[i] + j;
        if (s < stepOffsets[i + 1]) turnAdv[s] = (R[s] - st.mean) / (st.std + opts.eps);
      }
    }
  }

  const advantages = new Float64Array(batch.nTokens);
  const seg = stepSegments(batch);
  for (let i = 0; i < n; i++) {
    for (let s = seg.segOffsets[i]; s < seg.segOffsets[i + 1]; s++) {
      // Segments and steps are numbered alike when the tail is excluded.
      const fused = (traj[i] + turnAdv[s]) / 2;
      for (let k = seg.start[s]; k < seg.end[s]; k++) if (mask[k] === 1) advantages[k] = fused;
    }
  }
  return { advantages, returns: advantages };
}

export const matchtirSpec = registerMethod<MatchtirOptions>({
  name: "matchtir",
  locality: "group",
  summary: "Dual-level MatchTIR advantage: (trajectory GRPO + turn-return GRPO) / 2 per turn, turn rewards from tool-call matching",
  paper: "MatchTIR (Qu et al., 2026, arXiv 2601.10712); code quchangle1/MatchTIR @f614ce1 core_algos.compute_grpo_outcome_advantage",
  status: "reference-code",
  example: "tool-turns.jsonl",
  requires: ["step_ends", "step_rewards"],
  signals: [],
  options: {
    discount: { type: "number", default: 0.9, min: 0, max: 1, doc: "discount of turn returns R_j = r_j + discount R_{j+1} (reference: 0.9, hard-coded)" },
    eps: { type: "number", default: 1e-6, min: 0, doc: "added to the std at both levels" },
  },
  assign: matchtir,
});
