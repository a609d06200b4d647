/**
 * Order statistics and entropy normalisation over mask-1 tokens, shared by the entropy-aware
 * methods: HAPO's normalised entropy ĥ (`compute_entropy_h`), HICRA's per-response top-k entropy
 * threshold (verl variant) and D3S's top-K token selection. Mask-0 tokens never enter a
 * statistic (methods.md Part 0). Browser-safe: no Node built-ins.
 */
import type { RolloutBatch } from "./batch.js";

/**
 * Python's `round()`: nearest integer, exact halves to the even neighbour (round(2.5) = 2,
 * round(3.5) = 4). The reference code indexes quantiles with it, and `Math.round` (halves up)
 * picks a different element at every exact half.
 */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const frac = x - floor; // exact for doubles
  if (frac < 0.5) return floor;
  if (frac > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * The k-th smallest value (0-based) of values[0, length), in expected n + min(k, n - k)
 * comparisons: Floyd-Rivest selection (the form of mourner/quickselect), which first narrows the
 * range around k on a sample so a million-token quantile costs about one pass. Reorders `values`
 * in place; callers pass a scratch copy.
 */
export function selectKth(values: Float64Array, k: number, length: number = values.length): number {
  if (!(Number.isInteger(k) && k >= 0 && k < length)) throw new RangeError(`selectKth: k = ${k} outside [0, ${length})`);
  floydRivest(values, k, 0, length - 1);
  return values[k];
}

function floydRivest(a: Float64Array, k: number, left: number, right: number): void {
  while (right > left) {
    if (right - left > 600) {
      // Recurse on a sample-sized window that contains the k-th value with high probability.
      const n = right - left + 1;
      const m = k - left + 1;
      const z = Math.log(n);
      const s = 0.5 * Math.exp((2 * z) / 3);
      const sd = 0.5 * Math.sqrt((z * s * (n - s)) / n) * (m - n / 2 < 0 ? -1 : 1);
      const newLeft = Math.max(left, Math.floor(k - (m * s) / n + sd));
      const newRight = Math.min(right, Math.floor(k + ((n - m) * s) / n + sd));
      floydRivest(a, k, newLeft, newRight);
    }
    const pivot = a[k];
    let i = left;
    let j = right;
    swap(a, left, k);
    if (a[right] > pivot) swap(a, left, right);
    while (i < j) {
      swap(a, i, j);
      i++;
      j--;
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
    }
    if (a[left] === pivot) swap(a, left, j);
    else {
      j++;
      swap(a, j, right);
    }
    // a[j] is the pivot in its final place; continue on the side holding k.
    if (j <= k) left = j + 1;
    if (k <= j) right = j - 1;
  }
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}

/**
 * `torch.quantile(x, q, interpolation="nearest")` as HAPO's `torch_quantile` computes it: the
 * element of rank `round(q * (n - 1))` with Python's half-to-even `round`. Reorders `values`
 * (scratch) in place. n must be >= 1.
 */
export function nearestQuantile(values: Float64Array, q: number, length: number = values.length): number {
  return selectKth(values, roundHalfEven(q * (length - 1)), length);
}

export type EntropySign = "code" | "paper";

/** The statistics HAPO's `compute_entropy_h` returns beside ĥ (the sampler reuses them). */
export interface EntropyHStats {
  /** The pivot quantile of ln H over the mask-1 tokens. */
  readonly med: number;
  /** RMS of (ln H - med) over the mask-1 tokens (around the pivot, not the mean), at least 1e-4. */
  readonly std: number;
  /** 1 / (largest positive h), h = (ln H - med) / std; 1e8 when no h is positive. */
  readonly scalePos: number;
  /** 1 / (most negative h), a negative number; -1e8 when no h is negative. */
  readonly scaleNeg: number;
}

const ENTROPY_FLOOR = 1e-8;

/**
 * Maps a standardised entropy h = (ln H - med) / std into ĥ with the given scales.
 * "code" is the published code: h <= 0 is multiplied by the negative scaleNeg, so low-entropy
 * tokens get ĥ >= 0 (the lowest becomes +1). "paper" is the stated intent: h <= 0 maps into
 * [-1, 0] (h / |neg_min|).
 */
export function entropyHFromStandardised(h: number, stats: EntropyHStats, sign: EntropySign): number {
  if (h > 0) return h * stats.scalePos;
  return sign === "code" ? h * stats.scaleNeg : -h * stats.scaleNeg;
}

/** Units with fewer tokens than this select on a full copy; sampling pays off on large units only. */
const SAMPLED_SELECT_MIN = 1 << 15;
const SAMPLE_SIZE = 4096;

/**
 * nearestQuantile of max(H, 1e-8) over the mask-1 tokens of the ranges, without selecting over a
 * full copy: a strided sample brackets the wanted rank in [lo, hi], one pass counts the values
 * below lo and copies those inside the bracket into `scratch` (a few percent of them), and the
 * rank is selected there. The bracket only steers the work: every value below lo is smaller than
 * every copied one, so the result is exactly the full selection's. Null (the caller selects on a
 * full copy) when the bracket misses the rank, a value is NaN, or there is no mask-1 token.
 * Overwrites a prefix of `scratch`.
 */
function sampledNearestQuantile(
  H: Float64Array,
  mask: Uint8Array,
  starts: Int32Array,
  ends: Int32Array,
  total: number,
  pivot: number,
  scratch: Float64Array,
): { count: number; value: number } | null {
  const sample = new Float64Array(SAMPLE_SIZE);
  let s = 0;
  const stride = total / SAMPLE_SIZE;
  let r = 0;
  let before = 0; // tokens in ranges before range r
  for (let j = 0; j < SAMPLE_SIZE; j++) {
    const pos = Math.floor(j * stride); // < total, so some range holds it
    while (pos >= before + ends[r] - starts[r]) {
      before += ends[r] - starts[r];
      r++;
    }
    const k = starts[r] + pos - before;
    if (mask[k] === 1) sample[s++] = Math.max(H[k], ENTROPY_FLOOR);
  }
  if (s < 64) return null;
  const sorted = sample.subarray(0, s).sort();
  const at = pivot * (s - 1);
  // About four binomial standard deviations of the sample rank either side.
  const margin = 4 * Math.sqrt(s * pivot * (1 - pivot)) + 16;
  const lo = at - margin <= 0 ? -Infinity : sorted[Math.floor(at - margin)];
  const hi = at + margin >= s - 1 ? Infinity : sorted[Math.ceil(at + margin)];
  let count = 0;
  let below = 0;
  let inside = 0;
  let nan = false;
  for (let q = 0; q < starts.length; q++) {
    const end = ends[q];
    for (let k = starts[q]; k < end; k++) {
      if (mask[k] !== 1) continue;
      const v = Math.max(H[k], ENTROPY_FLOOR);
      count++;
      if (v < lo) below++;
      else if (v <= hi) scratch[inside++] = v;
      else if (v !== v) nan = true;
    }
  }
  if (nan || count === 0) return null;
  const rank = roundHalfEven(pivot * (count - 1));
  if (rank < below || rank >= below + inside) return null;
  return { count, value: selectKth(scratch, rank - below, inside) };
}

/**
 * `compute_entropy_h` statistics of one unit: the mask-1 tokens of the token ranges
 * [starts[r], ends[r]). With ℓ = ln(max(H, 1e-8)): med = nearest quantile of ℓ at `pivot`,
 * std = sqrt(max(mean (ℓ - med)², 1e-8)), scales from the extreme h = (ℓ - med) / std. Writes
 * ℓ - med into `deviations` (and 0 on the ranges' mask-0 tokens) when given. `scratch` may be
 * `deviations` itself when the ranges cover it from index 0 (the compacted copy never overtakes
 * the read position, and every position in the ranges is rewritten). Null when the unit has no
 * mask-1 token.
 */
function unitStats(
  H: Float64Array,
  mask: Uint8Array,
  starts: Int32Array,
  ends: Int32Array,
  pivot: number,
  scratch: Float64Array,
  deviations: Float64Array | null,
): EntropyHStats | null {
  let total = 0;
  for (let r = 0; r < starts.length; r++) total += ends[r] - starts[r];
  const sampled = total >= SAMPLED_SELECT_MIN ? sampledNearestQuantile(H, mask, starts, ends, total, pivot, scratch) : null;
  let count = 0;
  let quantile: number;
  if (sampled !== null) {
    count = sampled.count;
    quantile = sampled.value;
  } else {
    for (let r = 0; r < starts.length; r++) {
      const end = ends[r];
      for (let k = starts[r]; k < end; k++) if (mask[k] === 1) scratch[count++] = Math.max(H[k], ENTROPY_FLOOR);
    }
    if (count === 0) return null;
    quantile = nearestQuantile(scratch, pivot, count);
  }
  // ln is monotone, so the quantile of ln H is ln of the quantile of H: one log instead of n.
  const med = Math.log(quantile);
  let sumSq = 0;
  let maxDev = -Infinity;
  let minDev = Infinity;
  for (let r = 0; r < starts.length; r++) {
    const end = ends[r];
    for (let k = starts[r]; k < end; k++) {
      if (mask[k] === 0) {
        if (deviations !== null) deviations[k] = 0; // clears leftovers when deviations doubles as scratch
        continue;
      }
      const d = Math.log(Math.max(H[k], ENTROPY_FLOOR)) - med;
      if (deviations !== null) deviations[k] = d;
      sumSq += d * d;
      if (d > maxDev) maxDev = d;
      if (d < minDev) minDev = d;
    }
  }
  const std = Math.sqrt(Math.max(sumSq / count, ENTROPY_FLOOR));
  // Dividing by a positive std keeps signs and order, so the extreme deviations give the extreme h.
  const posMax = Math.max(maxDev / std, ENTROPY_FLOOR);
  const negMin = Math.min(minDev / std, -ENTROPY_FLOOR);
  return { med, std, scalePos: 1 / posMax, scaleNeg: 1 / negMin };
}

/**
 * HAPO's `compute_entropy_h` statistics over the entropies of the tokens where mask is 1 (all
 * tokens without a mask); null when none is valid. A trainer keeps these from one step to drive
 * the next step's sampler (see `adaptiveTemperature` in methods/hapo.ts).
 */
export function entropyHStats(entropies: ArrayLike<number>, pivot: number, mask?: ArrayLike<number>): EntropyHStats | null {
  const H = Float64Array.from(entropies);
  const valid = mask === undefined ? new Uint8Array(H.length).fill(1) : Uint8Array.from(mask);
  return unitStats(H, valid, Int32Array.of(0), Int32Array.of(H.length), pivot, new Float64Array(H.length), null);
}

export interface NormalizedEntropyOptions {
  /** Quantile of ln H used as the pivot (HAPO: 0.8). */
  pivot: number;
  sign: EntropySign;
  /** Which tokens share one set of statistics: the whole batch (HAPO's reference) or each group. */
  scope: "batch" | "group";
}

export interface NormalizedEntropy {
  /** [nTokens] ĥ in [-1, 1] on mask-1 tokens, 0 on mask-0 tokens. */
  readonly hHat: Float64Array;
  /** One entry per scope unit (1 for "batch", nGroups for "group"); null where the unit has no mask-1 token. */
  readonly stats: (EntropyHStats | null)[];
}

/**
 * HAPO's normalised entropy ĥ over the batch's mask-1 tokens (`batch.entropies` must be
 * present for every rollout): ℓ = ln(max(H, 1e-8)), h = (ℓ - med) / std, ĥ = h scaled into
 * [-1, 1] by the side's extreme value (see entropyHFromStandardised for the sign convention).
 */
export function normalizedEntropy(batch: RolloutBatch, opts: NormalizedEntropyOptions): NormalizedEntropy {
  const column = batch.entropies;
  if (column === null) throw new Error("normalizedEntropy: the batch carries no entropies");
  const H = column.data;
  const { mask, offsets } = batch;
  // Each unit is a list of token ranges: the whole batch is one, a group is one per member.
  const units: { starts: Int32Array; ends: Int32Array }[] = [];
  if (opts.scope === "batch") {
    units.push({ starts: Int32Array.of(0), ends: Int32Array.of(batch.nTokens) });
  } else {
    for (let g = 0; g < batch.groupNames.length; g++) {
      const members = batch.groupMembers.subarray(batch.groupOffsets[g], batch.groupOffsets[g + 1]);
      units.push({ starts: members.map((i) => offsets[i]), ends: members.map((i) => offsets[i + 1]) });
    }
  }
  let largestUnit = 0;
  for (const { starts, ends } of units) {
    let tokens = 0;
    for (let r = 0; r < starts.length; r++) tokens += ends[r] - starts[r];
    largestUnit = Math.max(largestUnit, tokens);
  }

  const hHat = new Float64Array(batch.nTokens); // holds ln H - med until the unit's last pass
  // The batch is one unit covering hHat from 0, so hHat can be its scratch; groups interleave.
  const scratch = opts.scope === "batch" ? hHat : new Float64Array(largestUnit);
  const stats: (EntropyHStats | null)[] = [];
  for (const { starts, ends } of units) {
    const unit = unitStats(H, mask, starts, ends, opts.pivot, scratch, hHat);
    stats.push(unit);
    if (unit === null) continue;
    // entropyHFromStandardised inlined with the unit's numbers in locals: the same operations
    // (h = d / std, then h * scalePos, h * scaleNeg or -h * scaleNeg) without a call per token.
    const { std, scalePos, scaleNeg } = unit;
    const code = opts.sign === "code";
    for (let r = 0; r < starts.length; r++) {
      const end = ends[r];
      for (let k = starts[r]; k < end; k++) {
        if (mask[k] !== 1) continue;
        const h = hHat[k] / std;
        hHat[k] = h > 0 ? h * scalePos : code ? h * scaleNeg : -h * scaleNeg;
      }
    }
  }
  return { hHat, stats };
}

/**
 * [n] HICRA's per-response entropy threshold (TRL port `_topk_threshold`): the sorted mask-1
 * entropies of rollout i at index clip(floor((1 - topK) * n_i), 0, n_i - 1), with (1 - topK) * n_i
 * evaluated in floating point as written. Only rollouts with `which[i]` set are computed (the
 * rest, and rollouts without mask-1 tokens, get 0).
 */
export function rolloutEntropyThresholds(batch: RolloutBatch, topK: number, which?: ArrayLike<number>): Float64Array {
  const column = batch.entropies;
  if (column === null) throw new Error("rolloutEntropyThresholds: the batch carries no entropies");
  const H = column.data;
  const { mask, offsets } = batch;
  const out = new Float64Array(batch.n);
  let longest = 0;
  for (let i = 0; i < batch.n; i++) longest = Math.max(longest, offsets[i + 1] - offsets[i]);
  const scratch = new Float64Array(longest);
  for (let i = 0; i < batch.n; i++) {
    if (which !== undefined && !which[i]) continue;
    let count = 0;
    for (let k = offsets[i]; k < offsets[i + 1]; k++) if (mask[k] === 1) scratch[count++] = H[k];
    if (count === 0) continue;
    const index = Math.min(Math.max(Math.floor((1 - topK) * count), 0), count - 1);
    out[i] = selectKth(scratch, index, count);
  }
  return out;
}
