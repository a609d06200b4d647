/**
 * A worker thread of the service's pool: all CPU-heavy work of a request runs here, so the
 * event loop stays free for I/O and health checks. Two kinds of job:
 * - "encoded": the request body's bytes (transferred, not copied) are decoded, validated, run
 *   and the answer encoded here; the answer's bytes are transferred back.
 * - "packed": an already packed batch (its typed arrays transferred) runs through the method;
 *   the output arrays are transferred back (NDJSON streaming packs group by group).
 */
import { parentPort } from "node:worker_threads";
import { runMethod, type Assignment } from "../core/registry.js";
import { arrowAnswer, decodeArrowRequest, decodeJsonRequest, jsonAnswer } from "./codec.js";
import { toPortable } from "./errors.js";
import { buffersOf, ownBuffer, type WorkerJob, type WorkerReply, type WorkerResult } from "./pool.js";

function assignmentBuffers(out: Assignment): ArrayBuffer[] {
  return buffersOf([out.advantages, out.returns, out.weights, ...Object.values(out.diag?.tokens ?? {}), ...Object.values(out.diag?.rollouts ?? {})]);
}

function runJob(job: WorkerJob): { result: WorkerResult; transfer: ArrayBuffer[] } {
  if (job.kind === "packed") {
    const out = runMethod(job.method, job.batch, job.config);
    return { result: { kind: "packed", out }, transfer: assignmentBuffers(out) };
  }
  const req = job.encoding === "json" ? decodeJsonRequest(job.body) : decodeArrowRequest(job.body, job.method as string, job.config);
  const out = runMethod(req.method, req.batch, req.config);
  const body = ownBuffer(job.encoding === "json" ? jsonAnswer(req.method, req.batch, out) : arrowAnswer(req.batch, out));
  return { result: { kind: "encoded", body, method: req.method, rollouts: req.batch.n, tokens: req.batch.nTokens }, transfer: [body.buffer as ArrayBuffer] };
}

if (parentPort) {
  const port = parentPort;
  port.on("message", (msg: { id: number; job: WorkerJob }) => {
    let reply: WorkerReply;
    let transfer: ArrayBuffer[] = [];
    try {
      const done = runJob(msg.job);
      reply = { id: msg.id, result: done.result };
      transfer = done.transfer;
    } catch (e) {
      // Option errors of a packed job were checked on the request's header already; any left are the config's.
      reply = { id: msg.id, error: toPortable(e) };
    }
    port.postMessage(reply, transfer);
  });
  port.postMessage({ ready: true });
}
