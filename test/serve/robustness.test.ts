/**
 * The service under abuse and load: a slow-loris client is cut off by the time limit (408), a
 * request past its time limit gets 408 and the server carries on, a client that leaves
 * mid-stream leaves nothing behind, 200 concurrent requests are all answered correctly (503 +
 * Retry-After only past --max-concurrent), /healthz answers while every worker is busy, and
 * /metrics counts requests and tokens.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import { request } from "node:http";
import type { RunningServer } from "../../src/serve/server.js";
import { CHUNK_TOKENS } from "../../src/serve/ndjson.js";
import { assertSameRows, expectedRows, metricValue, ndjsonBody, postJson, startTestServer, syntheticRows, type AdvantageRowJson } from "./helpers.js";

async function metrics(server: RunningServer): Promise<string> {
  return (await fetch(server.url + "/metrics")).text();
}

/** Polls until `ok` holds (a server's bookkeeping settles after the client sees the end). */
async function eventually(what: string, ok: () => Promise<boolean>): Promise<void> {
  for (let k = 0; k < 200; k++) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`never: ${what}`);
}

/** Writes raw bytes, a few at a time with pauses, and collects what comes back until the socket closes. */
function slowClient(url: string, head: string, trickle: string, everyMs: number): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let received = "";
    let k = 0;
    const timer = setInterval(() => {
      if (k < trickle.length && !socket.destroyed) socket.write(trickle[k++]);
    }, everyMs);
    socket.on("data", (d) => (received += d.toString()));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearInterval(timer);
      resolve(received);
    });
    socket.write(head);
  });
}

