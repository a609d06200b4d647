/**
 * GGUF models through llama.cpp (node-llama-cpp 3.21.1, an optional dependency loaded on first
 * use). llama.cpp evaluates; we draw. Each step asks llama.cpp for the whole next-token
 * distribution (temperature 1, topK 0, topP 1, minP 0: nothing truncated) and draws the token
 * here with the built-in sampler's rules (./draw.ts), so log-probs are exact for any temperature
 * and top-p, entropies are available, and the same generator gives the same tokens as the tfjs
 * sampler up to float rounding. The cost is a vocabulary-sized probability list per token:
 * right for the built-in policy's small vocabularies, slow for 150k-token vocabularies.
 *
 * Many rows share one context: each holds a sequence, and rows waiting on llama.cpp in the same
 * tick are evaluated in one batch. A row takes the free sequence whose cached tokens share the
 * longest prefix with its own and evaluates only the rest (prefix reuse: G samples of one
 * prompt, tree branches from one node). The KV cache is F32 so log-probs match tfjs to 1e-4.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ModelConfig } from "../train/policy/model.js";
import type { Rng } from "../train/rng.js";
import { BackendError, checkRequests, countTokens, type BackendCapabilities, type SampleOptions, type SampleRequest, type SampleResult, type ScoreRequest, type UpdatableBackend } from "./backend.js";
import { drawToken, DrawScratch, tempered, temperedLogprob } from "./draw.js";
import { policyToGguf, type GgufVocabSpec } from "./gguf-export.js";

/** The parts of node-llama-cpp used here (typed locally: the package is optional). */
interface NextOptions {
  generateNext: { probabilities: true; options: { temperature: number; topK: number; topP: number; minP: number } };
}
type EvalItem = number | [number, NextOptions];
interface LlamaSequence {
  readonly contextTokens: number[];
  readonly nextTokenIndex: number;
  eraseContextTokenRanges(ranges: { start: number; end: number }[]): Promise<void>;
  controlledEvaluate(input: EvalItem[]): Promise<({ next: { probabilities?: Map<number, number> } } | undefined)[]>;
}
interface LlamaContextLike {
  readonly contextSize: number;
  getSequence(): LlamaSequence;
  dispose(): Promise<void>;
}
interface LlamaModelLike {
  readonly trainContextSize: number;
  readonly tokens: { readonly eos: number | null; readonly bos: number | null };
  readonly fileInfo: { metadata: { tokenizer?: { ggml?: { tokens?: readonly string[] } } } };
  tokenize(text: string, specialTokens?: boolean): number[];
  detokenize(tokens: readonly number[], specialTokens?: boolean): string;
  createContext(o: Record<string, unknown>): Promise<LlamaContextLike>;
  dispose(): Promise<void>;
}
interface LlamaLike {
  loadModel(o: { modelPath: string }): Promise<LlamaModelLike>;
}
interface NodeLlamaCpp {
  getLlama(o: Record<string, unknown>): Promise<LlamaLike>;
}

let llamaPromise: Promise<LlamaLike> | null = null;

/** node-llama-cpp's CPU build, loaded once per process; a clear error when the package is absent. */
export function loadLlama(): Promise<LlamaLike> {
  llamaPromise ??= (async () => {
    const name = "node-llama-cpp";
    let mod: NodeLlamaCpp;
    try {
      mod = (await import(name)) as NodeLlamaCpp;
    } catch (e) {
      llamaPromise = null;
      throw new BackendError(`the gguf backend needs the optional package node-llama-cpp@3.21.1, which is not installed (npm install --save-exact node-llama-cpp@3.21.1): ${(e as Error).message.split("\n")[0]}`);
    }
    // No GPU probing, never a source build or download: the prebuilt CPU binary or an error.
    // maxThreads 0: each context uses exactly its own thread count (a shared thread budget
    // stalls a 2-thread context while sampling holds a thread).
    return mod.getLlama({ gpu: false, build: "never", logLevel: "error", maxThreads: 0 });
  })();
  return llamaPromise;
}

export interface GgufBackendOptions {
  /** llama.cpp threads (default 1; 2 pays only for large batches). */
  threads?: number;
  /** Sequences (rows evaluated together) in the context (default 64). */
  sequences?: number;
  /** Tokens per sequence (default: the model's training context). */
  contextSize?: number;
}

const FULL_DISTRIBUTION: NextOptions = { generateNext: { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } } };

/** Common leading tokens of two sequences. */
function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let k = 0;
  while (k < n && a[k] === b[k]) k++;
  return k;
}

type NativeSampleToken = (...args: unknown[]) => Promise<unknown>;

/**
 * Runs node-llama-cpp's native `sampleToken` calls of one context one at a time.
 *
 * Why: when a batch holds several sequences, llama.cpp may compute their outputs out of order
 * and put them back in order lazily, in place, on the first `llama_get_logits_ith` after the
 * decode. node-llama-cpp reads each sequence's logits from a separate libuv worker thread, so
 * two threads can both reorder the shared logits buffer and a row gets another position's
 * distribution (seen as one wrong log-prob out of ~40 in CI; 770 of ~4000 in a stress test with
 * 16 rows). Calls to sampleToken only read logits and cost little next to the decode, so
 * serializing them keeps the batching and removes the race. node-llama-cpp is pinned at 3.21.1,
 * whose context keeps its native handle in `_ctx`; any other layout is refused, not guessed.
 */
