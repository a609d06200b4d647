/**
 * D3S: Dynamic Dual-Level Down-Sampling (Wang et al., ICLR 2026, arXiv 2509.22115).
 * SECONDARY: the authors' code ("in supplementary") is not public; this follows third-party
 * notes and reviews of the paper as resolved in methods.md (Part 0 and Part 3 section 10).
 * The paper's default N and K are NOT FOUND; the defaults here keep everything.
 *
 * Advantages are verl GRPO over the full group (unbiased std, eps 1e-6), unchanged. D3S only
 * selects which tokens are trained, through `weights` (1 kept, 0 elsewhere, mask-0 tokens included):
 *
 *   sample level: per group, keep the size-N subset S of maximum population variance of A,
 *     searched over the N + 1 splits "k largest + (N - k) smallest" (first maximum in increasing k);
 *     N absent or >= group size keeps the whole group;
 *   token level: among the mask-1 tokens of S (n of them), keep the round(K n) with the largest
 *     |A_i| H_{i,t} (ties: earlier rollout, then earlier token);
 *   schedule: N and K may be {init, final}; with training progress p in [0, 1],
 *     value = (1 - p) init + p final.
 *
 * Rounding (round(K n) and a scheduled N) is Python's half-to-even, the convention the spec's
 * formulas are written in. Selection runs per group; the cross-group variant of the notes is not
 * implemented.
 */
import type { RolloutBatch } from "../core/batch.js";
import { roundHalfEven, selectKth } from "../core/entropy.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { broadcastToTokens } from "../core/stats.js";
import { grpoSequenceAdvantages } from "./grpo.js";

/** A fixed value, or a linear schedule from `init` (progress 0) to `final` (progress 1). */
export type Scheduled = number | { init: number; final: number };

export interface D3sOptions {
  /** Rollouts kept per group (null: all). */
  sampleKeep: Scheduled | null;
  /** Fraction of the kept rollouts' mask-1 tokens kept, in (0, 1]. */
  tokenKeep: Scheduled;
  /** Training progress p in [0, 1]. */
  progress: number;
}

/** (1 - p) init + p final for a schedule; the value itself otherwise. */
export function scheduledValue(value: Scheduled, progress: number): number {
  return typeof value === "number" ? value : (1 - progress) * value.init + progress * value.final;
}

/**
 * Which entries of `values` form the size-`keep` subset of maximum population variance:
 * [length] 1 = kept. The optimum is k largest + (keep - k) smallest for some k; values are
 * ordered ascending with ties by position, and the first k reaching the maximum wins.
 */
export function maxVarianceSubset(values: ArrayLike<number>, keep: number): Uint8Array {
  const size = values.length;
  const selected = new Uint8Array(size);
  if (keep >= size) return selected.fill(1);
  if (keep <= 0) return selected;
  const order = Int32Array.from({ length: size }, (_, j) => j).sort((x, y) => values[x] - values[y] || x - y);
  let bestK = 0;
  let bestVariance = -1;
  for (let k = 0; k <= keep; k++) {
    // Subset: order[0, keep - k) and order[size - k, size).
    let sum = 0;
    for (let r = 0; r < keep - k; r++) sum += values[order[r]];
    for (let r = size - k; r < size; r++) sum += values[order[r]];
    const mean = sum / keep;
    let sumSq = 0;
    for (let r = 0; r < keep - k; r++) sumSq += (values[order[r]] - mean) ** 2;
    for (let r = size - k; r < size; r++) sumSq += (values[order[r]] - mean) ** 2;
    const variance = sumSq / keep;
    if (variance > bestVariance) {
      bestVariance = variance;
      bestK = k;
    }
  }
  for (let r = 0; r < keep - bestK; r++) selected[order[r]] = 1;
  for (let r = size - bestK; r < size; r++) selected[order[r]] = 1;
  return selected;
}

const BINS = 256;

/**
 * The k-th smallest (0-based) of values[0, n), exactly as selectKth on a copy: a histogram over
 * [min, max] finds the bin holding rank k (the bin index floor((v - min) * scale) never decreases
 * as v grows, so every value in a lower bin is smaller than every value in that bin), and only
 * that bin's values are selected among. A group's scores make quickselect mispredict nearly every
 * branch; the histogram passes have almost none. Falls back to selectKth on degenerate ranges.
 */
function kthByHistogram(values: Float64Array, n: number, k: number, work: Float64Array, counts: Int32Array): number {
  let lo = Infinity;
  let hi = -Infinity;
  let nan = false;
  for (let c = 0; c < n; c++) {
    const v = values[c];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
    if (v !== v) nan = true;
  }
  const scale = BINS / (hi - lo);
  if (nan || !(hi > lo) || !Number.isFinite(scale) || !Number.isFinite(hi - lo)) {
    work.set(values.subarray(0, n));
    return selectKth(work, k, n);
  }
  counts.fill(0);
  // (v - min) * scale can reach BINS at v = max (and a hair beyond it by rounding): clamped.
  for (let c = 0; c < n; c++) counts[Math.min((values[c] - lo) * scale, BINS) | 0]++;
  let bin = 0;
  let below = 0;
  while (below + counts[bin] <= k) below += counts[bin++];
  let m = 0;
  for (let c = 0; c < n; c++) {
    const v = values[c];
    if ((Math.min((v - lo) * scale, BINS) | 0) === bin) work[m++] = v;
  }
  return selectKth(work, k - below, m);
}

