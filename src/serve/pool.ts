/**
 * A fixed pool of worker threads (node:worker_threads) running the service's CPU-heavy jobs one
 * at a time each, with a FIFO queue in front. A job can be cancelled (time limit, client gone):
 * queued, it is dropped; running, its worker is terminated and replaced, so a runaway method
 * cannot hold a thread past the request's deadline. A worker that dies fails its job and is
 * replaced too.
 */
import { Worker } from "node:worker_threads";
import type { RolloutBatch } from "../core/batch.js";
import type { Assignment } from "../core/registry.js";
import { fromPortable, type PortableError } from "./errors.js";

export type WorkerJob =
  | {
      readonly kind: "encoded";
      readonly encoding: "json" | "arrow";
      readonly body: Uint8Array;
      readonly method?: string;
      readonly config?: unknown;
      /** What a compressed Arrow body may decode to (the body size limit). */
      readonly maxDecodedBytes?: number;
    }
  | { readonly kind: "packed"; readonly batch: RolloutBatch; readonly method: string; readonly config: unknown };

export type WorkerResult =
  | { readonly kind: "encoded"; readonly body: readonly Uint8Array[]; readonly method: string; readonly rollouts: number; readonly tokens: number }
  | { readonly kind: "packed"; readonly out: Assignment };

export type WorkerReply = { readonly id: number; readonly result: WorkerResult } | { readonly id: number; readonly error: PortableError };

/**
 * Bytes that may be transferred to another thread: a view that starts its own ArrayBuffer is kept
 * (with any unused room after it, as AsciiChunks leaves); anything else is copied first, above all
 * a Node Buffer inside the shared small-Buffer pool, whose other users would lose it.
 */
export function ownBuffer(bytes: Uint8Array): Uint8Array {
  const pooled = Buffer.isBuffer(bytes) && bytes.byteLength < bytes.buffer.byteLength;
  if (bytes.byteOffset === 0 && bytes.buffer instanceof ArrayBuffer && !pooled) return bytes;
  return new Uint8Array(bytes);
}

/** Every distinct ArrayBuffer under the given arrays (a transfer list may not name one twice). */
export function buffersOf(arrays: readonly (ArrayBufferView | null | undefined)[]): ArrayBuffer[] {
  const set = new Set<ArrayBuffer>();
  for (const a of arrays) if (a && a.buffer instanceof ArrayBuffer && a.buffer.byteLength > 0) set.add(a.buffer);
  return [...set];
}

/** The typed-array buffers of a packed batch that the worker may take over. `offsets` stays: the caller writes the answer with it. */
export function batchTransfer(batch: RolloutBatch): ArrayBuffer[] {
  const cols = [batch.tokenRewards, batch.logprobs, batch.refLogprobs, batch.entropies, batch.values, batch.stepRewards];
  const keep = batch.offsets.buffer;
  return buffersOf([
    batch.lines, batch.tokens, batch.mask, batch.reward, batch.finished, batch.stepOffsets, batch.stepEnds, batch.hasSteps,
    batch.group, batch.groupOffsets, batch.groupMembers, batch.episode, batch.t, batch.anchor,
    ...cols.flatMap((c) => (c ? [c.data, c.present] : [])),
  ]).filter((b) => b !== keep);
}

export class CancelledError extends Error {
  constructor(readonly reason: unknown) {
    super("job cancelled");
    this.name = "CancelledError";
  }
}

interface Pending {
  readonly id: number;
  readonly job: WorkerJob;
  readonly transfer: ArrayBuffer[];
  resolve(r: WorkerResult): void;
  reject(e: unknown): void;
  cleanup(): void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  current: Pending | null;
}

export class WorkerPool {
  private readonly slots = new Set<Slot>();
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closing = false;
  private readyCount = 0;
  private readyWaiters: (() => void)[] = [];
  /** Jobs that ended by terminating their worker (cancelled while running, or the worker crashed). */
  replaced = 0;

  constructor(
    readonly size: number,
    private readonly script: URL = new URL("./worker.js", import.meta.url),
  ) {
    for (let k = 0; k < size; k++) this.spawn();
  }

  /** Resolves once every worker has loaded the methods. */
  ready(): Promise<void> {
    if (this.readyCount >= this.size) return Promise.resolve();
    return new Promise((r) => this.readyWaiters.push(r));
  }

  get busy(): number {
    let b = 0;
    for (const s of this.slots) if (s.current) b++;
    return b;
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Runs a job on the next free worker. `transfer` lists buffers handed over (unusable here afterwards). */
  run(job: WorkerJob, transfer: ArrayBuffer[], signal?: AbortSignal): Promise<WorkerResult> {
    if (this.closing) return Promise.reject(new Error("worker pool is closed"));
    if (signal?.aborted) return Promise.reject(new CancelledError(signal.reason));
    return new Promise<WorkerResult>((resolve, reject) => {
      const onAbort = (): void => this.cancel(p, signal?.reason);
      const p: Pending = {
        id: this.nextId++,
        job,
        transfer,
        resolve,
        reject,
        cleanup: () => signal?.removeEventListener("abort", onAbort),
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.queue.push(p);
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const p of this.queue.splice(0)) this.settle(p, null, new Error("worker pool is closed"));
    await Promise.all([...this.slots].map((s) => s.worker.terminate()));
    this.slots.clear();
  }

  private spawn(): void {
    const slot: Slot = { worker: new Worker(this.script), ready: false, current: null };
    this.slots.add(slot);
    slot.worker.on("message", (msg: WorkerReply | { ready: true }) => {
      if ("ready" in msg) {
        slot.ready = true;
        this.readyCount++;
        if (this.readyCount >= this.size) for (const w of this.readyWaiters.splice(0)) w();
        this.dispatch();
        return;
      }
      const p = slot.current;
      if (!p || p.id !== msg.id) return;
      slot.current = null;
      if ("error" in msg) this.settle(p, null, fromPortable(msg.error as PortableError));
      else this.settle(p, msg.result, null);
      this.dispatch();
    });
    const lost = (why: string): void => {
      if (!this.slots.has(slot)) return;
      this.slots.delete(slot);
      if (slot.ready) this.readyCount--;
      const p = slot.current;
      slot.current = null;
      if (p) {
        this.replaced++;
        this.settle(p, null, new Error(`worker thread failed: ${why}`));
      }
      if (!this.closing) {
        this.spawn();
        this.dispatch();
      }
    };
    slot.worker.on("error", (e) => lost(e.message));
    slot.worker.on("exit", (code) => lost(`exit ${code}`));
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (!slot.ready || slot.current) continue;
      const p = this.queue.shift() as Pending;
      slot.current = p;
      slot.worker.postMessage({ id: p.id, job: p.job }, p.transfer);
    }
  }

  private cancel(p: Pending, reason: unknown): void {
    const at = this.queue.indexOf(p);
    if (at >= 0) {
      this.queue.splice(at, 1);
      this.settle(p, null, new CancelledError(reason));
      return;
    }
    for (const slot of this.slots) {
      if (slot.current !== p) continue;
      // The only way to stop synchronous work in a thread: end the thread, start a fresh one.
      this.slots.delete(slot);
      if (slot.ready) this.readyCount--;
      slot.current = null;
      this.replaced++;
      void slot.worker.terminate();
      this.settle(p, null, new CancelledError(reason));
      if (!this.closing) {
        this.spawn();
        this.dispatch();
      }
      return;
    }
  }

  private settle(p: Pending, result: WorkerResult | null, error: unknown): void {
    p.cleanup();
    if (error !== null) p.reject(error);
    else p.resolve(result as WorkerResult);
  }
}
