/**
 * A worker thread of the service's pool: all CPU-heavy work of a request runs here, so the
 * event loop stays free for I/O and health checks. Two kinds of job:
 * - "encoded": the request body's bytes (transferred, not copied) are decoded, validated, run
 *   and the answer encoded here; the answer's bytes are transferred back.
 * - "packed": an already packed batch (its typed arrays transferred) runs through the method;
 *   the output arrays are transferred back (NDJSON streaming packs group by group).
 */
import { parentPort } from "node:worker_threads";
import { toPortable } from "./errors.js";
import { runJob } from "./jobs.js";
import type { WorkerJob, WorkerReply } from "./pool.js";

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
