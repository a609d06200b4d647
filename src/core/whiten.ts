/**
 * Masked whitening, as verl's `masked_whiten`: the mean and the Bessel-corrected variance over
 * mask-1 positions, then (x - mean) * rsqrt(var + 1e-8). verl raises when fewer than two
 * positions are unmasked; here the result is then 0 on those positions (nothing to normalise
 * against), so a one-token batch is not an error.
 *
 * `known` passes the mask-1 statistics when the producer of x gathered them (no statistics pass);
 * `into` receives the result (it may be x itself; mask-0 positions of it are left as they are).
 */

/**
 * Mask-1 count, mean and sum of squared deviations of a column, gathered one rollout at a time
 * by whoever writes it, in the same pass (shifted sums per rollout, merged with Chan et al.'s
 * update). Whitening then needs no pass of its own over the column to find its statistics.
 */
export class MaskedStats {
  count = 0;
  mean = 0;
  m2 = 0;

  /**
   * Adds one run of `count` values given as sums shifted by `shift` (sum of x - shift and of
   * (x - shift)^2). Writers accumulate these while they write, so the statistics cost no extra
   * pass over the output; a shift near the values (the run's first one) keeps the shifted sum
   * of squares free of cancellation.
   */
  /**
   * Whether the statistics are finite: false when any value added was NaN or infinite (the
   * shifted sums then are), or when they overflowed (conservatively: a caller then checks).
   */
  get finite(): boolean {
    return Number.isFinite(this.mean) && Number.isFinite(this.m2);
  }

  addShifted(count: number, shift: number, sum: number, sumSq: number): void {
    if (count === 0) return;
    const m = shift + sum / count;
    const ss = Math.max(0, sumSq - (sum * sum) / count);
    const total = this.count + count;
    const delta = m - this.mean;
    this.mean += (delta * count) / total;
    this.m2 += ss + (delta * delta * this.count * count) / total;
    this.count = total;
  }
}

export interface WhitenOptions {
  /** Added to the variance under the square root (verl: 1e-8). */
  eps?: number;
  /** false: add the mean back after scaling (verl's shift_mean=False). */
  shiftMean?: boolean;
  /** Bessel-corrected variance (verl default true). */
  unbiased?: boolean;
}

/** Whitens x over the positions where mask is 1; returns a new array, 0 where mask is 0. */
export function maskedWhiten(x: ArrayLike<number>, mask: ArrayLike<number>, opts: WhitenOptions = {}, known?: MaskedStats, into?: Float64Array): Float64Array {
  return maskedWhitenChecked(x, mask, opts, known, into).out;
}

/**
 * maskedWhiten, also telling whether every value it wrote is finite (the pass that writes them
 * sums y - y, which is 0 for finite y and NaN otherwise), so a caller can skip a checking pass.
 */
export function maskedWhitenChecked(x: ArrayLike<number>, mask: ArrayLike<number>, opts: WhitenOptions = {}, known?: MaskedStats, into?: Float64Array): { out: Float64Array; finite: boolean } {
  const eps = opts.eps ?? 1e-8;
  const unbiased = opts.unbiased ?? true;
  const shiftMean = opts.shiftMean ?? true;
  const out = into ?? new Float64Array(x.length);
  const { count, mean, m2 } = known ?? columnStats(x, mask);
  if (count === 0) return { out, finite: true };
  // From here on `out` may be `x` itself: every x[k] is read before out[k] is written.
  if (count < 2 && unbiased) {
    if (into) for (let k = 0; k < x.length; k++) if (mask[k]) out[k] = 0;
    return { out, finite: true };
  }
  const scale = 1 / Math.sqrt(m2 / (unbiased ? count - 1 : count) + eps);
  const check = applyWhiten(x, mask, mean, scale, shiftMean ? 0 : mean, out);
  return { out, finite: check === 0 };
}

/** Two-pass mask-1 statistics of a column. */
function columnStats(x: ArrayLike<number>, mask: ArrayLike<number>): { count: number; mean: number; m2: number } {
  const n = x.length;
  let count = 0;
  let s = 0;
  for (let k = 0; k < n; k++) {
    if (mask[k]) {
      count++;
      s += x[k];
    }
  }
  const mean = count > 0 ? s / count : 0;
  let m2 = 0;
  for (let k = 0; k < n; k++) {
    if (mask[k]) {
      const d = x[k] - mean;
      m2 += d * d;
    }
  }
  return { count, mean, m2 };
}

/**
 * out = (x - mean) * scale + back on mask-1 positions; returns the sum of out - out (0 iff all
 * finite). Its own function: V8 keeps this hot loop optimised when nothing else shares its
 * frame (inside the larger function its on-stack-replaced code kept deoptimising at the first
 * statement after the loop, running the loop 4x slower).
 */
function applyWhiten(x: ArrayLike<number>, mask: ArrayLike<number>, mean: number, scale: number, back: number, out: Float64Array): number {
  const n = x.length;
  let check = 0;
  for (let k = 0; k < n; k++) {
    if (mask[k]) {
      const y = (x[k] - mean) * scale + back;
      out[k] = y;
      check += y - y;
    }
  }
  return check;
}
