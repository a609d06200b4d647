/**
 * The per-row pieces of the llama block over flat Float32Arrays, forward and backward:
 * RMSNorm, rotary positions on adjacent pairs, SwiGLU. Rows are [n, width] row-major.
 * Sums run in float64 (JS numbers), so these agree with the tfjs reference to float32 rounding.
 */

/** y = x / sqrt(mean(x^2) + eps) * g per row; rs receives each row's 1 / sqrt(mean(x^2) + eps). */
export function rmsNormForward(x: Float32Array, g: Float32Array, gOff: number, y: Float32Array, rs: Float32Array, rows: number, width: number, eps: number): void {
  for (let n = 0; n < rows; n++) {
    const o = n * width;
    let ss = 0;
    for (let j = 0; j < width; j++) ss += x[o + j] * x[o + j];
    const r = 1 / Math.sqrt(ss / width + eps);
    rs[n] = r;
    for (let j = 0; j < width; j++) y[o + j] = x[o + j] * r * g[gOff + j];
  }
}

/**
 * Adds the gradient of rmsNormForward to dx (dx += d/dx) and dg (dg[gOff..] += d/dg), given dy.
 * With r = (mean x^2 + eps)^-1/2: dx_j = r g_j dy_j - x_j r^3 / width * sum_k g_k dy_k x_k.
 */
export function rmsNormBackward(dy: Float32Array, x: Float32Array, g: Float32Array, gOff: number, rs: Float32Array, dx: Float32Array, dg: Float32Array, rows: number, width: number): void {
  for (let n = 0; n < rows; n++) {
    const o = n * width;
    const r = rs[n];
    let dot = 0;
    for (let j = 0; j < width; j++) {
      const gd = g[gOff + j] * dy[o + j];
      dot += gd * x[o + j];
      dg[gOff + j] += dy[o + j] * x[o + j] * r;
    }
    const c = (dot * r * r * r) / width;
    for (let j = 0; j < width; j++) dx[o + j] += r * g[gOff + j] * dy[o + j] - x[o + j] * c;
  }
}

/**
 * Rotates each head's adjacent pairs (2i, 2i+1) in x[off .. off + width) by the angle of
 * position t (llama.cpp's "normal" rope). `sign` -1 applies the inverse rotation: the
 * backward pass, since the gradient of a rotation is the opposite rotation.
 */
export function ropeRow(x: Float32Array, off: number, width: number, headSize: number, t: number, cos: Float32Array, sin: Float32Array, sign: 1 | -1): void {
  const half = headSize / 2, at = t * half;
  for (let h = 0; h < width; h += headSize) {
    const o = off + h;
    for (let i = 0; i < half; i++) {
      const c = cos[at + i], s = sign * sin[at + i];
      const x0 = x[o + 2 * i], x1 = x[o + 2 * i + 1];
      x[o + 2 * i] = x0 * c - x1 * s;
      x[o + 2 * i + 1] = x0 * s + x1 * c;
    }
  }
}

/** ropeRow on every row of [rows, width] right-padded sequences of length T (row n at position n % T). */
export function rope(x: Float32Array, rows: number, width: number, headSize: number, T: number, cos: Float32Array, sin: Float32Array, sign: 1 | -1): void {
  for (let n = 0; n < rows; n++) ropeRow(x, n * width, width, headSize, n % T, cos, sin, sign);
}

/** From d out (in `dOutToDa`, overwritten with d a) writes d u; silu'(a) = s (1 + a (1 - s)). */
export function swigluBackward(a: Float32Array, u: Float32Array, sg: Float32Array, dOutToDa: Float32Array, du: Float32Array, size: number): void {
  for (let i = 0; i < size; i++) {
    const s = sg[i], x = a[i], g = dOutToDa[i];
    du[i] = g * x * s;
    dOutToDa[i] = g * u[i] * s * (1 + x * (1 - s));
  }
}
