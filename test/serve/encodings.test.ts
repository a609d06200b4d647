/**
 * Every method through each encoding of POST /v1/assign (JSON, NDJSON, Arrow IPC) gives exactly
 * the values runMethod gives in process on the same rows, including NDJSON streamed in several
 * chunks, and NDJSON for batch methods.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { listMethods } from "../../src/core/registry.js";
import type { RolloutRow } from "../../src/core/rows.js";
import { rolloutsArrow } from "../../src/io/arrow.js";
import { CHUNK_TOKENS } from "../../src/serve/ndjson.js";
import type { RunningServer } from "../../src/serve/server.js";
import { arrowRows, assertSameRows, exampleRows, expectedRows, ndjsonBody, ndjsonLines, post, postJson, startTestServer, syntheticRows, type AdvantageRowJson } from "./helpers.js";

const ARROW = "application/vnd.apache.arrow.stream";

describe("POST /v1/assign encodings equal runMethod", () => {
  let server: RunningServer;
  // Small bodies run on the event loop by default; this one sends every request to a worker.
  let workersOnly: RunningServer;
  before(async () => {
    server = await startTestServer();
    workersOnly = await startTestServer({ inlineMaxBytes: 0 });
  });
  after(async () => {
    await server.close();
    await workersOnly.close();
  });

  for (const spec of listMethods()) {
    it(`${spec.name}: JSON, NDJSON and Arrow on examples/${spec.example}`, async () => {
      const rows = exampleRows(spec.example as string);
      const expected = expectedRows(spec.name, rows);

      const j = await postJson(server.url, { method: spec.name, rollouts: rows });
      assert.equal(j.status, 200, j.body.toString());
      assert.match(j.headers.get("content-type") ?? "", /application\/json/);
      const answer = JSON.parse(j.body.toString()) as { method: string; advantages: AdvantageRowJson[] };
      assert.equal(answer.method, spec.name);
      assertSameRows(answer.advantages, expected, "json");

      const n = await post(server.url, ndjsonBody({ method: spec.name }, rows), "application/x-ndjson");
      assert.equal(n.status, 200, n.body.toString());
      assertSameRows(ndjsonLines(n.body) as AdvantageRowJson[], expected, "ndjson");

      const a = await post(server.url, rolloutsArrow(rows as unknown as RolloutRow[], "stream"), `${ARROW}`, `/v1/assign?method=${encodeURIComponent(spec.name)}`);
      assert.equal(a.status, 200, a.body.toString());
      assert.equal(a.headers.get("content-type"), ARROW);
      assertSameRows(arrowRows(a.body), expected, "arrow");

      // On the event loop or in a worker: the same bytes.
      const jw = await postJson(workersOnly.url, { method: spec.name, rollouts: rows });
      assert.equal(jw.body.toString(), j.body.toString());
      const aw = await post(workersOnly.url, rolloutsArrow(rows as unknown as RolloutRow[], "stream"), `${ARROW}`, `/v1/assign?method=${encodeURIComponent(spec.name)}`);
      assert.deepEqual(arrowRows(aw.body), arrowRows(a.body));
    });
  }

  it("a JSON answer of several MiB is streamed from the worker's chunks and equals runMethod, with its Content-Length", async () => {
    // grpo's answer is runs of equal values, gae's distinct values (token-level values).
    const plain = syntheticRows(40, 8, 400);
    for (const method of ["grpo", "gae"]) {
      const rows = method === "gae" ? plain.map((r) => ({ ...r, values: (r.tokens as number[]).map((t) => (t % 10) / 10) })) : plain;
      const expected = expectedRows(method, rows);
      const j = await postJson(server.url, { method, rollouts: rows });
      assert.equal(j.status, 200, j.body.toString().slice(0, 300));
      assert.ok(j.body.length > 2 << 20, `answer of ${j.body.length} bytes`);
      assert.equal(Number(j.headers.get("content-length")), j.body.length);
      assertSameRows((JSON.parse(j.body.toString()) as { advantages: AdvantageRowJson[] }).advantages, expected, `${method} large json`);
    }
  });


  it("config reaches the method in every encoding (grpo without std normalisation, tempo tdWeight)", async () => {
    const rows = syntheticRows(3, 4, 6);
    for (const [method, config] of [["grpo", { normByStd: false }], ["tempo", { tdWeight: 0.5 }]] as const) {
      const expected = expectedRows(method, rows, config);
      // The option must change the answer, or this test would not see it ignored.
      assert.notDeepEqual(expected, expectedRows(method, rows));
      const j = await postJson(server.url, { method, config, rollouts: rows });
      assertSameRows((JSON.parse(j.body.toString()) as { advantages: AdvantageRowJson[] }).advantages, expected, `${method} json`);
      const n = await post(server.url, ndjsonBody({ method, config }, rows), "application/x-ndjson");
      assertSameRows(ndjsonLines(n.body) as AdvantageRowJson[], expected, `${method} ndjson`);
      const q = `/v1/assign?method=${method}&config=${encodeURIComponent(JSON.stringify(config))}`;
      const a = await post(server.url, rolloutsArrow(rows as unknown as RolloutRow[], "stream"), ARROW, q);
      assertSameRows(arrowRows(a.body), expected, `${method} arrow`);
    }
  });

  it("NDJSON over several chunks (group-local grpo, batch-wide gae) equals one in-process run; blank lines and CRLF are fine", async () => {
    // 3 chunks of whole groups for the group-local method.
    const rows = syntheticRows(Math.ceil((2.5 * CHUNK_TOKENS) / (4 * 50)), 4, 50);
    for (const method of ["grpo", "rloo", "gae"]) {
      const withValues = method === "gae" ? rows.map((r) => ({ ...r, values: (r.tokens as number[]).map((t) => (t % 10) / 10) })) : rows;
      const body = ndjsonBody({ method }, withValues).replace(/\n/g, "\r\n").replace("\r\n", "\r\n\r\n");
      const r = await post(server.url, body, "application/x-ndjson");
      assert.equal(r.status, 200, r.body.toString().slice(0, 300));
      assertSameRows(ndjsonLines(r.body) as AdvantageRowJson[], expectedRows(method, withValues), method);
    }
  });

  it("an empty batch answers empty in every encoding", async () => {
    const j = await postJson(server.url, { method: "grpo", rollouts: [] });
    assert.deepEqual(JSON.parse(j.body.toString()), { method: "grpo", advantages: [] });
    const n = await post(server.url, ndjsonBody({ method: "grpo" }, []), "application/x-ndjson");
    assert.equal(n.status, 200);
    assert.equal(n.body.length, 0);
  });

  it("GET /v1/methods is exactly what 'creditflow methods --json' prints", async () => {
    const { methodsJson } = await import("../../src/cli/methods.js");
    const r = await fetch(server.url + "/v1/methods");
    assert.equal(r.status, 200);
    assert.equal(await r.text(), JSON.stringify(methodsJson(), null, 2) + "\n");
  });
});
