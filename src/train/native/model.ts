/**
 * The policy's forward and backward pass written out by hand over Float32Arrays in wasm memory
 * (as llm.c does in C) for the fixed llama layout of ../policy/model.ts: RMSNorm, rotary
 * positions on adjacent pairs, causal attention, SwiGLU, tied or untied output. The matrix
 * products run on the SIMD gemm kernel; the per-row pieces are plain typed-array loops.
 *
 * It computes exactly the function of the tfjs model (a test compares logits and gradients to
 * 1e-4) and is deterministic: a fixed order of summation everywhere, no threads.
 *
 * Usage: setWeights, forward (keeps every activation the backward pass needs), then backward
 * with d loss / d logits, which fills `grads` (parameter order of parameterShapes).
 */
import { parameterShapes, ropeHost, type ModelConfig } from "../policy/model.js";
import { F32, Workspace, swiglu, transposeInto } from "./kernels.js";
import { rmsNormBackward, rmsNormForward, rope, swigluBackward } from "./layers.js";
import { attentionBackward, attentionForward } from "./attention.js";

interface LayerActs {
  xin: F32; h: F32; rs1: F32; q: F32; k: F32; v: F32; probs: F32; att: F32;
  xmid: F32; h2: F32; rs2: F32; a: F32; u: F32; sg: F32; s: F32;
}

interface Acts {
  B: number;
  T: number;
  tokens: Int32Array;
  layers: LayerActs[];
  xfin: F32; hf: F32; rsf: F32; logits: F32;
  // backward scratch
  dx: F32; dh: F32; dq: F32; dk: F32; dv: F32; datt: F32; dff: F32; dff2: F32; dlogits: F32; attnScratch: F32; wT: F32;
}

export class NativeModel {
  readonly config: ModelConfig;
  readonly ws = new Workspace();
  /** All parameters, flat, in parameterShapes order. */
  readonly weights: F32;
  /** Gradients of the last backward pass, same layout. */
  readonly grads: F32;
  readonly offsets = new Map<string, number>();
  readonly sizes = new Map<string, number>();
  private readonly cos: Float32Array;
  private readonly sin: Float32Array;
  private readonly actsMark: number;
  private acts: Acts | null = null;
  /** Incremented by every forward: lets a caller tell whether the kept activations are its own. */
  forwardCount = 0;

  constructor(config: ModelConfig) {
    this.config = { ...config };
    let total = 0;
    for (const [name, shape] of parameterShapes(config)) {
      const size = shape.reduce((x, y) => x * y, 1);
      this.offsets.set(name, total);
      this.sizes.set(name, size);
      total += size;
    }
    this.weights = this.ws.alloc(total);
    this.grads = this.ws.alloc(total);
    const r = ropeHost(config);
    this.cos = r.cos;
    this.sin = r.sin;
    this.actsMark = this.ws.mark();
  }

  off(name: string): number {
    const o = this.offsets.get(name);
    if (o === undefined) throw new Error(`no parameter '${name}'`);
    return o;
  }

  setParam(name: string, values: ArrayLike<number>): void {
    const size = this.sizes.get(name);
    if (size === undefined) throw new Error(`no parameter '${name}'`);
    if (values.length !== size) throw new Error(`weight '${name}' has ${values.length} values, expected ${size}`);
    this.weights.a.set(values, this.off(name));
  }

  setWeights(w: Map<string, Float32Array>): void {
    for (const name of this.offsets.keys()) {
      const x = w.get(name);
      if (!x) throw new Error(`missing weight '${name}'`);
      this.setParam(name, x);
    }
  }

  /** A parameter's gradient (a view: copy it before the next backward). */
  grad(name: string): Float32Array {
    const o = this.off(name);
    return this.grads.a.subarray(o, o + (this.sizes.get(name) as number));
  }

