/**
 * Batched autoregressive sampling with a KV cache.
 *
 * Every row continues its own prefix (a prompt, or a prompt plus part of a response for Monte
 * Carlo values and tree branching), so rows of different lengths share one loop: at each
 * iteration every live row feeds one token, the forced next prefix token or its last sample.
 * The dense matrix products run batched (a DenseStep: the native SIMD kernels, or the tf
 * backend as the reference); the per-row parts (rotary positions, attention over the row's own cache, sampling) run on the host,
 * where rows of different lengths cost nothing extra.
 *
 * Determinism: each row draws from its own generator forked from the caller's, in row order,
 * before decoding starts, so results depend only on (weights, requests, seed) and not on how
 * rows are batched or split across workers.
 */
import { tf } from "./tf.js";
import type { ModelConfig, PolicyBackend } from "./model.js";
import { defaultPolicyBackend, ropeHost } from "./model.js";
import { NativeDecoder } from "../native/decoder.js";
import { KvAttention } from "../native/kv-attention.js";
import { ropeRow } from "../native/layers.js";
import type { Rng } from "../rng.js";

export interface SampleRequest {
  /** Tokens to continue from (at least one, e.g. the prompt starting with bos). */
  prefix: readonly number[];
  /** Most new tokens to generate (eos included). */
  maxNew: number;
  /**
   * Tokens that end this row like eos, but unfinished (a multi-turn policy turn ending in a tool
   * call, the environment answers next): the stop token is kept as the row's last token.
   */
  stop?: readonly number[];
}

export interface SampleOptions {
  /** 0 = greedy. */
  temperature: number;
  /** Nucleus mass in (0, 1]; 1 = off. */
  topP: number;
  eos: number;
  /**
   * Per-token temperature from the entropy of the raw (temperature-1) distribution, for
   * HAPO's adaptive temperature; overrides `temperature` when given.
   */
  adaptiveTemperature?: (rawEntropy: number) => number;
}

export interface SampleResult {
  tokens: number[];
  /** log pi_T(token) under the distribution sampled from (logits / T, before top-p). */
  logprobs: number[];
  /** Entropy of that distribution at each step. */
  entropies: number[];
  /** Ended with eos (false: cut off by maxNew or the model's length). */
  finished: boolean;
}

/**
 * The dense half of a decoding step (norms, projections, SwiGLU, output), for A rows that feed
 * one token each. The sampler does the rest on the host: rotary positions, each row's KV cache
 * and attention over it, and picking tokens.
 */
export interface DenseStep {
  readonly config: ModelConfig;
  begin(tokens: ArrayLike<number>, rows: number): void;
  /** q|k|v rows [A, 3d] of layer l (writable). */
  qkv(l: number): Float32Array;
  /** The buffer [A, d] the attention output goes into before finishLayer(l). */
  attention(): Float32Array;
  finishLayer(l: number): void;
  logits(): Float32Array;
  dispose(): void;
}

/** Weights prepared for sampling on one backend (see PolicyBackend). */
export interface SamplerWeights {
  config: ModelConfig;
  backend: PolicyBackend;
  dense: DenseStep;
  /** The KV caches, kept between calls (made on first use). */
  kv?: KvAttention;
}

function concatCols(a: Float32Array[], rows: number, cols: number[]): Float32Array {
  const total = cols.reduce((s, c) => s + c, 0);
  const out = new Float32Array(rows * total);
  for (let r = 0; r < rows; r++) {
    let off = 0;
    for (let m = 0; m < a.length; m++) {
      out.set(a[m].subarray(r * cols[m], (r + 1) * cols[m]), r * total + off);
      off += cols[m];
    }
  }
  return out;
}

/** Reads a tensor to the host and frees it. */
function take(t: tf.Tensor): Float32Array {
  const out = t.dataSync() as Float32Array;
  t.dispose();
  return out;
}

function rmsNormT(x: tf.Tensor2D, g: tf.Tensor1D, eps: number): tf.Tensor2D {
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), 1, true), eps))), g) as tf.Tensor2D;
}

/** The reference dense step on the tf backend, with fused q|k|v and gate|up matrices. */
class TfDenseStep implements DenseStep {
  private embd: Float32Array;
  private qkvW: tf.Tensor2D[] = [];
  private wo: tf.Tensor2D[] = [];
  private gateUp: tf.Tensor2D[] = [];
  private down: tf.Tensor2D[] = [];
  private out: tf.Tensor2D;
  private attnNorm: tf.Tensor1D[] = [];
  private ffnNorm: tf.Tensor1D[] = [];
  private outNorm: tf.Tensor1D;
  private x: tf.Tensor2D | null = null;
  private att = new Float32Array(0);
  private A = 0;

