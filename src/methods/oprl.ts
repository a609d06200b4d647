/**
 * OPRL: Online Process Reward Learning (Liu et al., 2025, arXiv 2509.19199, later titled "Agentic
 * RL with Implicit Step Rewards"). PAPER: no reference code exists (methods.md Part 3 §14), so
 * this follows the paper's Eqs. 1-6. A step is one agent turn, ended by `step_ends`.
 *
 * `step_rewards` hold the implicit step rewards r_phi(a_t) = beta log(pi_phi(a_t) / pi_old(a_t))
 * (log-probs summed over the turn; `implicitStepRewards` computes them from per-token log-probs).
 *
 *   A^E(tau_i) = (s_i - mean(R_o)) / std(R_o)               over the rollouts of a group
 *   A^S(a_t^i) = (r_phi(a_t^i) - mean(R_s)) / std(R_s)      R_s = all steps of all rollouts of the group, pooled
 *   A(a_t^i)   = A^E(tau_i) + alpha A^S(a_t^i)              on every token of turn t
 *
 * with s = reward + sum(token_rewards), the unbiased std by default (the paper does not say) and no
 * eps: a zero std gives 0 for that term. A one-rollout group has mean 0, std 1 for A^E.
 * Tokens after the last step end, and mask-0 tokens, get 0; a step with no mask-1 token (a pure
 * tool-output span) holds no action and is left out of the pooled R_s.
 */
import type { RolloutBatch } from "../core/batch.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { outcomeScores } from "../core/rewards.js";
import { stepSegments } from "../core/segments.js";
import { groupStats, type StdKind } from "../core/stats.js";

export interface OprlOptions {
  alpha: number;
  std: StdKind;
}

/** r_phi = beta (log pi_phi(a_t) - log pi_old(a_t)), both summed over the turn's tokens (paper Eq. 1). */
export function implicitStepReward(prmLogprobSum: number, oldLogprobSum: number, beta: number): number {
  return beta * (prmLogprobSum - oldLogprobSum);
}

/**
 * [nSteps] implicit step rewards of every step of the batch from per-token PRM log-probs
 * `prmLogprobs` [nTokens] and the batch's `logprobs` (pi_old), summed over each step's mask-1
 * tokens: the `step_rewards` OPRL reads.
 */
export function implicitStepRewards(batch: RolloutBatch, prmLogprobs: ArrayLike<number>, beta: number): Float64Array {
  const old = batch.logprobs;
  if (!old) throw new Error("implicitStepRewards needs the batch's logprobs (pi_old)");
  const seg = stepSegments(batch);
  const out = new Float64Array(seg.start.length);
  for (let j = 0; j < out.length; j++) {
    let acc = 0;
    for (let k = seg.start[j]; k < seg.end[j]; k++) if (batch.mask[k] === 1) acc += prmLogprobs[k] - old.data[k];
    out[j] = beta * acc;
  }
  return out;
}

/**
 * The PRM's trajectory-level DPO loss for one (success, failure) pair (paper Eq. 2):
 * -log sigma(beta (chosenLogRatio - rejectedLogRatio)), with log-ratios log pi_phi/pi_old summed
 * over the trajectory, computed as softplus(-z) so large margins stay finite.
 */
export function prmDpoLoss(chosenLogRatio: number, rejectedLogRatio: number, beta: number): number {
  const z = beta * (chosenLogRatio - rejectedLogRatio);
  return z > 0 ? Math.log1p(Math.exp(-z)) : -z + Math.log1p(Math.exp(z));
}

export function oprl(batch: RolloutBatch, opts: OprlOptions): Assignment {
  const { n, mask, groupOffsets, groupMembers } = batch;
  const stepR = batch.stepRewards!.data; // presence checked by the runner (requires: step_rewards)
  const nG = batch.groupNames.length;

  // Episode term. An all-equal group gives exactly 0 even when rounding leaves a tiny std.
  const s = outcomeScores(batch);
  const es = groupStats(batch, s, { std: opts.std });
  const aE = new Float64Array(n);
  for (let g = 0; g < nG; g++) {
    const a = groupOffsets[g], b = groupOffsets[g + 1];
    let lo = Infinity, hi = -Infinity;
    for (let q = a; q < b; q++) {
      const x = s[groupMembers[q]];
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    const constant = b - a > 1 && lo === hi;
    for (let q = a; q < b; q++) {
      const i = groupMembers[q];
      aE[i] = constant || es.std[g] === 0 ? 0 : (s[i] - es.mean[g]) / es.std[g];
    }
  }

  // Step term: the group's pooled step rewards, over steps that hold at least one action token.
  const seg = stepSegments(batch);
  const nSteps = seg.start.length;
  const active = new Uint8Array(nSteps);
  for (let j = 0; j < nSteps; j++) {
    for (let k = seg.start[j]; k < seg.end[j]; k++) {
      if (mask[k] === 1) {
        active[j] = 1;
        break;
      }
    }
  }
  const meanS = new Float64Array(nG);
  const stdS = new Float64Array(nG);
  for (let g = 0; g < nG; g++) {
    let c = 0, sum = 0, lo = Infinity, hi = -Infinity;
    for (let q = groupOffsets[g]; q < groupOffsets[g + 1]; q++) {
      const i = groupMembers[q];
      for (let j = seg.segOffsets[i]; j < seg.segOffsets[i + 1]; j++) {
        if (!active[j]) continue;
        const x = stepR[j];
        c++;
        sum += x;
        if (x < lo) lo = x;
        if (x > hi) hi = x;
      }
    }
    if (c === 0) continue;
    const mean = sum / c;
    let ss = 0;
    for (let q = groupOffsets[g]; q < groupOffsets[g + 1]; q++) {
      const i = groupMembers[q];
      for (let j = seg.segOffsets[i]; j < seg.segOffsets[i + 1]; j++) {
        if (!active[j]) continue;
        const d = stepR[j] - mean;
        ss += d * d;
      }
    }
    const denom = opts.std === "unbiased" ? c - 1 : c;
    meanS[g] = mean;
    stdS[g] = denom > 0 && lo !== hi ? Math.sqrt(ss / denom) : 0;
  }

  const advantages = new Float64Array(batch.nTokens);
  for (let i = 0; i < n; i++) {
    const g = batch.group[i];
    for (let j = seg.segOffsets[i]; j < seg.segOffsets[i + 1]; j++) {
      const as = stdS[g] > 0 ? (stepR[j] - meanS[g]) / stdS[g] : 0;
      const a = aE[i] + opts.alpha * as;
      for (let k = seg.start[j]; k < seg.end[j]; k++) advantages[k] = mask[k] === 1 ? a : 0;
    }
  }
  return { advantages, diag: { rollouts: { episodeAdvantage: aE } } };
}

export const oprlSpec = registerMethod<OprlOptions>({
  name: "oprl",
  locality: "group",
  summary: "Episode advantage (group-normalised outcome) + alpha x step advantage (group-pooled implicit step rewards) per turn",
  paper: "OPRL / Agentic RL with Implicit Step Rewards, Liu et al. 2025, arXiv 2509.19199 (paper only, no reference code)",
  status: "paper",
  requires: ["step_ends", "step_rewards"],
  example: "implicit-steps.jsonl",
  options: {
    alpha: { type: "number", default: 1, min: 0, doc: "weight of the step advantage A^S" },
    std: { type: "enum", values: ["unbiased", "population"], default: "unbiased", doc: "std of both normalisations (the paper does not say; unbiased by default)" },
  },
  assign: oprl,
});
