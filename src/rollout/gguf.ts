/**
 * GGUF models through llama.cpp (node-llama-cpp 3.21.1, an optional dependency loaded on first
 * use). Two sampling modes:
 *
 * - "exact" (default): llama.cpp evaluates, we draw. Each step asks llama.cpp for the whole
 *   next-token distribution (temperature 1, topK 0, topP 1, minP 0: nothing truncated) and draws
 *   the token here with the built-in sampler's rules (./draw.ts), so log-probs are exact for any
 *   temperature and top-p, entropies are available, adaptive temperature works, and the same
 *   generator gives the same tokens as the tfjs sampler up to float rounding. The cost is a
 *   vocabulary-sized probability list per token: right for the built-in policy's small
 *   vocabularies, slow for 150k-token vocabularies.
 * - "native": llama.cpp's own sampler chain draws (temperature, seed; one chain per row, seeded
 *   from the row's generator) and only the drawn token's probability comes back. It gives up
 *   entropies and same-seed equality with the tfjs sampler; the log-prob is still that of the
 *   sampling distribution. llama.cpp's chain applies top-p before temperature and reports the
 *   probability after truncation, so top-p < 1 and adaptive temperature sample in exact mode.
 *
 * Rows are decoded by ./llama-engine.ts on several small contexts (shards) with prefix reuse.
 * The KV cache is F32 so log-probs match tfjs to 1e-4.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ModelConfig } from "../train/policy/model.js";
import type { Rng } from "../train/rng.js";
import { BackendError, checkRequests, countTokens, type BackendCapabilities, type SampleOptions, type SampleRequest, type SampleResult, type ScoreRequest, type UpdatableBackend } from "./backend.js";
import { drawToken, DrawScratch, tempered, temperedLogprob } from "./draw.js";
import { runJobs, Shard, type EngineTimings, type Job, type NativeContext, type NativeOutput, type NativeSampler } from "./llama-engine.js";
import { policyToGguf, type GgufVocabSpec } from "./gguf-export.js";

/** The parts of node-llama-cpp used here (typed locally: the package is optional). */
interface LlamaContextLike {
  readonly contextSize: number;
  readonly batchSize: number;
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

export type GgufSamplingMode = "exact" | "native";

export interface GgufBackendOptions {
  /** Cores llama.cpp decodes on (default 1): that many shards decode at once, one thread each (a single shard gets them all). */
  threads?: number;
  /** Rows decoded at once, over all shards (default 64). */
  sequences?: number;
  /** Sequences per llama.cpp context (default 16: decode time grows faster than the sequences of one context). */
  sequencesPerContext?: number;
  /** Tokens per sequence (default: the model's training context). */
  contextSize?: number;
  /** Who draws the token (default exact; see the file's comment). */
  mode?: GgufSamplingMode;
}

const FULL_DISTRIBUTION = { temperature: 1, topK: 0, topP: 1, minP: 0, seed: 0 };

type NativeSampleToken = (...args: unknown[]) => Promise<unknown>;

/**
 * Makes the first `sampleToken` call after each decode of a context run alone; the batch's other
 * reads wait for it, then run concurrently.
 *
 * Why: when a batch holds several sequences, llama.cpp may compute their outputs out of order
 * and put them back in order lazily, in place, on the first `llama_get_logits_ith` after the
 * decode. node-llama-cpp reads each output from a libuv worker thread, so two concurrent first
 * reads can both reorder the shared logits buffer and a row gets another position's
 * distribution (seen as one wrong log-prob out of ~40 in CI; 770 of ~4000 in a stress test with
 * 16 rows, when every read ran concurrently). Once the first read has returned the outputs are in
 * place. (Reads that share one sampler must still not overlap: the engine orders a job's reads.)
 * node-llama-cpp is pinned at 3.21.1, whose context keeps its native handle in `_ctx`; any other
 * layout is refused, not guessed.
 */
function guardLogitReads(context: LlamaContextLike): NativeContext {
  const native = (context as unknown as { _ctx?: NativeContext })._ctx;
  const sampleToken = native?.sampleToken as NativeSampleToken | undefined;
  if (!native || typeof sampleToken !== "function" || typeof native.addToBatch !== "function" || typeof native.decodeBatch !== "function") {
    throw new BackendError("gguf: this node-llama-cpp has no context._ctx.sampleToken / addToBatch / decodeBatch; creditflow needs node-llama-cpp@3.21.1 exactly");
  }
  const decodeBatch = native.decodeBatch;
  // After each decode the first read runs alone (it does the reordering); once it has returned,
  // the outputs are in place and the batch's other reads may run concurrently.
  let firstRead: Promise<unknown> | null = null;
  const decode = () => {
    firstRead = null;
    return decodeBatch.call(native);
  };
  const read: NativeSampleToken = (...args) => {
    if (firstRead) return firstRead.then(() => sampleToken.apply(native, args));
    const run = sampleToken.apply(native, args);
    firstRead = run.catch(() => undefined);
    return run;
  };
  // The addon's methods are read-only prototype properties: shadow them on the instance.
  Object.defineProperty(native, "sampleToken", { value: read, configurable: true });
  Object.defineProperty(native, "decodeBatch", { value: decode, configurable: true });
  return native;
}

/** A new llama.cpp sampler chain of `model` (node-llama-cpp 3.21.1's AddonSampler). */
function newSampler(model: LlamaModelLike, config: Record<string, number>): NativeSampler {
  const m = model as unknown as { _llama?: { _bindings?: { AddonSampler?: new (m: unknown) => NativeSampler } }; _model?: unknown };
  const Ctor = m._llama?._bindings?.AddonSampler;
  if (typeof Ctor !== "function" || !m._model) throw new BackendError("gguf: this node-llama-cpp has no AddonSampler binding; creditflow needs node-llama-cpp@3.21.1 exactly");
  const s = new Ctor(m._model);
  s.applyConfig(config);
  return s;
}

/** Log-probs over the vocabulary from sampleToken's flat [token, probability, ...] list. */
function logProbsOf(flat: readonly number[] | undefined, V: number): Float64Array {
  if (!flat) throw new BackendError("gguf: llama.cpp returned no probabilities");
  const z = new Float64Array(V).fill(-Infinity);
  for (let i = 0; i + 1 < flat.length; i += 2) if (flat[i] < V && flat[i + 1] > 0) z[flat[i]] = Math.log(flat[i + 1]);
  return z;
}

/** One sampled row: feeds its prefix, then each drawn token; reads one output per step. */
class SampleJob implements Job {
  readonly sequence: number[];
  readonly result: SampleResult = { tokens: [], logprobs: [], entropies: [], finished: false };
  private done = false;

