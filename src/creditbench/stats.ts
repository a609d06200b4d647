/**
 * Small statistics for the benchmark: correlations over token credit, summaries over seeds,
 * and reading a learning curve at a token budget. Pure functions over plain arrays.
 */

export function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : NaN;
}

/** Sample standard deviation (n - 1); 0 for a single value, so one seed shows no spread rather than NaN. */
export function std(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((s, x) => s + (x - m) * (x - m), 0) / (xs.length - 1));
}

/**
 * Pearson correlation; NaN when either side is constant (a method that gives every token of a
 * pool the same credit carries no ranking information there, and 0 would flatter or punish it).
 */
export function pearson(x: readonly number[], y: readonly number[]): number {
  const n = x.length;
  if (n !== y.length) throw new Error("pearson: length mismatch");
  if (n < 2) return NaN;
  const mx = mean(x), my = mean(y);
  let sxy = 0, sxx = 0, syy = 0;
  for (let k = 0; k < n; k++) {
    const dx = x[k] - mx, dy = y[k] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  // Relative thresholds: float noise in a "constant" column must not produce a correlation.
  if (sxx <= 1e-24 * Math.max(1, mx * mx) * n || syy <= 1e-24 * Math.max(1, my * my) * n) return NaN;
  return sxy / Math.sqrt(sxx * syy);
}

/** Ranks 1..n with ties sharing their average rank (the usual Spearman convention). */
export function ranks(x: readonly number[]): number[] {
  const idx = x.map((_, k) => k).sort((a, b) => x[a] - x[b]);
  const r = new Array<number>(x.length);
  let i = 0;
  while (i < idx.length) {
    let j = i;
    while (j + 1 < idx.length && x[idx[j + 1]] === x[idx[i]]) j++;
    const avg = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) r[idx[k]] = avg;
    i = j + 1;
  }
  return r;
}

export function spearman(x: readonly number[], y: readonly number[]): number {
  return pearson(ranks(x), ranks(y));
}

/** A learning curve: eval accuracy at cumulative sampled tokens, increasing in tokens. */
export interface CurvePoint {
  tokens: number;
  accuracy: number;
}

/**
 * Accuracy at a token budget by linear interpolation between evaluations; null past the last
 * evaluation (the run never got there, so no value is invented).
 */
export function accuracyAt(curve: readonly CurvePoint[], tokens: number): number | null {
  if (curve.length === 0) return null;
  if (tokens <= curve[0].tokens) return curve[0].accuracy;
  for (let k = 1; k < curve.length; k++) {
    const a = curve[k - 1], b = curve[k];
    if (tokens <= b.tokens) {
      const f = b.tokens === a.tokens ? 1 : (tokens - a.tokens) / (b.tokens - a.tokens);
      return a.accuracy + f * (b.accuracy - a.accuracy);
    }
  }
  return null;
}

/** First token count at which the interpolated curve reaches `threshold`; null if it never does. */
export function tokensToReach(curve: readonly CurvePoint[], threshold: number): number | null {
  if (curve.length === 0) return null;
  if (curve[0].accuracy >= threshold) return curve[0].tokens;
  for (let k = 1; k < curve.length; k++) {
    const a = curve[k - 1], b = curve[k];
    if (b.accuracy >= threshold) {
      const f = b.accuracy === a.accuracy ? 1 : (threshold - a.accuracy) / (b.accuracy - a.accuracy);
      return a.tokens + f * (b.tokens - a.tokens);
    }
  }
  return null;
}

/** Mean, std and range of the finite values; n counts them. */
export interface Spread {
  mean: number;
  std: number;
  min: number;
  max: number;
  n: number;
}

export function spread(xs: readonly (number | null)[]): Spread {
  const v = xs.filter((x): x is number => x !== null && Number.isFinite(x));
  if (v.length === 0) return { mean: NaN, std: NaN, min: NaN, max: NaN, n: 0 };
  return { mean: mean(v), std: std(v), min: Math.min(...v), max: Math.max(...v), n: v.length };
}