function serializeLogitReads(context: LlamaContextLike): void {
  const native = (context as unknown as { _ctx?: { sampleToken?: NativeSampleToken } })._ctx;
  const sampleToken = native?.sampleToken;
  if (!native || typeof sampleToken !== "function") {
    throw new BackendError("gguf: this node-llama-cpp has no context._ctx.sampleToken; creditflow needs node-llama-cpp@3.21.1 exactly");
  }
  let tail: Promise<unknown> = Promise.resolve();
  const serialized: NativeSampleToken = (...args) => {
    const run = tail.then(() => sampleToken.apply(native, args));
    tail = run.catch(() => undefined);
    return run;
  };
  // The addon's methods are read-only prototype properties: shadow it on the instance.
  Object.defineProperty(native, "sampleToken", { value: serialized, configurable: true });
}

export class GgufBackend implements UpdatableBackend {
  readonly name = "gguf";
  readonly capabilities: BackendCapabilities = { entropies: true, seeded: true, scoreAnyTemperature: true, adaptiveTemperature: true };
  sampledTokens = 0;
  readonly vocabSize: number;
  private free: LlamaSequence[];
  private waiting: ((s: LlamaSequence) => void)[] = [];
  private readonly scratchPool: DrawScratch[] = [];
  /** Set when the GGUF is our own export (removed on close). */
  private exportDir: string | null = null;
  private exported: { config: ModelConfig; vocab: GgufVocabSpec } | null = null;

  private constructor(private model: LlamaModelLike, private context: LlamaContextLike, private readonly opts: GgufBackendOptions, sequences: LlamaSequence[]) {
    this.free = sequences;
    const toks = model.fileInfo.metadata.tokenizer?.ggml?.tokens;
    if (!toks) throw new BackendError("gguf: the model has no tokenizer.ggml.tokens, so its vocabulary size is unknown");
    this.vocabSize = toks.length;
  }

  /** Opens a GGUF file. */
  static async open(path: string, opts: GgufBackendOptions = {}): Promise<GgufBackend> {
    const llama = await loadLlama();
    let model: LlamaModelLike;
    try {
      model = await llama.loadModel({ modelPath: path });
    } catch (e) {
      throw new BackendError(`gguf: cannot load ${path}: ${(e as Error).message}`);
    }
    const { context, sequences } = await GgufBackend.makeContext(model, opts);
    return new GgufBackend(model, context, opts, sequences);
  }