  constructor(readonly config: ModelConfig, w: Map<string, Float32Array>) {
    const d = config.dModel, ff = config.dFF, V = config.vocabSize;
    const get = (n: string): Float32Array => {
      const x = w.get(n);
      if (!x) throw new Error(`missing weight '${n}'`);
      return x;
    };
    this.embd = get("token_embd.weight");
    this.outNorm = tf.tensor1d(get("output_norm.weight"));
    for (let l = 0; l < config.nLayers; l++) {
      const p = `blk.${l}.`;
      this.attnNorm.push(tf.tensor1d(get(p + "attn_norm.weight")));
      this.ffnNorm.push(tf.tensor1d(get(p + "ffn_norm.weight")));
      this.qkvW.push(tf.tensor2d(concatCols([get(p + "attn_q.weight"), get(p + "attn_k.weight"), get(p + "attn_v.weight")], d, [d, d, d]), [d, 3 * d]));
      this.wo.push(tf.tensor2d(get(p + "attn_output.weight"), [d, d]));
      this.gateUp.push(tf.tensor2d(concatCols([get(p + "ffn_gate.weight"), get(p + "ffn_up.weight")], d, [ff, ff]), [d, 2 * ff]));
      this.down.push(tf.tensor2d(get(p + "ffn_down.weight"), [ff, d]));
    }
    if (config.tieEmbeddings) {
      const t = new Float32Array(d * V);
      for (let v = 0; v < V; v++) for (let k = 0; k < d; k++) t[k * V + v] = this.embd[v * d + k];
      this.out = tf.tensor2d(t, [d, V]);
    } else this.out = tf.tensor2d(get("output.weight"), [d, V]);
  }

  begin(tokens: ArrayLike<number>, rows: number): void {
    const d = this.config.dModel, V = this.config.vocabSize;
    const x = new Float32Array(rows * d);
    for (let r = 0; r < rows; r++) {
      const tok = tokens[r];
      if (tok < 0 || tok >= V) throw new Error(`sample: token ${tok} outside the vocabulary`);
      x.set(this.embd.subarray(tok * d, (tok + 1) * d), r * d);
    }
    this.x?.dispose();
    this.x = tf.tensor2d(x, [rows, d]);
    if (this.att.length < rows * d) this.att = new Float32Array(rows * d);
    this.A = rows;
  }

  qkv(l: number): Float32Array {
    const x = this.x as tf.Tensor2D;
    return take(tf.tidy(() => tf.matMul(rmsNormT(x, this.attnNorm[l], this.config.normEps), this.qkvW[l])));
  }

  attention(): Float32Array {
    return this.att.subarray(0, this.A * this.config.dModel);
  }

  finishLayer(l: number): void {
    const prev = this.x as tf.Tensor2D, A = this.A, d = this.config.dModel, ff = this.config.dFF;
    this.x = tf.tidy(() => {
      const x2 = tf.add(prev, tf.matMul(tf.tensor2d(this.att.subarray(0, A * d), [A, d]), this.wo[l])) as tf.Tensor2D;
      const gu = tf.matMul(rmsNormT(x2, this.ffnNorm[l], this.config.normEps), this.gateUp[l]);
      const g = tf.slice(gu, [0, 0], [A, ff]);
      const u = tf.slice(gu, [0, ff], [A, ff]);
      return tf.add(x2, tf.matMul(tf.mul(tf.mul(g, tf.sigmoid(g)), u), this.down[l])) as tf.Tensor2D;
    });
    prev.dispose();
  }

  logits(): Float32Array {
    const x = this.x as tf.Tensor2D;
    const out = take(tf.tidy(() => tf.matMul(rmsNormT(x, this.outNorm, this.config.normEps), this.out)));
    x.dispose();
    this.x = null;
    return out;
  }

  dispose(): void {
    this.x?.dispose();
    this.x = null;
    tf.dispose([...this.qkvW, ...this.wo, ...this.gateUp, ...this.down, this.out, ...this.attnNorm, ...this.ffnNorm, this.outNorm]);
  }
}

class NativeDenseStep extends NativeDecoder implements DenseStep {
  dispose(): void {
    // wasm memory is reclaimed with the object
  }
}

/** Prepares weights for sampling; `backend` defaults to the policies' default (native unless set otherwise). */
export function samplerWeights(config: ModelConfig, w: Map<string, Float32Array>, backend: PolicyBackend = defaultPolicyBackend()): SamplerWeights {
  const dense = backend === "native" ? new NativeDenseStep(config, w) : new TfDenseStep(config, w);
  return { config, backend, dense };
}

export function disposeSamplerWeights(sw: SamplerWeights): void {
  sw.dense.dispose();
}

/** Distribution over the vocabulary at temperature T > 0: probabilities, log-probs and entropy. */
function softmaxT(z: Float32Array, off: number, V: number, T: number, p: Float64Array): { lse: number; entropy: number } {
  let mx = -Infinity;
  for (let v = 0; v < V; v++) mx = Math.max(mx, z[off + v] / T);
  let s = 0;
  for (let v = 0; v < V; v++) {
    const e = Math.exp(z[off + v] / T - mx);
    p[v] = e;
    s += e;
  }
  const lse = mx + Math.log(s);
  let h = 0;
  for (let v = 0; v < V; v++) {
    p[v] /= s;
    if (p[v] > 0) h -= p[v] * (z[off + v] / T - lse);
  }
  return { lse, entropy: h };
}

