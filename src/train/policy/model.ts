/**
 * The policy: a decoder-only transformer in the llama layout (pre-RMSNorm, rotary positions,
 * SwiGLU MLP, no biases, tied or untied output embedding), so a later exporter can write it as
 * a GGUF `llama` model for llama.cpp.
 *
 * Parameters carry GGUF tensor names (token_embd, blk.N.attn_q, ...). Matrices are stored
 * [in, out] (x @ W); GGUF's row-major [out, in] is their transpose. RoPE rotates adjacent
 * pairs (2i, 2i+1), llama.cpp's "normal" rope for the llama architecture, so q/k need no
 * permutation on export.
 */
import { tf } from "./tf.js";
import { bmm, embed, matmul, rmsNorm, silu } from "./ops.js";
import { Rng } from "../rng.js";
import { NativeModel } from "../native/model.js";

export interface ModelConfig {
  vocabSize: number;
  dModel: number;
  nLayers: number;
  nHeads: number;
  dFF: number;
  /** Longest sequence (prompt + response) the model is used on; sizes the rope tables and KV cache. */
  maxSeqLen: number;
  tieEmbeddings: boolean;
  normEps: number;
  ropeTheta: number;
}

/** About 0.5M parameters with a small vocabulary: 2 layers of width 128, SwiGLU width 512. */
export const DEFAULT_MODEL: Omit<ModelConfig, "vocabSize"> = {
  dModel: 128,
  nLayers: 2,
  nHeads: 4,
  dFF: 512,
  maxSeqLen: 64,
  tieEmbeddings: false,
  normEps: 1e-5,
  ropeTheta: 10000,
};

export function checkModelConfig(c: ModelConfig): void {
  const ints: (keyof ModelConfig)[] = ["vocabSize", "dModel", "nLayers", "nHeads", "dFF", "maxSeqLen"];
  for (const k of ints) {
    const v = c[k];
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) throw new Error(`model.${k} must be a positive integer`);
  }
  if (c.dModel % c.nHeads !== 0) throw new Error("model.dModel must be divisible by model.nHeads");
  if ((c.dModel / c.nHeads) % 2 !== 0) throw new Error("model head size (dModel / nHeads) must be even for rotary positions");
}

/** Parameter names and shapes in a fixed order (the order of checkpoints and of the optimizer state). */
export function parameterShapes(c: ModelConfig): [string, number[]][] {
  const out: [string, number[]][] = [["token_embd.weight", [c.vocabSize, c.dModel]]];
  for (let l = 0; l < c.nLayers; l++) {
    const p = `blk.${l}.`;
    out.push(
      [p + "attn_norm.weight", [c.dModel]],
      [p + "attn_q.weight", [c.dModel, c.dModel]],
      [p + "attn_k.weight", [c.dModel, c.dModel]],
      [p + "attn_v.weight", [c.dModel, c.dModel]],
      [p + "attn_output.weight", [c.dModel, c.dModel]],
      [p + "ffn_norm.weight", [c.dModel]],
      [p + "ffn_gate.weight", [c.dModel, c.dFF]],
      [p + "ffn_up.weight", [c.dModel, c.dFF]],
      [p + "ffn_down.weight", [c.dFF, c.dModel]],
    );
  }
  out.push(["output_norm.weight", [c.dModel]]);
  if (!c.tieEmbeddings) out.push(["output.weight", [c.dModel, c.vocabSize]]);
  return out;
}

export function countParameters(c: ModelConfig): number {
  return parameterShapes(c).reduce((s, [, sh]) => s + sh.reduce((a, b) => a * b, 1), 0);
}

/** Initial values: norms 1, matrices N(0, 0.02) with the residual outputs scaled by 1/sqrt(2 nLayers) (GPT-2). */
export function initialWeights(c: ModelConfig, seed: number): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const out = new Map<string, Float32Array>();
  const residScale = 1 / Math.sqrt(2 * c.nLayers);
  for (const [name, shape] of parameterShapes(c)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const w = new Float32Array(size);
    if (name.endsWith("norm.weight")) w.fill(1);
    else {
      const std = 0.02 * (name.includes("attn_output") || name.includes("ffn_down") ? residScale : 1);
      for (let k = 0; k < size; k++) w[k] = rng.normal() * std;
    }
    out.set(name, w);
  }
  return out;
}

