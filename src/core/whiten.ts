/**
 * Masked whitening, as verl's `masked_whiten`: the mean and the Bessel-corrected variance over
 * mask-1 positions, then (x - mean) * rsqrt(var + 1e-8). verl raises when fewer than two
 * positions are unmasked; here the result is then 0 on those positions (nothing to normalise
 * against), so a one-token batch is not an error.
 */

export interface WhitenOptions {
  /** Added to the variance under the square root (verl: 1e-8). */
  eps?: number;
  /** false: add the mean back after scaling (verl's shift_mean=False). */
  shiftMean?: boolean;
  /** Bessel-corrected variance (verl default true). */
  unbiased?: boolean;
}

/** Whitens x over the positions where mask is 1; returns a new array, 0 where mask is 0. */
export function maskedWhiten(x: ArrayLike<number>, mask: ArrayLike<number>, opts: WhitenOptions = {}): Float64Array {
  const eps = opts.eps ?? 1e-8;
  const unbiased = opts.unbiased ?? true;
  const shiftMean = opts.shiftMean ?? true;
  const n = x.length;
  const out = new Float64Array(n);
  let c = 0;
  let s = 0;
  for (let k = 0; k < n; k++) {
    if (mask[k]) {
      c++;
      s += x[k];
    }
  }
  if (c === 0) return out;
  const mean = s / c;
  let ss = 0;
  for (let k = 0; k < n; k++) {
    if (mask[k]) {
      const d = x[k] - mean;
      ss += d * d;
    }
  }
  if (c < 2 && unbiased) return out;
  const variance = ss / (unbiased ? c - 1 : c);
  const scale = 1 / Math.sqrt(variance + eps);
  for (let k = 0; k < n; k++) {
    if (mask[k]) out[k] = (x[k] - mean) * scale + (shiftMean ? 0 : mean);
  }
  return out;
}