  constructor(
    private readonly q: SampleRequest, private readonly opts: SampleOptions, private readonly draw: (out: NativeOutput) => { token: number; logprob: number; entropy: number | null },
    private readonly maxSeqLen: number, readonly sampler: NativeSampler, readonly want: { probabilities: boolean; confidence: boolean },
  ) {
    this.sequence = [...q.prefix];
    this.done = q.maxNew <= 0;
  }

  next(): { tokens: readonly number[]; outputAt: readonly number[] } | null {
    if (this.done) return null;
    const r = this.result;
    // The first feed is the whole prefix; then the last drawn token.
    return r.tokens.length === 0 ? { tokens: this.sequence, outputAt: [this.sequence.length - 1] } : { tokens: [r.tokens[r.tokens.length - 1]], outputAt: [0] };
  }

  take(outputs: readonly NativeOutput[]): void {
    const d = this.draw(outputs[0]);
    const r = this.result;
    r.tokens.push(d.token);
    r.logprobs.push(d.logprob);
    if (d.entropy !== null) r.entropies.push(d.entropy);
    if (d.token === this.opts.eos) {
      r.finished = true;
      this.done = true;
      return;
    }
    // As the tfjs sampler: stop at maxNew, or when every position of the model is used.
    if (r.tokens.length >= this.q.maxNew || this.sequence.length >= this.maxSeqLen) this.done = true;
    else this.sequence.push(d.token);
  }
}

/** One scored row: feeds prefix + tokens (but the last) once, reads the distribution after each position from the prefix's end. */
class ScoreJob implements Job {
  readonly sequence: number[];
  readonly logprobs: Float64Array;
  private fed = false;
  readonly want = { probabilities: true, confidence: false };

