/**
 * Causal multi-head attention over [B*T, d] rows (head h in columns h*hd .. h*hd+hd), forward
 * and backward, with the gemm kernel doing the products of each (row, head) block: strided
 * sub-matrices of q, k, v need no copies except k^T / v^T, which the kernel's B operand wants
 * row-major. The kernel multiplies by masked (zero) probabilities too: at T = 40 the wasted
 * half costs less than splitting blocks would.
 */
import type { F32, Workspace } from "./kernels.js";

export interface AttentionShape {
  B: number;
  T: number;
  H: number;
  hd: number;
}

/** Fills probs [B*H, T, T] and out [B*T, d]; scratch holds hd*T floats. */
export function attentionForward(ws: Workspace, s: AttentionShape, q: F32, k: F32, v: F32, probs: F32, out: F32, scratch: F32): void {
  const { B, T, H, hd } = s;
  const d = H * hd;
  const scale = 1 / Math.sqrt(hd);
  const ka = k.a, kT = scratch.a, P = probs.a;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const base = b * T * d + h * hd;
      const pOff = (b * H + h) * T * T;
      for (let t = 0; t < T; t++) for (let j = 0; j < hd; j++) kT[j * T + t] = ka[base + t * d + j];
      ws.gemm(T, T, hd, q, base, d, 1, scratch, 0, T, probs, pOff, T, false);
      for (let i = 0; i < T; i++) {
        const o = pOff + i * T;
        let mx = -Infinity;
        for (let j = 0; j <= i; j++) mx = Math.max(mx, P[o + j] * scale);
        let z = 0;
        for (let j = 0; j <= i; j++) {
          const e = Math.exp(P[o + j] * scale - mx);
          P[o + j] = e;
          z += e;
        }
        const inv = 1 / z;
        for (let j = 0; j <= i; j++) P[o + j] *= inv;
        for (let j = i + 1; j < T; j++) P[o + j] = 0;
      }
      ws.gemm(T, hd, T, probs, pOff, T, 1, v, base, d, out, base, d, false);
    }
  }
}

/**
 * From dOut [B*T, d] writes dq, dk, dv [B*T, d] (gradients of the rotated q and k).
 * dS = P * (dP - rowsum(P * dP)) * scale with dP = dOut v^T; dq = dS k, dk = dS^T q, dv = P^T dOut.
 * scratch holds hd*T + T*T floats.
 */
export function attentionBackward(ws: Workspace, s: AttentionShape, q: F32, k: F32, v: F32, probs: F32, dOut: F32, dq: F32, dk: F32, dv: F32, scratch: F32): void {
  const { B, T, H, hd } = s;
  const d = H * hd;
  const scale = 1 / Math.sqrt(hd);
  const va = v.a, sc = scratch.a, P = probs.a;
  const dPOff = hd * T;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const base = b * T * d + h * hd;
      const pOff = (b * H + h) * T * T;
      for (let t = 0; t < T; t++) for (let j = 0; j < hd; j++) sc[j * T + t] = va[base + t * d + j];
      ws.gemm(T, T, hd, dOut, base, d, 1, scratch, 0, T, scratch, dPOff, T, false);
      ws.gemm(T, hd, T, probs, pOff, 1, T, dOut, base, d, dv, base, d, false);
      for (let i = 0; i < T; i++) {
        const o = pOff + i * T, od = dPOff + i * T;
        let dot = 0;
        for (let j = 0; j <= i; j++) dot += P[o + j] * sc[od + j];
        for (let j = 0; j <= i; j++) sc[od + j] = P[o + j] * (sc[od + j] - dot) * scale;
        for (let j = i + 1; j < T; j++) sc[od + j] = 0;
      }
      ws.gemm(T, hd, T, scratch, dPOff, T, 1, k, base, d, dq, base, d, false);
      ws.gemm(T, hd, T, scratch, dPOff, 1, T, q, base, d, dk, base, d, false);
    }
  }
}