export function d3s(batch: RolloutBatch, opts: D3sOptions): Assignment {
  const seq = grpoSequenceAdvantages(batch, { eps: 1e-6, normByStd: true, std: "unbiased" });
  const advantages = broadcastToTokens(batch, seq);
  const weights = new Float64Array(batch.nTokens);
  const kept = new Float64Array(batch.n); // [n] 1 = rollout survives sample-level selection
  const { offsets, mask, groupOffsets, groupMembers } = batch;
  const H = batch.entropies === null ? new Float64Array(batch.nTokens) : batch.entropies.data;
  const sampleKeep = opts.sampleKeep === null ? Infinity : roundHalfEven(scheduledValue(opts.sampleKeep, opts.progress));
  const tokenKeep = scheduledValue(opts.tokenKeep, opts.progress);

  let largestGroup = 0;
  let largestGroupTokens = 0;
  for (let g = 0; g < batch.groupNames.length; g++) {
    largestGroup = Math.max(largestGroup, groupOffsets[g + 1] - groupOffsets[g]);
    let tokens = 0;
    for (let m = groupOffsets[g]; m < groupOffsets[g + 1]; m++) tokens += offsets[groupMembers[m] + 1] - offsets[groupMembers[m]];
    largestGroupTokens = Math.max(largestGroupTokens, tokens);
  }
  const groupAdvantages = new Float64Array(largestGroup);
  const scores = new Float64Array(largestGroupTokens); // [group's candidates] |A| H in token order
  let work: Float64Array | null = null; // selection scratch, only when tokens are dropped
  let counts: Int32Array | null = null; // histogram of kthByHistogram
  for (let g = 0; g < batch.groupNames.length; g++) {
    const a = groupOffsets[g], b = groupOffsets[g + 1];
    for (let m = a; m < b; m++) groupAdvantages[m - a] = seq[groupMembers[m]];
    const selected = maxVarianceSubset(groupAdvantages.subarray(0, b - a), sampleKeep);
    let candidates = 0;
    for (let m = a; m < b; m++) {
      const i = groupMembers[m];
      if (!selected[m - a]) continue;
      kept[i] = 1;
      const scale = Math.abs(seq[i]);
      for (let k = offsets[i]; k < offsets[i + 1]; k++) if (mask[k] === 1) scores[candidates++] = scale * H[k];
    }
    const quota = Math.min(roundHalfEven(tokenKeep * candidates), candidates);
    if (quota === 0) continue;
    // The quota-th largest score; everything above it is kept, ties at it fill up in token order.
    let threshold = -Infinity;
    let tiesKept = quota;
    if (quota < candidates) {
      work ??= new Float64Array(largestGroupTokens);
      counts ??= new Int32Array(BINS + 1);
      const kth = candidates - quota;
      threshold = kthByHistogram(scores, candidates, kth, work, counts);
      let above = 0;
      for (let c = 0; c < candidates; c++) if (scores[c] > threshold) above++;
      tiesKept = quota - above;
    }
    let c = 0;
    for (let m = a; m < b; m++) {
      const i = groupMembers[m];
      if (!kept[i]) continue;
      for (let k = offsets[i]; k < offsets[i + 1]; k++) {
        if (mask[k] === 0) continue;
        const score = scores[c++];
        if (score > threshold) weights[k] = 1;
        else if (score === threshold && tiesKept > 0) {
          weights[k] = 1;
          tiesKept--;
        }
      }
    }
  }
  return { advantages, returns: advantages, weights, diag: { rollouts: { kept } } };
}

function checkScheduled(v: unknown, what: string, ok: (x: number) => boolean, integerOnly: boolean): string | null {
  if (typeof v === "number") {
    if (!Number.isFinite(v) || !ok(v) || (integerOnly && !Number.isInteger(v))) return `${v} is not ${what}`;
    return null;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return `expected ${what} or {"init": x, "final": y}`;
  const keys = Object.keys(v);
  const o = v as Record<string, unknown>;
  if (keys.length !== 2 || !("init" in o) || !("final" in o)) return `a schedule has exactly the keys "init" and "final"`;
  for (const key of ["init", "final"]) {
    const x = o[key];
    if (typeof x !== "number" || !Number.isFinite(x) || !ok(x)) return `schedule ${key} ${JSON.stringify(x) ?? String(x)} is out of range`;
  }
  return null;
}

export const d3sSpec = registerMethod<D3sOptions>({
  name: "d3s",
  locality: "group",
  summary: "D3S: GRPO advantages; weights keep the max-variance N rollouts per group and their top-K |A|*H tokens",
  paper: "D3S, Wang et al., ICLR 2026, arXiv 2509.22115 (code not public; from secondary notes)",
  status: "secondary",
  example: "plain.jsonl",
  requires: ["entropies"],
  options: {
    sampleKeep: {
      type: "json",
      typeText: "integer >= 1 | {init, final} | null",
      default: null,
      check: (v) => (v === null ? null : checkScheduled(v, "an integer >= 1", (x) => x >= 1, true)),
      doc: "rollouts kept per group, the max-variance subset (null or >= group size: all); a schedule is rounded to the nearest integer",
    },
    tokenKeep: {
      type: "json",
      typeText: "number in (0, 1] | {init, final}",
      default: 1,
      check: (v) => checkScheduled(v, "a number in (0, 1]", (x) => x > 0 && x <= 1, false),
      doc: "fraction of the kept rollouts' mask-1 tokens kept per group, by largest |A| * entropy",
    },
    progress: { type: "number", default: 0, min: 0, max: 1, doc: "training progress p for scheduled sampleKeep / tokenKeep" },
  },
  assign: d3s,
});
