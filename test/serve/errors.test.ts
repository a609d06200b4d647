/**
 * Bad requests get one JSON error {"error": {field, line, message}} with the right status:
 * malformed JSON, wrong field types (field and rollout number), unknown method or option,
 * bodies over the size limit (413, JSON and NDJSON, announced or chunked), unknown routes (404),
 * wrong verbs (405), unsupported media types (415), and NDJSON failures before and after the
 * answer started streaming.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import type { RolloutRow } from "../../src/core/rows.js";
import { rolloutsArrow } from "../../src/io/arrow.js";
import { CHUNK_TOKENS } from "../../src/serve/ndjson.js";
import type { RunningServer } from "../../src/serve/server.js";
import { ndjsonBody, post, postJson, startTestServer, syntheticRows, type Answer } from "./helpers.js";

interface ErrorBody {
  error: { field: string | null; line: number | null; message: string; status?: number };
}

function errorOf(a: Answer): ErrorBody["error"] {
  assert.match(a.headers.get("content-type") ?? "", /application\/json/);
  const body = JSON.parse(a.body.toString()) as ErrorBody;
  assert.deepEqual(Object.keys(body.error).sort(), ["field", "line", "message"]);
  return body.error;
}

const ROW = { id: "a", group: "g", tokens: [1, 2, 3], reward: 1 };

describe("service errors", () => {
  let server: RunningServer;
  before(async () => {
    server = await startTestServer({ maxBodyBytes: 64 * 1024 });
  });
  after(() => server.close());

  it("malformed JSON: 400, no field, no line", async () => {
    const a = await post(server.url, '{"method": "grpo", "rollouts": [', "application/json");
    assert.equal(a.status, 400);
    const e = errorOf(a);
    assert.equal(e.field, null);
    assert.equal(e.line, null);
    assert.match(e.message, /invalid JSON/);
  });

  it("wrong field types name the field and the rollout number", async () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ tokens: "abc" }, "tokens", /array of non-negative integers/],
      [{ reward: "1" }, "reward", /finite number/],
      [{ mask: [1, 2, 1] }, "mask", /entry 1/],
      [{ logprobs: [0, 0] }, "logprobs", /expected 3 entries/],
      [{ group: 7 }, "group", /string/],
      [{ extra: 1 }, "extra", /unknown field/],
      [{ signals: { nobody_reads_this: 1 } }, "signals.nobody_reads_this", /no method reads/],
    ];
    for (const [patch, field, message] of cases) {
      const rows = [ROW, { ...ROW, id: "b" }, { ...ROW, id: "c", ...patch }];
      const j = await postJson(server.url, { method: "grpo", rollouts: rows });
      assert.equal(j.status, 400, field);
      assert.deepEqual({ ...errorOf(j), message: "" }, { field, line: 3, message: "" });
      assert.match(errorOf(j).message, message);
      // The same in the streamed encoding: the header is not a rollout, so the bad one is still 3.
      const n = await post(server.url, ndjsonBody({ method: "grpo" }, rows), "application/x-ndjson");
      assert.equal(n.status, 400, field);
      assert.deepEqual({ ...errorOf(n), message: "" }, { field, line: 3, message: "" });
      // Only list and JSON columns can carry these mistakes through typed Arrow columns.
      if (field !== "mask" && field !== "logprobs" && !field.startsWith("signals")) continue;
      const a = await post(server.url, rolloutsArrow(rows as unknown as RolloutRow[], "stream"), "application/vnd.apache.arrow.stream", "/v1/assign?method=grpo");
      assert.equal(a.status, 400, field);
      assert.equal(errorOf(a).line, 3);
    }
  });

  it("a non-finite value never passes: 1e999 reward is refused", async () => {
    const j = await post(server.url, `{"method":"grpo","rollouts":[{"id":"a","group":"g","tokens":[1],"reward":1e999}]}`, "application/json");
    assert.equal(j.status, 400);
    assert.deepEqual({ ...errorOf(j), message: "" }, { field: "reward", line: 1, message: "" });
  });

  it("request-level fields: method, config, rollouts, duplicate ids, missing method input", async () => {
    const cases: [unknown, string | null, number | null][] = [
      [{ rollouts: [] }, "method", null],
      [{ method: "nope", rollouts: [] }, "method", null],
      [{ method: "grpo", config: { nope: 1 }, rollouts: [] }, "config", null],
      [{ method: "grpo", config: { eps: "x" }, rollouts: [] }, "config", null],
      [{ method: "grpo", config: [1], rollouts: [] }, "config", null],
      [{ method: "grpo" }, "rollouts", null],
      [{ method: "grpo", rollouts: [], extra: 1 }, "extra", null],
      [[1, 2], null, null],
      [{ method: "grpo", rollouts: [ROW, ROW] }, "id", 2],
      [{ method: "gae", rollouts: [ROW] }, "values", 1],
    ];
    for (const [payload, field, line] of cases) {
      const a = await postJson(server.url, payload);
      assert.equal(a.status, 400, JSON.stringify(payload));
      const e = errorOf(a);
      assert.equal(e.field, field, JSON.stringify(payload));
      assert.equal(e.line, line, JSON.stringify(payload));
    }
    const noMethod = await post(server.url, rolloutsArrow([ROW as RolloutRow], "stream"), "application/vnd.apache.arrow.stream");
    assert.equal(noMethod.status, 400);
    assert.equal(errorOf(noMethod).field, "method");
    const badConfig = await post(server.url, rolloutsArrow([ROW as RolloutRow], "stream"), "application/vnd.apache.arrow.stream", "/v1/assign?method=grpo&config=%7Bx");
    assert.equal(errorOf(badConfig).field, "config");
    const notArrow = await post(server.url, "hello", "application/vnd.apache.arrow.stream", "/v1/assign?method=grpo");
    assert.equal(notArrow.status, 400);
    assert.match(errorOf(notArrow).message, /Arrow/);
  });

  it("NDJSON header errors and an empty body", async () => {
    for (const [body, field] of [
      ["", null],
      ['{"method": "grpo"\n', "header"],
      ['[1]\n{"id":"a"}\n', "header"],
      ['{"method": "grpo", "rollouts": []}\n', "rollouts"],
      ['{"method": "nope"}\n', "method"],
    ] as const) {
      const a = await post(server.url, body, "application/x-ndjson");
      assert.equal(a.status, 400, body);
      assert.equal(errorOf(a).field, field, body);
    }
  });

  it("NDJSON: a group-local method refuses a group that comes back after another (before any output)", async () => {
    const rows = [
      { ...ROW, id: "a", group: "g1" },
      { ...ROW, id: "b", group: "g2" },
      { ...ROW, id: "c", group: "g1" },
    ];
    const a = await post(server.url, ndjsonBody({ method: "grpo" }, rows), "application/x-ndjson");
    assert.equal(a.status, 400);
    assert.deepEqual({ ...errorOf(a), message: "" }, { field: "group", line: 3, message: "" });
    // A batch method takes the same rows in any order.
    const b = await post(server.url, ndjsonBody({ method: "reinforce++" }, rows), "application/x-ndjson");
    assert.equal(b.status, 200);
  });

  it("oversized bodies: 413 for JSON, Arrow and NDJSON, announced or streamed without a length", async () => {
    const big = { method: "grpo", rollouts: syntheticRows(40, 4, 100) };
    assert.ok(JSON.stringify(big).length > 64 * 1024);
    const j = await postJson(server.url, big);
    assert.equal(j.status, 413);
    assert.equal(errorOf(j).field, "body");
    const n = await post(server.url, ndjsonBody({ method: "grpo" }, big.rollouts), "application/x-ndjson");
    assert.equal(n.status, 413);
    assert.equal(errorOf(n).field, "body");
    // Chunked (no Content-Length): counted as it arrives.
    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(server.url + "/v1/assign", { method: "POST", headers: { "content-type": "application/x-ndjson", "transfer-encoding": "chunked" } }, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode as number, body }));
        res.on("error", reject);
      });
      req.on("error", () => {}); // the server may close while we still write
      const text = ndjsonBody({ method: "reinforce++" }, big.rollouts);
      for (let k = 0; k < text.length; k += 8192) req.write(text.slice(k, k + 8192));
      req.end();
    });
    assert.equal(chunked.status, 413);
    assert.equal((JSON.parse(chunked.body) as ErrorBody).error.field, "body");
  });

  it("unknown routes 404, wrong verbs 405 with Allow, no body 400, unsupported media types 415", async () => {
    const nf = await fetch(server.url + "/v2/assign");
    assert.equal(nf.status, 404);
    assert.match(((await nf.json()) as ErrorBody).error.message, /no route/);
    const get = await fetch(server.url + "/v1/assign");
    assert.equal(get.status, 405);
    assert.equal(get.headers.get("allow"), "POST");
    const del = await fetch(server.url + "/healthz", { method: "DELETE" });
    assert.equal(del.status, 405);
    const empty = await fetch(server.url + "/v1/assign", { method: "POST" });
    assert.equal(empty.status, 400);
    assert.equal(((await empty.json()) as ErrorBody).error.field, "body");
    const txt = await post(server.url, "x", "text/plain");
    assert.equal(txt.status, 415);
    assert.equal(errorOf(txt).field, "content-type");
  });
});

describe("NDJSON failure after the answer started streaming", () => {
  let server: RunningServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  it("ends with an error line and an aborted response, never a clean end", async () => {
    // More than one chunk of good groups, so output is flowing, then a bad row.
    const rows: Record<string, unknown>[] = syntheticRows(Math.ceil((1.5 * CHUNK_TOKENS) / (4 * 50)), 4, 50);
    const bad = rows.length + 1;
    rows.push({ id: "bad", group: "last", tokens: [1, 2], reward: "x" });
    const result = await new Promise<{ status: number; text: string; aborted: boolean }>((resolve) => {
      const req = request(server.url + "/v1/assign", { method: "POST", headers: { "content-type": "application/x-ndjson" } }, (res) => {
        let text = "";
        let aborted = false;
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("aborted", () => (aborted = true));
        res.on("error", () => (aborted = true));
        res.on("close", () => resolve({ status: res.statusCode as number, text, aborted: aborted || !res.complete }));
      });
      req.on("error", () => {});
      req.end(ndjsonBody({ method: "grpo" }, rows));
    });
    assert.equal(result.status, 200);
    assert.ok(result.aborted, "the response must not end cleanly");
    const lines = result.text.split("\n").filter((l) => l !== "");
    assert.ok(lines.length > 1);
    const last = JSON.parse(lines[lines.length - 1]) as ErrorBody;
    assert.deepEqual({ ...last.error, message: "" }, { field: "reward", line: bad, message: "", status: 400 });
    // Every line before it is a complete advantage row of the rows in order.
    lines.slice(0, -1).forEach((l, i) => assert.equal((JSON.parse(l) as { id: string }).id, rows[i].id));
    // Counted as the error it was, not as a success or a client that left.
    const counted = /creditflow_requests_total\{route="\/v1\/assign",method="grpo",status="400"\} 1/;
    let m = "";
    for (let k = 0; k < 100 && !counted.test(m); k++) {
      if (k > 0) await new Promise((r) => setTimeout(r, 20)); // the server records the request once its socket has closed
      m = await (await fetch(server.url + "/metrics")).text();
    }
    assert.match(m, counted);
  });
});