/** Rope tables for the interleaved-pair layout: cos/sin [T, hd] and the pair-rotation matrix R [hd, hd]. */
function ropeTables(T: number, hd: number, theta: number): { cos: Float32Array; sin: Float32Array; rot: Float32Array } {
  const cos = new Float32Array(T * hd);
  const sin = new Float32Array(T * hd);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < hd / 2; i++) {
      const ang = t * Math.pow(theta, (-2 * i) / hd);
      cos[t * hd + 2 * i] = cos[t * hd + 2 * i + 1] = Math.cos(ang);
      sin[t * hd + 2 * i] = sin[t * hd + 2 * i + 1] = Math.sin(ang);
    }
  }
  // x @ R gives rot(x) with rot(x)[2i] = -x[2i+1], rot(x)[2i+1] = x[2i].
  const rot = new Float32Array(hd * hd);
  for (let i = 0; i < hd / 2; i++) {
    rot[(2 * i + 1) * hd + 2 * i] = -1;
    rot[2 * i * hd + 2 * i + 1] = 1;
  }
  return { cos, sin, rot };
}

/** Host-side rope angle tables for the sampler: cos/sin [maxSeqLen, hd/2]. */
export function ropeHost(c: ModelConfig): { cos: Float32Array; sin: Float32Array } {
  const hd = c.dModel / c.nHeads;
  const half = hd / 2;
  const cos = new Float32Array(c.maxSeqLen * half);
  const sin = new Float32Array(c.maxSeqLen * half);
  for (let t = 0; t < c.maxSeqLen; t++) {
    for (let i = 0; i < half; i++) {
      const ang = t * Math.pow(c.ropeTheta, (-2 * i) / hd);
      cos[t * half + i] = Math.cos(ang);
      sin[t * half + i] = Math.sin(ang);
    }
  }
  return { cos, sin };
}

/** What a forward pass hands back besides the logits, when asked: arrays to push kept tensors into. */
export interface ForwardCapture {
  /** Receives the final hidden states [B*T, d] (after the output norm). */
  hidden?: tf.Tensor2D[];
  /** Receives each layer's attention probabilities [B*H, T, T], layer by layer. */
  attention?: tf.Tensor3D[];
}

/**
 * What computes the forward and backward pass. "native" is the hand-written pass over
 * Float32Array with the SIMD gemm kernel (src/train/native), several times faster; "tfjs" is
 * the graph of tfjs ops below, the reference the native pass is tested against. Both keep the
 * parameters in the same tf variables, so optimizer, checkpoints and losses see no difference.
 */
export type PolicyBackend = "native" | "tfjs";

let defaultBackend: PolicyBackend = process.env.CREDITFLOW_POLICY_BACKEND === "tfjs" ? "tfjs" : "native";

/** The backend of policies created without one (initially "native"; CREDITFLOW_POLICY_BACKEND=tfjs selects the reference). */
export function setDefaultPolicyBackend(b: PolicyBackend): void {
  defaultBackend = b;
}

export function defaultPolicyBackend(): PolicyBackend {
  return defaultBackend;
}

export interface PolicyOptions {
  backend?: PolicyBackend;
}

export class Policy {
  readonly config: ModelConfig;
  readonly names: string[];
  readonly params: Map<string, tf.Variable>;
  readonly backend: PolicyBackend;
  private ropeCache = new Map<number, { cos: tf.Tensor2D; sin: tf.Tensor2D; rot: tf.Tensor2D; causal: tf.Tensor2D }>();
  private native: NativeModel | null = null;
  /** The tf data each native weight was copied from: a variable's data id changes when it is assigned. */
  private nativeSource = new Map<string, object>();

  constructor(config: ModelConfig, weights: Map<string, Float32Array>, trainable = true, options: PolicyOptions = {}) {
    checkModelConfig(config);
    this.config = { ...config };
    this.backend = options.backend ?? defaultBackend;
    this.names = parameterShapes(config).map(([n]) => n);
    this.params = new Map();
    for (const [name, shape] of parameterShapes(config)) {
      const w = weights.get(name);
      if (!w) throw new Error(`missing weight '${name}'`);
      const size = shape.reduce((a, b) => a * b, 1);
      if (w.length !== size) throw new Error(`weight '${name}' has ${w.length} values, expected ${size}`);
      this.params.set(name, tf.variable(tf.tensor(w, shape), trainable, `${name}#${Policy.counter++}`));
    }
  }

