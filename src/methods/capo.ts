/**
 * CAPO: Credit Assignment Policy Optimization with an LLM as generative PRM (Xie et al., 2025,
 * arXiv 2508.02298). NOT FOUND officially: the authors' repository (andyclsr/CAPO) holds no code
 * and the paper body was not retrieved. What is implemented is the SECONDARY description of
 * methods.md Part 3 §12 (a third-party reimplementation, paper notes and reviews), unverified:
 *
 *   R_{i,t} = r_v(o_i) wOutcome - p_{i,s(t)} wProcess           on every mask-1 token t of step s(t)
 *   A_{i,t} = (R_{i,t} - mean_g R) / std_g R                    over all such tokens of the group
 *
 * r_v = 1 when solved (`signals.solved`, else reward > 0), otherwise 0. p_{i,s} comes from voting
 * over the K critiques in `signals.critiques` (each a list of 0-based indices into `step_ends`
 * that a judge flagged wrong): `majority` (p = 1 when more than K/2 flag s), `intersection` (all K)
 * or `average` (p = fraction flagging s). No critiques: no wrong step. The group statistics use the
 * population std and no eps (as the worked example); a zero std gives 0. Tokens after the last step
 * end and mask-0 tokens take no part in the statistics and get 0. `reward` is read only when
 * `signals.solved` is absent; token_rewards are not used.
 * Open (methods.md "Still open"): the exact equations, the prompt and the weights.
 */
import type { RolloutBatch } from "../core/batch.js";
import { InputError } from "../core/errors.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { stepSegments } from "../core/segments.js";
import { voteWrongSteps, type VoteRule } from "../rewards/steps.js";

export interface CapoOptions {
  wOutcome: number;
  wProcess: number;
  vote: VoteRule;
}

/** Reads and checks `signals.critiques` of rollout i: K lists of step indices in [0, nSteps). */
export function readCritiques(batch: RolloutBatch, i: number, nSteps: number): number[][] {
  const sig = batch.signals[i];
  const raw = sig?.critiques;
  if (raw === undefined) return [];
  const bad = (what: string): never => {
    throw new InputError(batch.source, batch.lines[i], "signals.critiques", what);
  };
  if (!Array.isArray(raw)) bad("expected an array of critiques, each an array of 0-based step indices");
  const out: number[][] = [];
  for (let c = 0; c < (raw as unknown[]).length; c++) {
    const crit = (raw as unknown[])[c];
    if (!Array.isArray(crit)) bad(`critique ${c} is not an array of step indices`);
    for (const x of crit as unknown[]) {
      if (typeof x !== "number" || !Number.isInteger(x)) bad(`critique ${c} holds ${JSON.stringify(x) ?? String(x)}; expected integer step indices`);
      if ((x as number) < 0 || (x as number) >= nSteps) bad(`critique ${c} flags step ${x as number}; indices are 0-based into step_ends and must be in [0, ${nSteps - 1}]`);
    }
    out.push(crit as number[]);
  }
  return out;
}

/** Solved flag of rollout i: `signals.solved` (a boolean) when present, else reward > 0. */
export function readSolved(batch: RolloutBatch, i: number): boolean {
  const v = batch.signals[i]?.solved;
  if (v === undefined) return batch.reward[i] > 0;
  if (typeof v !== "boolean") throw new InputError(batch.source, batch.lines[i], "signals.solved", `expected true or false, got ${JSON.stringify(v) ?? typeof v}`);
  return v;
}