  private activations(B: number, T: number): Acts {
    if (this.acts && this.acts.B === B && this.acts.T === T) return this.acts;
    const c = this.config, N = B * T, d = c.dModel, ff = c.dFF, V = c.vocabSize, H = c.nHeads, hd = d / H;
    this.acts = null;
    this.ws.release(this.actsMark);
    // Every activation and scratch buffer is written before it is read, so none is zeroed:
    // the trainer's batches change shape every step and re-allocating then costs nothing.
    const ws = this.ws;
    const buf = (n: number) => ws.alloc(n, false);
    const nd = () => buf(N * d);
    const layers: LayerActs[] = [];
    for (let l = 0; l < c.nLayers; l++) {
      layers.push({
        xin: nd(), h: nd(), rs1: buf(N), q: nd(), k: nd(), v: nd(), probs: buf(B * H * T * T), att: nd(),
        xmid: nd(), h2: nd(), rs2: buf(N), a: buf(N * ff), u: buf(N * ff), sg: buf(N * ff), s: buf(N * ff),
      });
    }
    const acts: Acts = {
      B, T, tokens: new Int32Array(N), layers, xfin: nd(), hf: nd(), rsf: buf(N), logits: buf(N * V),
      dx: nd(), dh: nd(), dq: nd(), dk: nd(), dv: nd(), datt: nd(), dff: buf(N * ff), dff2: buf(N * ff), dlogits: buf(N * V),
      attnScratch: buf(hd * T + T * T), wT: buf(Math.max(d * ff, d * V, d * d)),
    };
    ws.reserveGemm(Math.max(N, d, ff, V, T));
    this.acts = acts;
    return acts;
  }

  /** Logits [B*T, V] (a view into wasm memory, valid until the next forward) for right-padded rows [B, T]. */
  forward(tokens: Int32Array, B: number, T: number): Float32Array {
    const c = this.config;
    if (tokens.length !== B * T) throw new Error(`forward: ${tokens.length} tokens for [${B}, ${T}]`);
    if (T > c.maxSeqLen) throw new Error(`forward: sequence length ${T} exceeds model.maxSeqLen ${c.maxSeqLen}`);
    const ac = this.activations(B, T);
    this.forwardCount++;
    const ws = this.ws, N = B * T, d = c.dModel, ff = c.dFF, V = c.vocabSize, H = c.nHeads, hd = d / H, eps = c.normEps;
    const W = this.weights.a;
    ac.tokens.set(tokens);
    const x0 = ac.layers.length ? ac.layers[0].xin.a : ac.xfin.a;
    const embOff = this.off("token_embd.weight");
    for (let n = 0; n < N; n++) {
      const tok = tokens[n];
      if (tok < 0 || tok >= V) throw new Error(`forward: token ${tok} outside the vocabulary`);
      x0.set(W.subarray(embOff + tok * d, embOff + (tok + 1) * d), n * d);
    }
    const shape = { B, T, H, hd };
    for (let l = 0; l < c.nLayers; l++) {
      const A = ac.layers[l], p = `blk.${l}.`;
      rmsNormForward(A.xin.a, W, this.off(p + "attn_norm.weight"), A.h.a, A.rs1.a, N, d, eps);
      ws.gemm(N, d, d, A.h, 0, d, 1, this.weights, this.off(p + "attn_q.weight"), d, A.q, 0, d, false);
      ws.gemm(N, d, d, A.h, 0, d, 1, this.weights, this.off(p + "attn_k.weight"), d, A.k, 0, d, false);
      ws.gemm(N, d, d, A.h, 0, d, 1, this.weights, this.off(p + "attn_v.weight"), d, A.v, 0, d, false);
      rope(A.q.a, N, d, hd, T, this.cos, this.sin, 1);
      rope(A.k.a, N, d, hd, T, this.cos, this.sin, 1);
      attentionForward(ws, shape, A.q, A.k, A.v, A.probs, A.att, ac.attnScratch);
      A.xmid.a.set(A.xin.a);
      ws.gemm(N, d, d, A.att, 0, d, 1, this.weights, this.off(p + "attn_output.weight"), d, A.xmid, 0, d, true);
      rmsNormForward(A.xmid.a, W, this.off(p + "ffn_norm.weight"), A.h2.a, A.rs2.a, N, d, eps);
      ws.gemm(N, ff, d, A.h2, 0, d, 1, this.weights, this.off(p + "ffn_gate.weight"), ff, A.a, 0, ff, false);
      ws.gemm(N, ff, d, A.h2, 0, d, 1, this.weights, this.off(p + "ffn_up.weight"), ff, A.u, 0, ff, false);
      swiglu(ws, A.a, A.u, A.sg, A.s, N * ff);
      const next = l + 1 < c.nLayers ? ac.layers[l + 1].xin : ac.xfin;
      next.a.set(A.xmid.a);
      ws.gemm(N, d, ff, A.s, 0, ff, 1, this.weights, this.off(p + "ffn_down.weight"), d, next, 0, d, true);
    }
    rmsNormForward(ac.xfin.a, W, this.off("output_norm.weight"), ac.hf.a, ac.rsf.a, N, d, eps);
    if (c.tieEmbeddings) {
      transposeInto(W.subarray(embOff, embOff + V * d), V, d, ac.wT.a);
      ws.gemm(N, V, d, ac.hf, 0, d, 1, ac.wT, 0, V, ac.logits, 0, V, false);
    } else {
      ws.gemm(N, V, d, ac.hf, 0, d, 1, this.weights, this.off("output.weight"), V, ac.logits, 0, V, false);
    }
    return ac.logits.a;
  }