  /** The built-in policy, exported to a temporary GGUF file and loaded (the file is removed on close). */
  static async fromPolicy(config: ModelConfig, weights: Map<string, Float32Array>, vocab: GgufVocabSpec, opts: GgufBackendOptions = {}): Promise<GgufBackend> {
    const dir = mkdtempSync(join(tmpdir(), "creditflow-gguf-"));
    try {
      const path = join(dir, "policy.gguf");
      writeFileSync(path, policyToGguf(config, weights, vocab));
      const b = await GgufBackend.open(path, { contextSize: config.maxSeqLen, ...opts });
      b.exportDir = dir;
      b.exported = { config, vocab };
      return b;
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  private static async makeContext(model: LlamaModelLike, opts: GgufBackendOptions): Promise<{ context: LlamaContextLike; sequences: LlamaSequence[] }> {
    const n = opts.sequences ?? 64;
    const context = await model.createContext({
      sequences: n,
      contextSize: opts.contextSize ?? model.trainContextSize,
      threads: opts.threads ?? 1,
      flashAttention: false,
      // F16 keys and values cost ~1e-3 in log-probs; F32 keeps llama.cpp within 1e-4 of tfjs.
      experimentalKvCacheKeyType: "F32",
      experimentalKvCacheValueType: "F32",
    });
    serializeLogitReads(context);
    return { context, sequences: Array.from({ length: n }, () => context.getSequence()) };
  }

  get maxSeqLen(): number {
    return this.context.contextSize;
  }

  get eos(): number | null {
    return this.model.tokens.eos;
  }

  /** The model's own tokenizer (no bos added). */
  tokenize(text: string): number[] {
    return this.model.tokenize(text, false);
  }

  /** Replaces the weights of an exported policy (the trainer's update): a new GGUF, a new context. */
  async setWeights(weights: Map<string, Float32Array>): Promise<void> {
    if (!this.exported || !this.exportDir) throw new BackendError("gguf: setWeights needs a backend made by GgufBackend.fromPolicy");
    const path = join(this.exportDir, "policy.gguf");
    writeFileSync(path, policyToGguf(this.exported.config, weights, this.exported.vocab));
    await this.context.dispose();
    await this.model.dispose();
    this.model = await (await loadLlama()).loadModel({ modelPath: path });
    const { context, sequences } = await GgufBackend.makeContext(this.model, { contextSize: this.exported.config.maxSeqLen, ...this.opts });
    this.context = context;
    this.free = sequences;
  }

  /** A free sequence, preferring the one whose cache shares the longest prefix with `tokens`. */
  private acquire(tokens: readonly number[]): Promise<LlamaSequence> {
    if (this.free.length === 0) return new Promise((resolve) => this.waiting.push(resolve));
    let best = 0, bestLen = -1;
    this.free.forEach((s, k) => {
      const c = commonPrefix(s.contextTokens, tokens);
      if (c > bestLen) {
        bestLen = c;
        best = k;
      }
    });
    return Promise.resolve(this.free.splice(best, 1)[0]);
  }

  private release(s: LlamaSequence): void {
    const next = this.waiting.shift();
    if (next) next(s);
    else this.free.push(s);
  }

  private scratch(): DrawScratch {
    return this.scratchPool.pop() ?? new DrawScratch(this.vocabSize);
  }

  /**
   * Makes `seq` hold `tokens` and returns the next-token log-probs after each position from
   * `from` on (full vocabulary, temperature 1). Cached tokens are kept as far as they agree.
   */
  private async evaluate(seq: LlamaSequence, tokens: readonly number[], from: number): Promise<Float64Array[]> {
    const keep = Math.min(commonPrefix(seq.contextTokens, tokens), from);
    if (seq.nextTokenIndex > keep) await seq.eraseContextTokenRanges([{ start: keep, end: seq.nextTokenIndex }]);
    const items: EvalItem[] = [];
    for (let k = keep; k < tokens.length; k++) items.push(k >= from ? [tokens[k], FULL_DISTRIBUTION] : tokens[k]);
    const out = await seq.controlledEvaluate(items);
    const V = this.vocabSize;
    const dists: Float64Array[] = [];
    for (let k = from; k < tokens.length; k++) {
      const probs = out[k - keep]?.next.probabilities;
      if (!probs) throw new BackendError("gguf: llama.cpp returned no probabilities");
      const z = new Float64Array(V).fill(-Infinity);
      for (const [tok, p] of probs) if (tok < V && p > 0) z[tok] = Math.log(p);
      dists.push(z);
    }
    return dists;
  }

  private async sampleRow(q: SampleRequest, opts: SampleOptions, rng: Rng): Promise<SampleResult> {
    const res: SampleResult = { tokens: [], logprobs: [], entropies: [], finished: false };
    if (q.maxNew <= 0) return res;
    const seq = await this.acquire(q.prefix);
    const s = this.scratch();
    try {
      const all = [...q.prefix];
      let from = all.length - 1;
      while (true) {
        const [z] = await this.evaluate(seq, all, from);
        const T = opts.adaptiveTemperature ? opts.adaptiveTemperature(tempered(z, 1, s).entropy) : opts.temperature;
        const d = drawToken(z, T, opts.topP, () => rng.next(), s);
        res.tokens.push(d.token);
        res.logprobs.push(d.logprob);
        res.entropies.push(d.entropy);
        if (d.token === opts.eos) {
          res.finished = true;
          break;
        }
        // As the tfjs sampler: stop at maxNew, or when every position of the model is used.
        if (res.tokens.length >= q.maxNew || all.length >= this.maxSeqLen) break;
        all.push(d.token);
        from = all.length - 1;
      }
    } finally {
      this.scratchPool.push(s);
      this.release(seq);
    }
    return res;
  }

  async sample(requests: readonly SampleRequest[], opts: SampleOptions, rng: Rng): Promise<SampleResult[]> {
    checkRequests(this.name, requests, this.maxSeqLen, this.vocabSize);
    // One generator per row, forked in row order before anything runs (as the tfjs sampler).
    const rngs = requests.map(() => rng.fork());
    const res = await Promise.all(requests.map((q, r) => this.sampleRow(q, opts, rngs[r])));
    this.sampledTokens += countTokens(res);
    return res;
  }

  async score(requests: readonly ScoreRequest[], temperature = 1): Promise<Float64Array[]> {
    const full = requests.map((q) => [...q.prefix, ...q.tokens]);
    checkRequests(this.name, full.map((prefix) => ({ prefix })), this.maxSeqLen, this.vocabSize);
    return Promise.all(requests.map(async (q, r) => {
      const lp = new Float64Array(q.tokens.length);
      if (q.tokens.length === 0) return lp;
      const seq = await this.acquire(full[r]);
      const s = this.scratch();
      try {
        const dists = await this.evaluate(seq, full[r].slice(0, -1), q.prefix.length - 1);
        for (let j = 0; j < q.tokens.length; j++) lp[j] = temperedLogprob(dists[j], q.tokens[j], temperature, s);
      } finally {
        this.scratchPool.push(s);
        this.release(seq);
      }
      return lp;
    }));
  }

  async close(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
    if (this.exportDir) rmSync(this.exportDir, { recursive: true, force: true });
    this.exportDir = null;
  }
}
