/**
 * The worker pool: jobs run and answer in order of arrival per worker; a running job past its
 * deadline is cancelled by ending its thread, which is replaced so the pool keeps its size; a
 * queued job is dropped; a worker that dies fails only its own job.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { RolloutBatch } from "../../src/core/batch.js";
import { CancelledError, WorkerPool, type WorkerJob } from "../../src/serve/pool.js";

const SPIN = new URL("./fixtures/spin-worker.js", import.meta.url);

function job(method: string): WorkerJob {
  return { kind: "packed", batch: {} as RolloutBatch, method, config: {} };
}

describe("WorkerPool", () => {
  it("cancels a running job by replacing its worker, drops a queued one, and keeps serving", async () => {
    const pool = new WorkerPool(1, SPIN);
    try {
      await pool.ready();
      const first = await pool.run(job("ok"), []);
      assert.equal(first.kind, "packed");
      const controller = new AbortController();
      const spinning = pool.run(job("spin"), [], controller.signal);
      const queuedController = new AbortController();
      const queued = pool.run(job("ok"), [], queuedController.signal);
      const after = pool.run(job("ok"), []);
      queuedController.abort("client left");
      await assert.rejects(queued, (e: unknown) => e instanceof CancelledError && e.reason === "client left");
      assert.equal(pool.busy, 1);
      controller.abort("deadline");
      await assert.rejects(spinning, (e: unknown) => e instanceof CancelledError && e.reason === "deadline");
      assert.equal(pool.replaced, 1);
      // The job queued behind the spinning one runs on the replacement worker.
      const r = await after;
      assert.equal(r.kind, "packed");
      assert.equal(pool.busy, 0);
      assert.equal(pool.queued, 0);
      assert.equal(pool.size, 1);
    } finally {
      await pool.close();
    }
  });

  it("a worker that dies fails its job only; the next job runs on a new worker", async () => {
    const pool = new WorkerPool(1, SPIN);
    try {
      await pool.ready();
      await assert.rejects(pool.run(job("crash"), []), /worker thread failed/);
      const r = await pool.run(job("ok"), []);
      assert.equal(r.kind, "packed");
      assert.equal(pool.replaced, 1);
    } finally {
      await pool.close();
    }
  });

  it("an already aborted signal never starts the job; a closed pool refuses jobs", async () => {
    const pool = new WorkerPool(1, SPIN);
    await pool.ready();
    await assert.rejects(pool.run(job("ok"), [], AbortSignal.abort("x")), CancelledError);
    await pool.close();
    await assert.rejects(pool.run(job("ok"), []), /closed/);
  });
});