export function capo(batch: RolloutBatch, opts: CapoOptions): Assignment {
  const { n, mask, groupOffsets, groupMembers } = batch;
  const seg = stepSegments(batch); // no tail: tokens after the last step end get no credit
  const nSteps = seg.start.length;
  const stepR = new Float64Array(nSteps); // token reward, shared by every token of the step
  const stepCount = new Int32Array(nSteps); // mask-1 tokens of the step
  const penalty = new Float64Array(nSteps);
  for (let i = 0; i < n; i++) {
    const s0 = seg.segOffsets[i], s1 = seg.segOffsets[i + 1];
    const crit = readCritiques(batch, i, s1 - s0);
    const outcome = readSolved(batch, i) ? opts.wOutcome : 0;
    penalty.set(voteWrongSteps(crit, s1 - s0, opts.vote), s0);
    for (let j = s0; j < s1; j++) {
      stepR[j] = outcome - penalty[j] * opts.wProcess;
      let c = 0;
      for (let k = seg.start[j]; k < seg.end[j]; k++) c += mask[k];
      stepCount[j] = c;
    }
  }

  const advantages = new Float64Array(batch.nTokens);
  const tokenRewards = new Float64Array(batch.nTokens);
  const nG = batch.groupNames.length;
  for (let g = 0; g < nG; g++) {
    // Token-weighted statistics from per-step sums: every token of a step has the same reward.
    let cnt = 0, sum = 0, lo = Infinity, hi = -Infinity;
    for (let q = groupOffsets[g]; q < groupOffsets[g + 1]; q++) {
      const i = groupMembers[q];
      for (let j = seg.segOffsets[i]; j < seg.segOffsets[i + 1]; j++) {
        const c = stepCount[j];
        if (c === 0) continue;
        cnt += c;
        sum += c * stepR[j];
        if (stepR[j] < lo) lo = stepR[j];
        if (stepR[j] > hi) hi = stepR[j];
      }
    }
    if (cnt === 0) continue;
    const mean = sum / cnt;
    let ss = 0;
    for (let q = groupOffsets[g]; q < groupOffsets[g + 1]; q++) {
      const i = groupMembers[q];
      for (let j = seg.segOffsets[i]; j < seg.segOffsets[i + 1]; j++) {
        const d = stepR[j] - mean;
        ss += stepCount[j] * d * d;
      }
    }
    // An all-equal group is exactly 0, whatever rounding does to the mean.
    const std = lo === hi ? 0 : Math.sqrt(ss / cnt);
    for (let q = groupOffsets[g]; q < groupOffsets[g + 1]; q++) {
      const i = groupMembers[q];
      for (let j = seg.segOffsets[i]; j < seg.segOffsets[i + 1]; j++) {
        const a = std > 0 ? (stepR[j] - mean) / std : 0;
        const t0 = seg.start[j], t1 = seg.end[j];
        if (stepCount[j] === t1 - t0) {
          // An all-trainable step (the usual case): two native fills instead of a masked loop.
          advantages.fill(a, t0, t1);
          tokenRewards.fill(stepR[j], t0, t1);
          continue;
        }
        for (let k = t0; k < t1; k++) {
          if (mask[k] !== 1) continue;
          advantages[k] = a;
          tokenRewards[k] = stepR[j];
        }
      }
    }
  }
  return { advantages, diag: { tokens: { tokenReward: tokenRewards } } };
}

export const capoSpec = registerMethod<CapoOptions>({
  name: "capo",
  locality: "group",
  summary: "NOT FOUND (secondary): token reward solved*wOutcome - wrong-step*wProcess from voted judge critiques, group-normalised over tokens",
  paper: "CAPO, Xie et al. 2025, arXiv 2508.02298; official code not released (andyclsr/CAPO), SECONDARY description",
  status: "not-found",
  requires: ["step_ends"],
  signals: ["critiques", "solved"],
  example: "judged.jsonl",
  options: {
    wOutcome: { type: "number", default: 2, min: 0, doc: "W_whole: reward of a solved rollout on every token" },
    wProcess: { type: "number", default: 1, min: 0, doc: "W_process: penalty on the tokens of a wrong step" },
    vote: { type: "enum", values: ["majority", "intersection", "average"], default: "majority", doc: "how K critiques decide a wrong step: > K/2, all K, or the flagged fraction scales the penalty" },
  },
  assign: capo,
});
