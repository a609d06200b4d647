/**
 * The dense half of one KV-cached decoding step on the native kernels: for A rows (one new
 * token each) it produces each layer's q|k|v rows, then, given the attention output the
 * sampler computed over each row's own cache, the rest of the layer; finally the logits.
 * The weights are a NativeModel's (same flat layout, same gemm), so a decoded token's
 * log-prob equals the training pass's at that position to float32 rounding.
 */
import type { ModelConfig } from "../policy/model.js";
import { swiglu, type F32 } from "./kernels.js";
import { NativeModel } from "./model.js";
import { rmsNormForward } from "./layers.js";

interface Buffers {
  rows: number;
  x: F32; h: F32; rs: F32; qkv: F32; att: F32; a: F32; u: F32; sg: F32; s: F32; logits: F32; wT: F32;
}

export class NativeDecoder {
  readonly model: NativeModel;
  private buf: Buffers | null = null;
  private A = 0;
  private readonly mark: number;

  constructor(config: ModelConfig, weights: Map<string, Float32Array>) {
    this.model = new NativeModel(config);
    this.model.setWeights(weights);
    this.mark = this.model.ws.mark();
  }

  get config(): ModelConfig {
    return this.model.config;
  }

  private buffers(rows: number): Buffers {
    if (this.buf && this.buf.rows >= rows) return this.buf;
    const c = this.config, ws = this.model.ws, d = c.dModel, ff = c.dFF, V = c.vocabSize;
    ws.release(this.mark);
    const b: Buffers = {
      rows, x: ws.alloc(rows * d), h: ws.alloc(rows * d), rs: ws.alloc(rows), qkv: ws.alloc(rows * 3 * d), att: ws.alloc(rows * d),
      a: ws.alloc(rows * ff), u: ws.alloc(rows * ff), sg: ws.alloc(rows * ff), s: ws.alloc(rows * ff), logits: ws.alloc(rows * V),
      wT: ws.alloc(c.tieEmbeddings ? d * V : 1),
    };
    ws.reserveGemm(Math.max(d, ff));
    if (c.tieEmbeddings) {
      const o = this.model.off("token_embd.weight"), E = this.model.weights.a, t = b.wT.a;
      for (let v = 0; v < V; v++) for (let k = 0; k < d; k++) t[k * V + v] = E[o + v * d + k];
    }
    this.buf = b;
    return b;
  }

  /** Starts a step for `rows` rows whose input embeddings are the token ids given. */
  begin(tokens: ArrayLike<number>, rows: number): void {
    const b = this.buffers(rows), d = this.config.dModel, V = this.config.vocabSize;
    const W = this.model.weights.a, x = b.x.a, e = this.model.off("token_embd.weight");
    for (let r = 0; r < rows; r++) {
      const tok = tokens[r];
      if (tok < 0 || tok >= V) throw new Error(`sample: token ${tok} outside the vocabulary`);
      x.set(W.subarray(e + tok * d, e + (tok + 1) * d), r * d);
    }
    this.A = rows;
  }

  /** q|k|v of layer l, [A, 3d] (writable: the sampler rotates q and k in place). */
  qkv(l: number): Float32Array {
    const b = this.buf as Buffers, m = this.model, c = this.config, d = c.dModel, A = this.A, p = `blk.${l}.`;
    rmsNormForward(b.x.a, m.weights.a, m.off(p + "attn_norm.weight"), b.h.a, b.rs.a, A, d, c.normEps);
    const names = ["attn_q.weight", "attn_k.weight", "attn_v.weight"];
    for (let j = 0; j < 3; j++) m.ws.gemm(A, d, d, b.h, 0, d, 1, m.weights, m.off(p + names[j]), d, b.qkv, j * d, 3 * d, false);
    return b.qkv.a.subarray(0, A * 3 * d);
  }

  /** The rows' attention outputs [A, d], to be filled before finishLayer. */
  attention(): Float32Array {
    return (this.buf as Buffers).att.a.subarray(0, this.A * this.config.dModel);
  }

  /** x += att Wo, then the SwiGLU block. */
  finishLayer(l: number): void {
    const b = this.buf as Buffers, m = this.model, c = this.config, d = c.dModel, ff = c.dFF, A = this.A, p = `blk.${l}.`;
    m.ws.gemm(A, d, d, b.att, 0, d, 1, m.weights, m.off(p + "attn_output.weight"), d, b.x, 0, d, true);
    rmsNormForward(b.x.a, m.weights.a, m.off(p + "ffn_norm.weight"), b.h.a, b.rs.a, A, d, c.normEps);
    m.ws.gemm(A, ff, d, b.h, 0, d, 1, m.weights, m.off(p + "ffn_gate.weight"), ff, b.a, 0, ff, false);
    m.ws.gemm(A, ff, d, b.h, 0, d, 1, m.weights, m.off(p + "ffn_up.weight"), ff, b.u, 0, ff, false);
    swiglu(m.ws, b.a, b.u, b.sg, b.s, A * ff);
    m.ws.gemm(A, d, ff, b.s, 0, ff, 1, m.weights, m.off(p + "ffn_down.weight"), d, b.x, 0, d, true);
  }

  /** Logits [A, V] of the step. */
  logits(): Float32Array {
    const b = this.buf as Buffers, m = this.model, c = this.config, d = c.dModel, V = c.vocabSize, A = this.A;
    rmsNormForward(b.x.a, m.weights.a, m.off("output_norm.weight"), b.h.a, b.rs.a, A, d, c.normEps);
    if (c.tieEmbeddings) m.ws.gemm(A, V, d, b.h, 0, d, 1, b.wT, 0, V, b.logits, 0, V, false);
    else m.ws.gemm(A, V, d, b.h, 0, d, 1, m.weights, m.off("output.weight"), V, b.logits, 0, V, false);
    return b.logits.a.subarray(0, A * V);
  }
}
