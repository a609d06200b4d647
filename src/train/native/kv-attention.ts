/**
 * Per-row KV caches and one query's causal attention over them, for the sampler: each row
 * (one sequence) caches its rotated keys and its values at every position it has fed, and a
 * new token's query attends to positions 0..t of its own row only, so rows of different
 * lengths share a batch at no cost. Caches live in wasm memory so the dot products and the
 * weighted sum run on the SIMD kernels (dots, wsum); the softmax between them is a short loop.
 * Head sizes that are not a multiple of 4 take plain loops.
 */
import type { ModelConfig } from "../policy/model.js";
import { Workspace, type F32 } from "./kernels.js";

export class KvAttention {
  private readonly ws = new Workspace();
  private readonly mark: number;
  private capacity = 0;
  private k: F32 | null = null;
  private v: F32 | null = null;
  private readonly q: F32;
  private readonly out: F32;
  private readonly scores: F32;
  private readonly simd: boolean;

  constructor(readonly config: ModelConfig) {
    const c = config;
    this.q = this.ws.alloc(c.dModel);
    this.out = this.ws.alloc(c.dModel);
    this.scores = this.ws.alloc(c.maxSeqLen);
    this.simd = (c.dModel / c.nHeads) % 4 === 0;
    this.mark = this.ws.mark();
  }

  /** Makes room for `rows` rows (their caches' old contents are dropped). */
  reset(rows: number): void {
    if (rows <= this.capacity && this.k) return;
    const c = this.config, per = c.nLayers * c.maxSeqLen * c.dModel;
    this.ws.release(this.mark);
    this.k = this.ws.alloc(rows * per);
    this.v = this.ws.alloc(rows * per);
    this.capacity = rows;
  }

  /**
   * Caches row r's key and value for layer l at position t (from qkv: q at qo, k at qo + d,
   * v at qo + 2d, already rotated), then writes the attention output of its query over
   * positions 0..t into att[ao .. ao + d).
   */
  step(r: number, l: number, t: number, qkv: Float32Array, qo: number, att: Float32Array, ao: number): void {
    const c = this.config, d = c.dModel, H = c.nHeads, hd = d / H, S = c.maxSeqLen;
    const K = this.k as F32, V = this.v as F32;
    const cache = (r * c.nLayers + l) * S * d;
    const Ka = K.a, Va = V.a, q = this.q.a, sc = this.scores.a, out = this.out.a;
    Ka.set(qkv.subarray(qo + d, qo + 2 * d), cache + t * d);
    Va.set(qkv.subarray(qo + 2 * d, qo + 3 * d), cache + t * d);
    q.set(qkv.subarray(qo, qo + d));
    const scale = 1 / Math.sqrt(hd);
    for (let h = 0; h < H; h++) {
      const ho = h * hd;
      if (this.simd) this.ws.dots(this.q, ho, K, cache + ho, d, t + 1, hd, this.scores, 0);
      else {
        for (let j = 0; j <= t; j++) {
          let s = 0;
          for (let i = 0; i < hd; i++) s += q[ho + i] * Ka[cache + j * d + ho + i];
          sc[j] = s;
        }
      }
      let mx = -Infinity;
      for (let j = 0; j <= t; j++) mx = Math.max(mx, sc[j] * scale);
      let z = 0;
      for (let j = 0; j <= t; j++) {
        const e = Math.exp(sc[j] * scale - mx);
        sc[j] = e;
        z += e;
      }
      const inv = 1 / z;
      for (let j = 0; j <= t; j++) sc[j] *= inv;
      if (this.simd) this.ws.wsum(this.scores, 0, V, cache + ho, d, t + 1, hd, this.out, ho);
      else {
        for (let i = 0; i < hd; i++) out[ho + i] = 0;
        for (let j = 0; j <= t; j++) for (let i = 0; i < hd; i++) out[ho + i] += sc[j] * Va[cache + j * d + ho + i];
      }
    }
    att.set(out, ao);
  }
}