  constructor(private readonly q: ScoreRequest, private readonly temperature: number, private readonly V: number, private readonly scratch: DrawScratch, readonly sampler: NativeSampler) {
    this.sequence = [...q.prefix, ...q.tokens].slice(0, -1);
    this.logprobs = new Float64Array(q.tokens.length);
  }

  next(): { tokens: readonly number[]; outputAt: readonly number[] } | null {
    if (this.fed || this.q.tokens.length === 0) return null;
    this.fed = true;
    return { tokens: this.sequence, outputAt: this.q.tokens.map((_, j) => this.q.prefix.length - 1 + j) };
  }

  take(outputs: readonly NativeOutput[]): void {
    outputs.forEach((o, j) => {
      this.logprobs[j] = temperedLogprob(logProbsOf(o.probabilities, this.V), this.q.tokens[j], this.temperature, this.scratch);
    });
  }
}

export class GgufBackend implements UpdatableBackend {
  readonly name = "gguf";
  readonly capabilities: BackendCapabilities;
  sampledTokens = 0;
  readonly vocabSize: number;
  readonly mode: GgufSamplingMode;
  private readonly scratch: DrawScratch;
  /** Set when the GGUF is our own export (removed on close). */
  private exportDir: string | null = null;
  private exported: { config: ModelConfig; vocab: GgufVocabSpec } | null = null;

