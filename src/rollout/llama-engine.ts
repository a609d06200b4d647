/**
 * The decode loop of the gguf backend, driven directly on node-llama-cpp 3.21.1's native context
 * (`LlamaContext._ctx`: initBatch / addToBatch / decodeBatch / sampleToken) instead of through
 * `LlamaContextSequence.controlledEvaluate`.
 *
 * Why not the public API: controlledEvaluate makes a sampler per call, takes locks, waits a tick
 * before each batch and turns every probability list into a Map, all per token. Here each row
 * keeps one sampler for its whole life, and a batch is built and decoded as soon as every active
 * row of the context has fed its token.
 *
 * Why several contexts ("shards"): with `threads` > 1 that many shards decode at once (one
 * llama.cpp thread each), and one shard's output reads overlap another's decode. On one core a
 * single context of all the rows was as fast or slightly faster (bench/llamacpp-sampling.ts measures both).
 *
 * A job is one row: tokens to feed, and positions whose next-token output it wants. It takes a
 * free sequence of its shard (the one whose cache shares the longest prefix with its tokens) and
 * feeds only what is not cached.
 */
import { BackendError } from "./backend.js";

/** node-llama-cpp 3.21.1's AddonSampler (a llama.cpp sampler chain). */
export interface NativeSampler {
  applyConfig(config: Record<string, number>): void;
  dispose(): void;
}

/** node-llama-cpp 3.21.1's AddonContext: the calls used here. */
export interface NativeContext {
  initBatch(size: number): void;
  addToBatch(sequenceId: number, firstTokenSequenceIndex: number, tokens: Uint32Array, logitIndexes: Uint32Array): Uint32Array;
  decodeBatch(): Promise<void>;
  sampleToken(batchLogitIndex: number, sampler: NativeSampler, probabilities: boolean, confidence?: boolean): Promise<[number, number[] | undefined, number | undefined]>;
  removeTokenCellsFromSequence(sequenceId: number, startPos: number, endPos: number): boolean;
}

/** What a job reads at an output position: the sampled token, its probability, the distribution. */
export interface NativeOutput {
  /** The token llama.cpp's sampler chain drew (-1: none). */
  token: number;
  /** Its probability under the chain's final distribution (when asked). */
  confidence: number | undefined;
  /** Flat [token, probability, token, probability, ...] of the chain's final distribution (when asked). */
  probabilities: number[] | undefined;
}

/**
 * One row's conversation with the engine. The engine calls `next()` for the tokens to feed
 * (`tokens`, with `outputAt` the indexes into them whose next-token output is wanted), feeds them,
 * and calls `take` with the outputs; `next()` returning null ends the job.
 */
export interface Job {
  /** Every token the row's sequence holds so far (its first feed is all of them; prefix reuse compares these). */
  readonly sequence: readonly number[];
  next(): { tokens: readonly number[]; outputAt: readonly number[] } | null;
  take(outputs: readonly NativeOutput[]): void;
  /** Sampler chain for this job's outputs, made once per job. */
  readonly sampler: NativeSampler;
  /** What sampleToken returns: the full distribution, the drawn token's probability, or both. */
  readonly want: { probabilities: boolean; confidence: boolean };
}

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let k = 0;
  while (k < n && a[k] === b[k]) k++;
  return k;
}

/** A counting semaphore: how many shards may decode at once. */
export class Slots {
  private waiting: (() => void)[] = [];
  constructor(private free: number) {}
  async take(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  give(): void {
    const w = this.waiting.shift();
    if (w) w();
    else this.free++;
  }
}

interface Active {
  job: Job;
  seq: number;
  /** Position of the next token fed to this sequence. */
  pos: number;
  /** The current feed, how much of it is in the cache already, and the indexes that want outputs. */
  feed: readonly number[];
  fed: number;
  outputAt: readonly number[];
  outputs: NativeOutput[];
}

/** Where a shard's time went (bench/llamacpp-sampling.ts reports it). */
export interface EngineTimings {
  decodes: number;
  decodeMs: number;
  /** Outputs read (sampleToken calls) and the wall time from a batch's first read to its last. */
  reads: number;
  readMs: number;
}

/** One llama.cpp context and its sequences, decoding its rows in a loop. */
export class Shard {
  readonly timings: EngineTimings = { decodes: 0, decodeMs: 0, reads: 0, readMs: 0 };
  /** Tokens each sequence's KV cache holds. */
  private cached: number[][];
  private free: number[];

  constructor(private readonly ctx: NativeContext, sequences: number, private readonly batchSize: number, readonly maxSeqLen: number) {
    this.cached = Array.from({ length: sequences }, () => []);
    this.free = Array.from({ length: sequences }, (_, s) => s);
  }

