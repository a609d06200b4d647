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
 * by whoever writes it: each slice is summed twice while it is still in cache (two-pass, no
 * cancellation) and merged with Chan et al.'s update. Whitening then needs no pass of its own over
 * the column to find its statistics.
 */
export class MaskedStats {
  count = 0;
  mean = 0;
  m2 = 0;

  /** Adds x[from..to) over mask-1 positions. x must be 0 wherever mask is 0 (the writers' contract). */
  addSlice(x: Float64Array, mask: Uint8Array, from: number, to: number): void {
    // Branch-free: masks of tool spans mispredict; x is 0 on mask-0 tokens, so they add nothing.
    let c = 0;
    let s = 0;
    for (let k = from; k < to; k++) {
      c += mask[k];
      s += x[k];
    }
    if (c === 0) return;
    const m = s / c;
    let ss = 0;
    for (let k = from; k < to; k++) {
      const d = x[k] - m;
      ss += d * d * mask[k];
    }
    const total = this.count + c;
    const delta = m - this.mean;
    this.mean += (delta * c) / total;
    this.m2 += ss + (delta * delta * this.count * c) / total;
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
  const eps = opts.eps ?? 1e-8;
  const unbiased = opts.unbiased ?? true;
  const shiftMean = opts.shiftMean ?? true;
  const n = x.length;
  const out = into ?? new Float64Array(n);
  let c = 0;
  let mean = 0;
  let ss = 0;
  if (known) {
    c = known.count;
    mean = known.mean;
    ss = known.m2;
  } else {
    let s = 0;
    for (let k = 0; k < n; k++) {
      if (mask[k]) {
        c++;
        s += x[k];
      }
    }
    if (c > 0) mean = s / c;
    for (let k = 0; k < n; k++) {
      if (mask[k]) {
        const d = x[k] - mean;
        ss += d * d;
      }
    }
  }
  if (c === 0) return out;
  // From here on `out` may be `x` itself: every x[k] is read before out[k] is written.
  if (c < 2 && unbiased) {
    if (into) for (let k = 0; k < n; k++) if (mask[k]) out[k] = 0;
    return out;
  }
  const variance = ss / (unbiased ? c - 1 : c);
  const scale = 1 / Math.sqrt(variance + eps);
  for (let k = 0; k < n; k++) {
    if (mask[k]) out[k] = (x[k] - mean) * scale + (shiftMean ? 0 : mean);
  }
  return out;
}