describe("service robustness", () => {
  it("slow-loris: a body trickling in is cut off with 408 by the time limit; headers trickling in too", async () => {
    const server = await startTestServer({ timeoutMs: 600 });
    try {
      const body = JSON.stringify({ method: "grpo", rollouts: syntheticRows(2, 2, 3) });
      const head = `POST /v1/assign HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
      const got = await slowClient(server.url, head, body, 100);
      assert.match(got, /^HTTP\/1\.1 408/);
      assert.match(got, /\{"error":\{"field":null,"line":null,"message":"request not received within 0\.6 s/);
      const headers = await slowClient(server.url, "", head, 100);
      assert.ok(headers === "" || /^HTTP\/1\.1 408/.test(headers), headers);
      assert.equal((await fetch(server.url + "/healthz")).status, 200);
    } finally {
      await server.close();
    }
  });

  it("a request past its time limit gets 408 and the server carries on", async () => {
    const server = await startTestServer({ timeoutMs: 500, workers: 1 });
    try {
      // Far more work than 500 ms: gae over 4M tokens (decoding alone takes longer).
      const rows = syntheticRows(1000, 8, 500).map((r) => ({ ...r, values: new Array((r.tokens as number[]).length).fill(0.5) }));
      const body = JSON.stringify({ method: "gae", rollouts: rows });
      const r = await fetch(server.url + "/v1/assign", { method: "POST", body, headers: { "content-type": "application/json" } }).then(
        async (res) => ({ status: res.status, text: await res.text() }),
        () => ({ status: 408, text: "" }), // cut off while still sending: also the time limit
      );
      assert.equal(r.status, 408, r.text.slice(0, 200));
      if (r.text) assert.match((JSON.parse(r.text) as { error: { message: string } }).error.message, /--timeout-s/);
      // The stopped worker's replacement loads the methods first; then the server answers as before.
      await eventually("the pool is idle", async () => server.pool.busy === 0 && server.pool.queued === 0);
      await server.pool.ready();
      const small = syntheticRows(2, 2, 3);
      const ok = await postJson(server.url, { method: "grpo", rollouts: small });
      assert.equal(ok.status, 200);
      assertSameRows((JSON.parse(ok.body.toString()) as { advantages: AdvantageRowJson[] }).advantages, expectedRows("grpo", small), "after a timeout");
      await eventually("the pool is idle", async () => server.pool.busy === 0 && server.pool.queued === 0);
    } finally {
      await server.close();
    }
  });

  it("a client that disconnects mid-stream: the request is counted aborted, nothing stays in flight, the server answers", async () => {
    const server = await startTestServer({ workers: 1 });
    try {
      const rows = syntheticRows(Math.ceil((6 * CHUNK_TOKENS) / (4 * 100)), 4, 100);
      const text = ndjsonBody({ method: "grpo" }, rows);
      await new Promise<void>((resolve) => {
        const req = request(server.url + "/v1/assign", { method: "POST", headers: { "content-type": "application/x-ndjson" } }, (res) => {
          res.once("data", () => {
            req.destroy();
            resolve();
          });
        });
        req.on("error", () => {});
        // The body goes out in pieces; the client leaves at the first answer bytes.
        for (let k = 0; k < text.length; k += 1 << 16) req.write(text.slice(k, k + (1 << 16)));
        req.end();
      });
      await eventually("nothing in flight", async () => metricValue(await metrics(server), "creditflow_in_flight_requests") === 0);
      const m = await metrics(server);
      assert.equal(metricValue(m, 'creditflow_requests_total{route="/v1/assign",method="grpo",status="aborted"}'), 1);
      await eventually("the pool is idle", async () => server.pool.busy === 0 && server.pool.queued === 0);
      assert.equal((await fetch(server.url + "/healthz")).status, 200);
      const small = syntheticRows(3, 2, 4);
      const ok = await postJson(server.url, { method: "grpo", rollouts: small });
      assertSameRows((JSON.parse(ok.body.toString()) as { advantages: AdvantageRowJson[] }).advantages, expectedRows("grpo", small), "after a disconnect");
    } finally {
      await server.close();
    }
  });

  it("NDJSON: a client that sends its whole body before reading still gets the whole answer (buffered, no deadlock)", async () => {
    const server = await startTestServer();
    try {
      // About 300k tokens: an answer of ~10 MB, far past the socket buffers, under the 16 MiB the service buffers.
      const rows = syntheticRows(Math.ceil((300_000) / (8 * 150)), 8, 150);
      const body = ndjsonBody({ method: "grpo" }, rows);
      const { hostname, port } = new URL(server.url);
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), hostname);
        const chunks: Buffer[] = [];
        socket.on("error", reject);
        socket.write(`POST /v1/assign HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`);
        // Not reading: the socket stays paused until everything is written.
        socket.write(body, () => {
          socket.on("data", (d: Buffer) => chunks.push(d));
          socket.on("end", () => resolve(Buffer.concat(chunks).toString("latin1")));
        });
      });
      assert.match(answer, /^HTTP\/1\.1 200/);
      // De-chunk: the body is a sequence of <hex size>\r\n<data>\r\n ending with 0\r\n\r\n.
      let rest = answer.slice(answer.indexOf("\r\n\r\n") + 4);
      let text = "";
      for (;;) {
        const nl = rest.indexOf("\r\n");
        const size = parseInt(rest.slice(0, nl), 16);
        if (size === 0) break;
        text += rest.slice(nl + 2, nl + 2 + size);
        rest = rest.slice(nl + 2 + size + 2);
      }
      const got = text.trim().split("\n").map((l) => JSON.parse(l) as AdvantageRowJson);
      assertSameRows(got, expectedRows("grpo", rows), "non-reading client");
    } finally {
      await server.close();
    }
  });

  it("200 concurrent requests are all answered correctly within the limit; past it, only 503 + Retry-After", async () => {
    const payloads = Array.from({ length: 200 }, (_, k) => syntheticRows(2 + (k % 3), 4, 5 + (k % 7), `c${k}-`));
    const expected = payloads.map((rows) => expectedRows("grpo", rows));
    for (const limit of [200, 10]) {
      const server = await startTestServer({ maxConcurrent: limit });
      try {
        const answers = await Promise.all(payloads.map((rows) => postJson(server.url, { method: "grpo", rollouts: rows })));
        let ok = 0;
        answers.forEach((a, k) => {
          if (a.status === 503) {
            assert.equal(a.headers.get("retry-after"), "1");
            return;
          }
          assert.equal(a.status, 200, a.body.toString());
          assertSameRows((JSON.parse(a.body.toString()) as { advantages: AdvantageRowJson[] }).advantages, expected[k], `request ${k}`);
          ok++;
        });
        if (limit >= payloads.length) assert.equal(ok, payloads.length, "no 503 within the limit");
        else assert.ok(ok >= limit, `${ok} answered, at least the ${limit} admitted ones`);
        assert.equal(metricValue(await metrics(server), "creditflow_in_flight_requests"), 0);
      } finally {
        await server.close();
      }
    }
  });

  it("/healthz answers while every worker is busy", async () => {
    const server = await startTestServer({ workers: 1 });
    try {
      const rows = syntheticRows(250, 8, 500).map((r) => ({ ...r, values: new Array((r.tokens as number[]).length).fill(0.25) }));
      const body = JSON.stringify({ method: "gae", rollouts: rows });
      let assignDone = 0;
      const assign = fetch(server.url + "/v1/assign", { method: "POST", body, headers: { "content-type": "application/json" } }).then(async (r) => {
        await r.arrayBuffer();
        assignDone = performance.now();
        return r.status;
      });
      await eventually("the worker is busy", async () => server.pool.busy === 1);
      const h = await fetch(server.url + "/healthz");
      const healthDone = performance.now();
      assert.equal(h.status, 200);
      assert.equal(assignDone, 0, "health answered only after the heavy request finished");
      assert.ok(healthDone > 0);
      assert.equal(await assign, 200);
    } finally {
      await server.close();
    }
  });

  it("/metrics: requests, latency count and tokens move by exactly what was served", async () => {
    const server = await startTestServer();
    try {
      const rows = syntheticRows(3, 4, 7);
      const before = await metrics(server);
      await postJson(server.url, { method: "rloo", rollouts: rows });
      await postJson(server.url, { method: "rloo", rollouts: [{ id: "x" }] });
      await eventually("both requests recorded", async () => metricValue(await metrics(server), 'creditflow_request_duration_seconds_count{route="/v1/assign"}') === 2);
      const after = await metrics(server);
      const delta = (s: string): number => metricValue(after, s) - metricValue(before, s);
      assert.equal(delta('creditflow_requests_total{route="/v1/assign",method="rloo",status="200"}'), 1);
      assert.equal(delta('creditflow_requests_total{route="/v1/assign",method="",status="400"}'), 1);
      assert.equal(delta('creditflow_tokens_total{method="rloo"}'), 3 * 4 * 7);
      assert.equal(delta('creditflow_rollouts_total{method="rloo"}'), 12);
      assert.match(after, /# TYPE creditflow_request_duration_seconds histogram/);
      assert.equal(metricValue(after, "creditflow_workers"), 2);
      const ready = await fetch(server.url + "/readyz");
      assert.equal(ready.status, 200);
    } finally {
      await server.close();
    }
  });
});