  /**
   * Runs jobs from the shared `queue` (taken as sequences free up) until it is empty. A job
   * whose take/next throws ends, its error pushed to `errors`; `slots` bounds concurrent decodes.
   */
  async run(queue: Job[], slots: Slots, errors: unknown[]): Promise<void> {
    const active: Active[] = [];
    const finish = (a: Active) => {
      this.cached[a.seq] = a.job.sequence.slice(0, a.pos);
      this.free.push(a.seq);
    };
    const advance = (a: Active): boolean => {
      try {
        if (a.outputs.length || a.outputAt.length) a.job.take(a.outputs);
        const feed = a.job.next();
        if (!feed) return false;
        if (a.pos + feed.tokens.length > this.maxSeqLen) throw new BackendError(`gguf: a row needs ${a.pos + feed.tokens.length} positions, more than the ${this.maxSeqLen} of a sequence`);
        a.feed = feed.tokens;
        a.fed = 0;
        a.outputAt = feed.outputAt;
        a.outputs = [];
        return true;
      } catch (e) {
        errors.push(e);
        return false;
      }
    };
    const fill = () => {
      while (this.free.length > 0 && queue.length > 0) {
        const a = this.start(queue.shift() as Job);
        if (advance(a) && this.skipCached(a)) active.push(a);
        else finish(a);
      }
    };
    fill();
    while (active.length > 0) {
      // One batch: every active row's unfed tokens, up to the batch size (long prefixes go in pieces).
      let room = this.batchSize;
      const parts: { a: Active; count: number; logitIdx: Uint32Array }[] = [];
      const adds: { a: Active; tokens: Uint32Array; logits: Uint32Array; count: number }[] = [];
      for (const a of active) {
        const count = Math.min(room, a.feed.length - a.fed);
        if (count <= 0) continue;
        const from = a.fed;
        const logits = a.outputAt.filter((k) => k >= from && k < from + count).map((k) => k - from);
        adds.push({ a, tokens: Uint32Array.from(a.feed.slice(from, from + count)), logits: Uint32Array.from(logits), count });
        room -= count;
        if (room === 0) break;
      }
      this.ctx.initBatch(this.batchSize - room);
      for (const p of adds) parts.push({ a: p.a, count: p.count, logitIdx: this.ctx.addToBatch(p.a.seq, p.a.pos, p.tokens, p.logits) });
      await slots.take();
      const t0 = performance.now();
      try {
        await this.ctx.decodeBatch();
      } finally {
        slots.give();
      }
      const t1 = performance.now();
      const reads: Promise<void>[] = [];
      let nReads = 0;
      for (const { a, count, logitIdx } of parts) {
        a.pos += count;
        a.fed += count;
        const { probabilities, confidence } = a.job.want;
        if (logitIdx.length === 0) continue;
        // A job's reads share its sampler (one candidate buffer): they run one after another.
        reads.push((async () => {
          for (let i = 0; i < logitIdx.length; i++) {
            const [token, probs, conf] = await this.ctx.sampleToken(logitIdx[i], a.job.sampler, probabilities, confidence);
            a.outputs.push({ token, probabilities: probs, confidence: conf });
          }
        })());
        nReads += logitIdx.length;
      }
      await Promise.all(reads);
      const tm = this.timings;
      tm.decodes++;
      tm.decodeMs += t1 - t0;
      tm.reads += nReads;
      tm.readMs += performance.now() - t1;
      // Rows whose feed is complete hand their outputs over and get their next feed.
      for (let i = 0; i < active.length; i++) {
        const a = active[i];
        if (a.fed < a.feed.length || advance(a)) continue;
        finish(a);
        active.splice(i--, 1);
      }
      fill();
    }
  }

  /** A free sequence for `job`: the one whose cache shares the longest prefix with the job's tokens. */
  private start(job: Job): Active {
    let best = 0, bestLen = -1;
    this.free.forEach((s, k) => {
      const c = commonPrefix(this.cached[s], job.sequence);
      if (c > bestLen) {
        bestLen = c;
        best = k;
      }
    });
    const seq = this.free.splice(best, 1)[0];
    return { job, seq, pos: 0, feed: [], fed: 0, outputAt: [], outputs: [] };
  }

  /**
   * Skips the first feed's tokens the sequence already caches (the first feed is the whole
   * sequence); the token of the first wanted output is always fed. False when there is nothing to do.
   */
  private skipCached(a: Active): boolean {
    const keep = Math.min(commonPrefix(this.cached[a.seq], a.feed), a.outputAt.length ? a.outputAt[0] : a.feed.length);
    this.ctx.removeTokenCellsFromSequence(a.seq, keep, -1);
    this.cached[a.seq] = this.cached[a.seq].slice(0, keep);
    a.pos = keep;
    a.fed = keep;
    return a.fed < a.feed.length;
  }
}

/** Runs every job over the shards; rejects with the first error once all have stopped. */
export async function runJobs(shards: readonly Shard[], jobs: readonly Job[], threads: number): Promise<void> {
  const queue = [...jobs];
  const errors: unknown[] = [];
  const slots = new Slots(Math.max(1, threads));
  const runs = await Promise.allSettled(shards.map((s) => s.run(queue, slots, errors)));
  for (const r of runs) if (r.status === "rejected") errors.push(r.reason);
  if (errors.length) throw errors[0];
}
