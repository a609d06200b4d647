/**
 * The work of one service job, wherever it runs: in a worker thread (the pool) or, for a small
 * request, on the event loop itself (server.ts). Returns the result and the buffers it may
 * hand over without copying.
 */
import { runMethod, type Assignment } from "../core/registry.js";
import { arrowAnswer, decodeArrowRequest, decodeJsonRequest, jsonAnswerChunks } from "./codec.js";
import { AsciiChunks } from "../io/ascii-chunks.js";
import { buffersOf, ownBuffer, type WorkerJob, type WorkerResult } from "./pool.js";

function assignmentBuffers(out: Assignment): ArrayBuffer[] {
  return buffersOf([out.advantages, out.returns, out.weights, ...Object.values(out.diag?.tokens ?? {}), ...Object.values(out.diag?.rollouts ?? {})]);
}

export function runJob(job: WorkerJob): { result: WorkerResult; transfer: ArrayBuffer[] } {
  if (job.kind === "packed") {
    const out = runMethod(job.method, job.batch, job.config);
    return { result: { kind: "packed", out }, transfer: assignmentBuffers(out) };
  }
  const req = job.encoding === "json" ? decodeJsonRequest(job.body) : decodeArrowRequest(job.body, job.method as string, job.config, job.maxDecodedBytes);
  const out = runMethod(req.method, req.batch, req.config);
  // Each chunk sits alone in its buffer (or is copied into one), so all of them move without a copy.
  const body = (job.encoding === "json" ? jsonAnswerChunks(req.method, req.batch, out) : [arrowAnswer(req.batch, out)]).map(ownBuffer);
  return { result: { kind: "encoded", body, method: req.method, rollouts: req.batch.n, tokens: req.batch.nTokens }, transfer: body.map((c) => c.buffer as ArrayBuffer) };
}

/** A reused writer for answers computed on the event loop (no chunk limit: the whole answer in one chunk), one job at a time, each answer copied out before the next. */
let smallAnswers: AsciiChunks | null = null;

export interface SmallJobResult {
  /** The answer as a string: V8 heap memory, which a burst of small answers costs the collector little, unlike a new buffer each. */
  readonly answer: string;
  readonly method: string;
  readonly rollouts: number;
  readonly tokens: number;
}

/** A JSON request small enough to run on the event loop (server.ts `inlineMaxBytes`). */
export function runSmallJsonJob(body: Uint8Array): SmallJobResult {
  const req = decodeJsonRequest(body);
  const out = runMethod(req.method, req.batch, req.config);
  smallAnswers ??= new AsciiChunks(Infinity, 1 << 16, true);
  const [bytes] = jsonAnswerChunks(req.method, req.batch, out, smallAnswers);
  const answer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
  return { answer, method: req.method, rollouts: req.batch.n, tokens: req.batch.nTokens };
}