  private constructor(private model: LlamaModelLike, private contexts: LlamaContextLike[], private shards: Shard[], private readonly opts: GgufBackendOptions) {
    const toks = model.fileInfo.metadata.tokenizer?.ggml?.tokens;
    if (!toks) throw new BackendError("gguf: the model has no tokenizer.ggml.tokens, so its vocabulary size is unknown");
    this.vocabSize = toks.length;
    this.scratch = new DrawScratch(this.vocabSize);
    this.mode = opts.mode ?? "exact";
    const exact = this.mode === "exact";
    this.capabilities = { entropies: exact, seeded: true, scoreAnyTemperature: true, adaptiveTemperature: true };
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
    const { contexts, shards } = await GgufBackend.makeShards(model, opts);
    return new GgufBackend(model, contexts, shards, opts);
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

  private static async makeShards(model: LlamaModelLike, opts: GgufBackendOptions): Promise<{ contexts: LlamaContextLike[]; shards: Shard[] }> {
    const total = opts.sequences ?? 64;
    const per = Math.min(total, opts.sequencesPerContext ?? 16);
    const n = Math.ceil(total / per);
    const threads = opts.threads ?? 1;
    const contexts: LlamaContextLike[] = [];
    const shards: Shard[] = [];
    try {
      for (let k = 0; k < n; k++) {
        const context = await model.createContext({
          sequences: Math.min(per, total - k * per),
          contextSize: opts.contextSize ?? model.trainContextSize,
          // Several shards: parallelism is shards decoding at once, each on one thread.
          threads: n > 1 ? 1 : threads,
          flashAttention: false,
          // F16 keys and values cost ~1e-3 in log-probs; F32 keeps llama.cpp within 1e-4 of tfjs.
          experimentalKvCacheKeyType: "F32",
          experimentalKvCacheValueType: "F32",
        });
        contexts.push(context);
        shards.push(new Shard(guardLogitReads(context), Math.min(per, total - k * per), context.batchSize, context.contextSize));
      }
    } catch (e) {
      for (const c of contexts) await c.dispose();
      throw e;
    }
    return { contexts, shards };
  }

  get maxSeqLen(): number {
    return this.shards[0]?.maxSeqLen ?? 0;
  }

  get eos(): number | null {
    return this.model.tokens.eos;
  }

  /** The model's own tokenizer (no bos added). */
  tokenize(text: string): number[] {
    return this.model.tokenize(text, false);
  }

  /** Replaces the weights of an exported policy (the trainer's update): a new GGUF, new contexts. */
  async setWeights(weights: Map<string, Float32Array>): Promise<void> {
    if (!this.exported || !this.exportDir) throw new BackendError("gguf: setWeights needs a backend made by GgufBackend.fromPolicy");
    const path = join(this.exportDir, "policy.gguf");
    writeFileSync(path, policyToGguf(this.exported.config, weights, this.exported.vocab));
    await this.disposeModel();
    this.model = await (await loadLlama()).loadModel({ modelPath: path });
    const { contexts, shards } = await GgufBackend.makeShards(this.model, { contextSize: this.exported.config.maxSeqLen, ...this.opts });
    this.contexts = contexts;
    this.shards = shards;
  }

  /** Decode and read counts and times of every shard since the contexts were made. */
  timings(): EngineTimings {
    const t: EngineTimings = { decodes: 0, decodeMs: 0, reads: 0, readMs: 0 };
    for (const s of this.shards) {
      t.decodes += s.timings.decodes;
      t.decodeMs += s.timings.decodeMs;
      t.reads += s.timings.reads;
      t.readMs += s.timings.readMs;
    }
    return t;
  }

  private async run(jobs: readonly Job[]): Promise<void> {
    try {
      await runJobs(this.shards, jobs, this.opts.threads ?? 1);
    } finally {
      for (const j of jobs) j.sampler.dispose();
    }
  }

  async sample(requests: readonly SampleRequest[], opts: SampleOptions, rng: Rng): Promise<SampleResult[]> {
    checkRequests(this.name, requests, this.maxSeqLen, this.vocabSize);
    // One generator per row, forked in row order before anything runs (as the tfjs sampler).
    const rngs = requests.map(() => rng.fork());
    const native = this.mode === "native" && opts.topP >= 1 && !opts.adaptiveTemperature;
    const V = this.vocabSize, s = this.scratch;
    const jobs = requests.map((q, r) => {
      if (native) {
        // llama.cpp's chain draws: temperature (greedy at T <= 0), seeded from the row's generator.
        const seed = Math.floor(rngs[r].next() * 0x100000000);
        const draw = (o: NativeOutput) => {
          if (o.token < 0 || o.confidence === undefined || !(o.confidence > 0)) throw new BackendError("gguf: llama.cpp's sampler returned no token or no probability");
          return { token: o.token, logprob: Math.log(o.confidence), entropy: null };
        };
        return new SampleJob(q, opts, draw, this.maxSeqLen, newSampler(this.model, { temperature: opts.temperature, topK: 0, topP: 1, minP: 0, seed }), { probabilities: false, confidence: true });
      }
      const draw = (o: NativeOutput) => {
        const z = logProbsOf(o.probabilities, V);
        const T = opts.adaptiveTemperature ? opts.adaptiveTemperature(tempered(z, 1, s).entropy) : opts.temperature;
        return drawToken(z, T, opts.topP, () => rngs[r].next(), s);
      };
      return new SampleJob(q, opts, draw, this.maxSeqLen, newSampler(this.model, FULL_DISTRIBUTION), { probabilities: true, confidence: false });
    });
    await this.run(jobs);
    const res = jobs.map((j) => j.result);
    this.sampledTokens += countTokens(res);
    return res;
  }

  async score(requests: readonly ScoreRequest[], temperature = 1): Promise<Float64Array[]> {
    checkRequests(this.name, requests.map((q) => ({ prefix: [...q.prefix, ...q.tokens] })), this.maxSeqLen, this.vocabSize);
    const jobs = requests.map((q) => new ScoreJob(q, temperature, this.vocabSize, this.scratch, newSampler(this.model, FULL_DISTRIBUTION)));
    await this.run(jobs);
    return jobs.map((j) => j.logprobs);
  }

  private async disposeModel(): Promise<void> {
    for (const c of this.contexts) await c.dispose();
    this.contexts = [];
    this.shards = [];
    await this.model.dispose();
  }

  async close(): Promise<void> {
    await this.disposeModel();
    if (this.exportDir) rmSync(this.exportDir, { recursive: true, force: true });
    this.exportDir = null;
  }
}
