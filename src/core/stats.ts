/**
 * Group statistics and broadcasting: the baseline machinery of every group-relative method.
 * Groups come from the batch's CSR listing, so each statistic is one pass over [n] arrays.
 */
import type { RolloutBatch } from "./batch.js";
import { InputError } from "./errors.js";

export type StdKind = "unbiased" | "population";

export interface GroupStats {
  readonly mean: Float64Array; // [nGroups]
  readonly std: Float64Array; // [nGroups]
  readonly count: Int32Array; // [nGroups]
}

export interface GroupStatsOptions {
  /** "unbiased" (torch.std, Bessel-corrected; verl's default) or "population". */
  std?: StdKind;
  /**
   * How a one-member group is treated. "verl" (default): mean 0 and std 1, as verl's loop
   * estimators do, so the lone response keeps its raw score. "natural": mean = its score, std 0.
   */
  singleton?: "verl" | "natural";
  /** The input field x comes from, for the error when a group's statistics overflow (default "reward"). */
  field?: string;
}

/** Mean and std of an arbitrary set of numbers (two-pass, no cancellation). */
export function meanStd(xs: ArrayLike<number>, kind: StdKind = "unbiased"): { mean: number; std: number } {
  const n = xs.length;
  if (n === 0) return { mean: 0, std: 0 };
  let s = 0;
  for (let k = 0; k < n; k++) s += xs[k];
  const mean = s / n;
  let ss = 0;
  for (let k = 0; k < n; k++) {
    const d = xs[k] - mean;
    ss += d * d;
  }
  const denom = kind === "unbiased" ? n - 1 : n;
  return { mean, std: denom > 0 ? Math.sqrt(ss / denom) : 0 };
}

/**
 * Per-group mean and std of a per-rollout quantity x [n]. Two passes (mean, then squared
 * deviations), which avoids the sum/sum-of-squares cancellation verl's vectorized version had.
 */
export function groupStats(batch: RolloutBatch, x: ArrayLike<number>, opts: GroupStatsOptions = {}): GroupStats {
  const kind = opts.std ?? "unbiased";
  const singleton = opts.singleton ?? "verl";
  const nG = batch.groupNames.length;
  const { groupOffsets, groupMembers } = batch;
  const mean = new Float64Array(nG);
  const std = new Float64Array(nG);
  const count = new Int32Array(nG);
  for (let g = 0; g < nG; g++) {
    const a = groupOffsets[g], b = groupOffsets[g + 1];
    const c = b - a;
    count[g] = c;
    if (c === 1 && singleton === "verl") {
      mean[g] = 0;
      std[g] = 1;
      continue;
    }
    let s = 0;
    for (let k = a; k < b; k++) s += x[groupMembers[k]];
    const m = s / c;
    let ss = 0;
    for (let k = a; k < b; k++) {
      const d = x[groupMembers[k]] - m;
      ss += d * d;
    }
    const denom = kind === "unbiased" ? c - 1 : c;
    mean[g] = m;
    std[g] = denom > 0 ? Math.sqrt(ss / denom) : 0;
    if (!Number.isFinite(m) || !Number.isFinite(std[g])) scaledGroupStats(batch, x, g, denom, mean, std, opts.field ?? "reward");
  }
  return { mean, std, count };
}

/**
 * Group g again with every value divided by the group's largest magnitude, so sums of values near
 * the float limit (reward: 1e308) do not overflow; the statistics are scaled back. A mean or std
 * that is itself beyond the float range is an input error naming the member that drove it there.
 */
function scaledGroupStats(batch: RolloutBatch, x: ArrayLike<number>, g: number, denom: number, mean: Float64Array, std: Float64Array, field: string): void {
  const { groupOffsets, groupMembers } = batch;
  const a = groupOffsets[g], b = groupOffsets[g + 1];
  let big = 0;
  let worst = groupMembers[a];
  for (let k = a; k < b; k++) {
    const v = Math.abs(x[groupMembers[k]]);
    if (v > big) {
      big = v;
      worst = groupMembers[k];
    }
  }
  let s = 0;
  for (let k = a; k < b; k++) s += x[groupMembers[k]] / big;
  const m = s / (b - a);
  let ss = 0;
  for (let k = a; k < b; k++) {
    const d = x[groupMembers[k]] / big - m;
    ss += d * d;
  }
  mean[g] = m * big;
  std[g] = denom > 0 ? Math.sqrt(ss / denom) * big : 0;
  if (!Number.isFinite(mean[g]) || !Number.isFinite(std[g])) {
    throw new InputError(batch.source, batch.lines[worst], field, `value ${x[worst]} makes the statistics of group '${batch.groupNames[g]}' overflow the float range`);
  }
}

/** [nTokens] a_i on every mask-1 token of rollout i, 0 on mask-0 tokens. */
export function broadcastToTokens(batch: RolloutBatch, perRollout: ArrayLike<number>, out: Float64Array = new Float64Array(batch.nTokens)): Float64Array {
  const { offsets, mask } = batch;
  const n = batch.n;
  // fill is a native memset-like loop, far cheaper than a per-token select; the mask-0 tokens
  // (a small minority) are zeroed afterwards.
  for (let i = 0; i < n; i++) out.fill(perRollout[i], offsets[i], offsets[i + 1]);
  zeroUnmasked(out, mask, offsets[0], offsets[n]);
  return out;
}

/**
 * Sets out[k] = 0 wherever mask[k] !== 1, for k in [from, to). Reads the mask four bytes at a time
 * when its buffer allows, so all-trainable stretches (almost every token) cost one compare per word.
 */
export function zeroUnmasked(out: Float64Array, mask: Uint8Array, from: number, to: number): void {
  let k = from;
  if ((mask.byteOffset & 3) === 0 && to - from >= 16) {
    while (k < to && (k & 3) !== 0) {
      if (mask[k] !== 1) out[k] = 0;
      k++;
    }
    const words = new Uint32Array(mask.buffer, mask.byteOffset, mask.length >> 2);
    const lastWord = to >> 2; // words [k >> 2, lastWord) lie wholly inside [from, to)
    for (let w = k >> 2; w < lastWord; w++) {
      if (words[w] === 0x01010101) continue; // four mask-1 bytes, whatever the endianness
      const b = w << 2;
      if (mask[b] !== 1) out[b] = 0;
      if (mask[b + 1] !== 1) out[b + 1] = 0;
      if (mask[b + 2] !== 1) out[b + 2] = 0;
      if (mask[b + 3] !== 1) out[b + 3] = 0;
    }
    k = Math.max(k, lastWord << 2);
  }
  for (; k < to; k++) if (mask[k] !== 1) out[k] = 0;
}