  /** Final hidden states [B*T, d] of the last forward (after the output norm; a view). */
  hidden(): Float32Array {
    const ac = this.forwardActs();
    return ac.hf.a.subarray(0, ac.B * ac.T * this.config.dModel);
  }

  /** Layer l's attention probabilities [B*H, T, T] of the last forward (zeros above the diagonal; a view). */
  attentionProbs(l: number): Float32Array {
    const ac = this.forwardActs();
    if (l < 0 || l >= this.config.nLayers) throw new Error(`attentionProbs: no layer ${l}`);
    return ac.layers[l].probs.a.subarray(0, ac.B * this.config.nHeads * ac.T * ac.T);
  }

  private forwardActs(): Acts {
    if (!this.acts || this.forwardCount === 0) throw new Error("no forward pass yet");
    return this.acts;
  }

  /** Transposes weight `name` ([rows, cols]) into the shared scratch and returns it. */
  private transposed(name: string, rows: number, cols: number): F32 {
    const ac = this.acts as Acts;
    const o = this.off(name);
    transposeInto(this.weights.a.subarray(o, o + rows * cols), rows, cols, ac.wT.a);
    return ac.wT;
  }

  /** Gradients of sum(dLogits * logits) for the last forward: fills `grads`. */
  backward(dLogits: ArrayLike<number>): void {
    const ac = this.acts;
    if (!ac) throw new Error("backward: no forward pass");
    const c = this.config, ws = this.ws, B = ac.B, T = ac.T, N = B * T, d = c.dModel, ff = c.dFF, V = c.vocabSize, H = c.nHeads, hd = d / H;
    if (dLogits.length !== N * V) throw new Error(`backward: ${dLogits.length} logit gradients for [${N}, ${V}]`);
    const W = this.weights.a, G = this.grads.a;
    G.fill(0);
    ac.dlogits.a.set(dLogits);
    const embOff = this.off("token_embd.weight");
    // Output layer: logits = hf @ Wout (untied) or hf @ E^T (tied).
    if (c.tieEmbeddings) {
      ws.gemm(V, d, N, ac.dlogits, 0, 1, V, ac.hf, 0, d, this.grads, embOff, d, true);
      ws.gemm(N, d, V, ac.dlogits, 0, V, 1, this.weights, embOff, d, ac.dh, 0, d, false);
    } else {
      ws.gemm(d, V, N, ac.hf, 0, 1, d, ac.dlogits, 0, V, this.grads, this.off("output.weight"), V, false);
      ws.gemm(N, d, V, ac.dlogits, 0, V, 1, this.transposed("output.weight", d, V), 0, d, ac.dh, 0, d, false);
    }
    ac.dx.a.fill(0);
    rmsNormBackward(ac.dh.a, ac.xfin.a, W, this.off("output_norm.weight"), ac.rsf.a, ac.dx.a, G, N, d);
    const shape = { B, T, H, hd };
    for (let l = c.nLayers - 1; l >= 0; l--) {
      const A = ac.layers[l], p = `blk.${l}.`;
      // FFN: x_out = xmid + (silu(h2 Wg) * (h2 Wu)) Wd
      ws.gemm(N, ff, d, ac.dx, 0, d, 1, this.transposed(p + "ffn_down.weight", ff, d), 0, ff, ac.dff, 0, ff, false);
      ws.gemm(ff, d, N, A.s, 0, 1, ff, ac.dx, 0, d, this.grads, this.off(p + "ffn_down.weight"), d, false);
      swigluBackward(A.a.a, A.u.a, A.sg.a, ac.dff.a, ac.dff2.a, N * ff);
      ws.gemm(d, ff, N, A.h2, 0, 1, d, ac.dff, 0, ff, this.grads, this.off(p + "ffn_gate.weight"), ff, false);
      ws.gemm(d, ff, N, A.h2, 0, 1, d, ac.dff2, 0, ff, this.grads, this.off(p + "ffn_up.weight"), ff, false);
      ws.gemm(N, d, ff, ac.dff, 0, ff, 1, this.transposed(p + "ffn_gate.weight", d, ff), 0, d, ac.dh, 0, d, false);
      ws.gemm(N, d, ff, ac.dff2, 0, ff, 1, this.transposed(p + "ffn_up.weight", d, ff), 0, d, ac.dh, 0, d, true);
      rmsNormBackward(ac.dh.a, A.xmid.a, W, this.off(p + "ffn_norm.weight"), A.rs2.a, ac.dx.a, G, N, d);
      // Attention: xmid = xin + att Wo
      ws.gemm(N, d, d, ac.dx, 0, d, 1, this.transposed(p + "attn_output.weight", d, d), 0, d, ac.datt, 0, d, false);
      ws.gemm(d, d, N, A.att, 0, 1, d, ac.dx, 0, d, this.grads, this.off(p + "attn_output.weight"), d, false);
      attentionBackward(ws, shape, A.q, A.k, A.v, A.probs, ac.datt, ac.dq, ac.dk, ac.dv, ac.attnScratch);
      rope(ac.dq.a, N, d, hd, T, this.cos, this.sin, -1);
      rope(ac.dk.a, N, d, hd, T, this.cos, this.sin, -1);
      const proj: [string, F32][] = [["attn_q.weight", ac.dq], ["attn_k.weight", ac.dk], ["attn_v.weight", ac.dv]];
      for (let m = 0; m < 3; m++) {
        const [name, dy] = proj[m];
        ws.gemm(d, d, N, A.h, 0, 1, d, dy, 0, d, this.grads, this.off(p + name), d, false);
        ws.gemm(N, d, d, dy, 0, d, 1, this.transposed(p + name, d, d), 0, d, ac.dh, 0, d, m > 0);
      }
      rmsNormBackward(ac.dh.a, A.xin.a, W, this.off(p + "attn_norm.weight"), A.rs1.a, ac.dx.a, G, N, d);
    }
    const dx = ac.dx.a;
    for (let n = 0; n < N; n++) {
      const o = embOff + ac.tokens[n] * d;
      for (let j = 0; j < d; j++) G[o + j] += dx[n * d + j];
    }
  }
}