/** Samples continuations for every request (row generators forked from `rng` in row order). */
export function sample(sw: SamplerWeights, requests: readonly SampleRequest[], opts: SampleOptions, rng: Rng): SampleResult[] {
  return sampleRows(sw, requests, opts, requests.map(() => rng.fork()));
}

/** Samples with one generator per row: how a worker pool splits a batch without changing any result. */
export function sampleRows(sw: SamplerWeights, requests: readonly SampleRequest[], opts: SampleOptions, rowRng: readonly Rng[]): SampleResult[] {
  const c = sw.config;
  const d = c.dModel, hd = d / c.nHeads, V = c.vocabSize, L = c.nLayers, S = c.maxSeqLen;
  const n = requests.length;
  if (rowRng.length !== n) throw new Error("sampleRows: one generator per request");
  const rope = ropeHost(c);
  const results: SampleResult[] = requests.map(() => ({ tokens: [], logprobs: [], entropies: [], finished: false }));
  const pos = new Int32Array(n);
  const live: number[] = [];
  for (let r = 0; r < n; r++) {
    const q = requests[r];
    if (q.prefix.length < 1) throw new Error("sample: every request needs a non-empty prefix");
    if (q.prefix.length > S) throw new Error(`sample: prefix of ${q.prefix.length} tokens exceeds model.maxSeqLen ${S}`);
    if (q.maxNew > 0) live.push(r);
  }
  const dense = sw.dense;
  if (!sw.kv) sw.kv = new KvAttention(c);
  const kv = sw.kv;
  kv.reset(n);
  const stepTokens = new Int32Array(n);
  const prob = new Float64Array(V);
  const order: number[] = Array.from({ length: V }, (_, v) => v);

  while (live.length > 0) {
    const A = live.length;
    for (let a = 0; a < A; a++) {
      const r = live[a];
      const q = requests[r];
      stepTokens[a] = pos[r] < q.prefix.length ? q.prefix[pos[r]] : results[r].tokens[results[r].tokens.length - 1];
    }
    dense.begin(stepTokens, A);
    for (let l = 0; l < L; l++) {
      const qkv = dense.qkv(l);
      const att = dense.attention();
      for (let a = 0; a < A; a++) {
        const r = live[a], t = pos[r];
        const base = a * 3 * d;
        // rotary positions on q and k (adjacent in the row: one pass over 2d columns), then the cache
        ropeRow(qkv, base, 2 * d, hd, t, rope.cos, rope.sin, 1);
        kv.step(r, l, t, qkv, base, att, a * d);
      }
      dense.finishLayer(l);
    }
    // Logits for every live row (cheap: the vocabulary is small); only rows past their prefix sample.
    const logits = dense.logits();
    const nextLive: number[] = [];
    for (let a = 0; a < A; a++) {
      const r = live[a];
      const q = requests[r];
      pos[r]++;
      if (pos[r] >= q.prefix.length) {
        const off = a * V;
        const res = results[r];
        let tok: number, lp: number, ent: number;
        let T = opts.temperature;
        if (opts.adaptiveTemperature) T = opts.adaptiveTemperature(softmaxT(logits, off, V, 1, prob).entropy);
        if (T <= 0) {
          const st = softmaxT(logits, off, V, 1, prob);
          tok = 0;
          for (let v = 1; v < V; v++) if (logits[off + v] > logits[off + tok]) tok = v;
          lp = logits[off + tok] - st.lse;
          ent = st.entropy;
        } else {
          const st = softmaxT(logits, off, V, T, prob);
          ent = st.entropy;
          const u = rowRng[r].next();
          if (opts.topP < 1) {
            order.sort((i, j) => prob[j] - prob[i] || i - j);
            let mass = 0, keep = 0;
            while (keep < V && mass < opts.topP) mass += prob[order[keep++]];
            let acc = 0;
            tok = order[keep - 1];
            for (let k = 0; k < keep; k++) {
              acc += prob[order[k]] / mass;
              if (u < acc) { tok = order[k]; break; }
            }
          } else {
            let acc = 0;
            tok = V - 1;
            for (let v = 0; v < V; v++) {
              acc += prob[v];
              if (u < acc) { tok = v; break; }
            }
          }
          lp = logits[off + tok] / T - st.lse;
        }
        res.tokens.push(tok);
        res.logprobs.push(lp);
        res.entropies.push(ent);
        if (tok === opts.eos) {
          res.finished = true;
          continue;
        }
        if (res.tokens.length >= q.maxNew || pos[r] >= S || q.stop?.includes(tok)) continue;
      }
      nextLive.push(r);
    }
    live.length = 0;
    live.push(...nextLive);
  }
  return results;
}