  private static counter = 0;

  static create(config: ModelConfig, seed: number, options: PolicyOptions = {}): Policy {
    return new Policy(config, initialWeights(config, seed), true, options);
  }

  p(name: string): tf.Variable {
    const v = this.params.get(name);
    if (!v) throw new Error(`no parameter '${name}'`);
    return v;
  }

  /** Current weights as host arrays (copies). */
  weights(): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const n of this.names) out.set(n, Float32Array.from(this.p(n).dataSync() as Float32Array));
    return out;
  }

  setWeights(w: Map<string, Float32Array>): void {
    for (const n of this.names) {
      const src = w.get(n);
      if (!src) throw new Error(`missing weight '${n}'`);
      const v = this.p(n);
      v.assign(tf.tensor(src, v.shape));
    }
  }

  /** A frozen copy (the reference model). */
  frozenCopy(): Policy {
    return new Policy(this.config, this.weights(), false, { backend: this.backend });
  }

  dispose(): void {
    this.native = null;
    this.nativeSource.clear();
    for (const v of this.params.values()) v.dispose();
    for (const t of this.ropeCache.values()) tf.dispose([t.cos, t.sin, t.rot, t.causal]);
    this.ropeCache.clear();
  }

  private tables(T: number) {
    let t = this.ropeCache.get(T);
    if (!t) {
      const hd = this.config.dModel / this.config.nHeads;
      const r = ropeTables(T, hd, this.config.ropeTheta);
      const causal = new Float32Array(T * T);
      for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) causal[i * T + j] = -1e9;
      t = tf.tidy(() => ({
        cos: tf.keep(tf.tensor2d(r.cos, [T, hd])),
        sin: tf.keep(tf.tensor2d(r.sin, [T, hd])),
        rot: tf.keep(tf.tensor2d(r.rot, [hd, hd])),
        causal: tf.keep(tf.tensor2d(causal, [T, T])),
      }));
      this.ropeCache.set(T, t);
    }
    return t;
  }

  /**
   * Logits [B*T, V] for right-padded token rows [B, T] (row-major in `tokens`). Causal, so
   * padding after a row's end never affects its real positions. Call inside tf.tidy / grads.
   * `capture` (optional) receives kept copies of the final hidden states [B*T, d] and each
   * layer's attention probabilities [B*H, T, T] (for THR and attention-derived credit); the
   * caller disposes them.
   */
  forward(tokens: Int32Array, B: number, T: number, capture?: ForwardCapture): tf.Tensor2D {
    if (this.backend === "native") return this.forwardNative(tokens, B, T, capture);
    return this.forwardTfjs(tokens, B, T, capture);
  }

  /** The native model with the variables' current values (copies only what changed since last time). */
  private syncedNative(): NativeModel {
    if (!this.native) this.native = new NativeModel(this.config);
    for (const name of this.names) {
      const v = this.p(name);
      const id = (v as unknown as { dataId: object }).dataId;
      if (this.nativeSource.get(name) === id) continue;
      this.native.setParam(name, v.dataSync() as Float32Array);
      this.nativeSource.set(name, id);
    }
    return this.native;
  }

  /**
   * The native pass as one tf op with a custom gradient: tf sees logits computed from the
   * parameter variables, and its gradient runs the native backward. If another forward ran in
   * between (its activations replaced these), the backward first recomputes this forward.
   */
  private forwardNative(tokens: Int32Array, B: number, T: number, capture?: ForwardCapture): tf.Tensor2D {
    const c = this.config;
    if (tokens.length !== B * T) throw new Error(`forward: ${tokens.length} tokens for [${B}, ${T}]`);
    if (T > c.maxSeqLen) throw new Error(`forward: sequence length ${T} exceeds model.maxSeqLen ${c.maxSeqLen}`);
    const vars = this.names.map((n) => this.p(n));
    const toks = Int32Array.from(tokens);
    const op = tf.customGrad(((..._inputs: tf.Tensor[]) => {
      const nm = this.syncedNative();
      const value = tf.tensor2d(nm.forward(toks, B, T), [B * T, c.vocabSize]);
      const mine = nm.forwardCount;
      capture?.hidden?.push(tf.keep(tf.tensor2d(nm.hidden(), [B * T, c.dModel])));
      for (let l = 0; capture?.attention && l < c.nLayers; l++) capture.attention.push(tf.keep(tf.tensor3d(nm.attentionProbs(l), [B * c.nHeads, T, T])));
      return {
        value,
        gradFunc: (dy: tf.Tensor2D) => {
          const m = this.syncedNative();
          if (m.forwardCount !== mine) m.forward(toks, B, T);
          m.backward(dy.dataSync() as Float32Array);
          return this.names.map((n, i) => tf.tensor(m.grad(n), vars[i].shape));
        },
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (...inputs: tf.Tensor[]) => tf.Tensor2D;
    return op(...vars);
  }

  private forwardTfjs(tokens: Int32Array, B: number, T: number, capture?: ForwardCapture): tf.Tensor2D {
    const c = this.config;
    if (tokens.length !== B * T) throw new Error(`forward: ${tokens.length} tokens for [${B}, ${T}]`);
    if (T > c.maxSeqLen) throw new Error(`forward: sequence length ${T} exceeds model.maxSeqLen ${c.maxSeqLen}`);
    const H = c.nHeads, hd = c.dModel / H, d = c.dModel;
    const tab = this.tables(T);
    let x = embed(tokens, this.p("token_embd.weight") as tf.Tensor2D);
    const heads = (m: tf.Tensor2D): tf.Tensor3D =>
      tf.reshape(tf.transpose(tf.reshape(m, [B, T, H, hd]), [0, 2, 1, 3]), [B * H, T, hd]);
    const rope = (m: tf.Tensor3D): tf.Tensor3D => {
      const rotated = tf.reshape(matmul(tf.reshape(m, [B * H * T, hd]), tab.rot), [B * H, T, hd]);
      return tf.add(tf.mul(m, tab.cos), tf.mul(rotated, tab.sin)) as tf.Tensor3D;
    };
    const scale = 1 / Math.sqrt(hd);
    for (let l = 0; l < c.nLayers; l++) {
      const pre = `blk.${l}.`;
      const h = rmsNorm(x, this.p(pre + "attn_norm.weight") as tf.Tensor1D, c.normEps);
      const q = rope(heads(matmul(h, this.p(pre + "attn_q.weight") as tf.Tensor2D)));
      const k = rope(heads(matmul(h, this.p(pre + "attn_k.weight") as tf.Tensor2D)));
      const v = heads(matmul(h, this.p(pre + "attn_v.weight") as tf.Tensor2D));
      const scores = tf.add(tf.mul(bmm(q, tf.transpose(k, [0, 2, 1])), scale), tab.causal) as tf.Tensor3D;
      const probs = tf.softmax(scores) as tf.Tensor3D;
      if (capture?.attention) capture.attention.push(tf.keep(probs));
      const att = bmm(probs, v); // [B*H, T, hd]
      const merged = tf.reshape(tf.transpose(tf.reshape(att, [B, H, T, hd]), [0, 2, 1, 3]), [B * T, d]) as tf.Tensor2D;
      x = tf.add(x, matmul(merged, this.p(pre + "attn_output.weight") as tf.Tensor2D)) as tf.Tensor2D;
      const h2 = rmsNorm(x, this.p(pre + "ffn_norm.weight") as tf.Tensor1D, c.normEps);
      const gate = silu(matmul(h2, this.p(pre + "ffn_gate.weight") as tf.Tensor2D));
      const up = matmul(h2, this.p(pre + "ffn_up.weight") as tf.Tensor2D);
      x = tf.add(x, matmul(tf.mul(gate, up) as tf.Tensor2D, this.p(pre + "ffn_down.weight") as tf.Tensor2D)) as tf.Tensor2D;
    }
    const hf = rmsNorm(x, this.p("output_norm.weight") as tf.Tensor1D, c.normEps);
    if (capture?.hidden) capture.hidden.push(tf.keep(hf));
    const out = c.tieEmbeddings ? tf.transpose(this.p("token_embd.weight")) as tf.Tensor2D : this.p("output.weight") as tf.Tensor2D;
    return matmul(hf, out);
  }
}
