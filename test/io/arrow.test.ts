/**
 * Arrow IPC rollouts and advantages (src/io/arrow.ts) and `assign` with Arrow: rows survive a
 * round trip through both IPC formats exactly; other writers' types (int64 lists, float32,
 * dictionary strings) read as the same rows; bad cells are errors naming the row and column;
 * `assign --format arrow` / `.arrow` write runMethod's values and read Arrow on stdin.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Dictionary, Field, Float32, Int32, Int64, List, Table, tableFromIPC, tableToIPC, Utf8, vectorFromArray } from "apache-arrow";
import { InputError } from "../../src/core/errors.js";
import { knownSignals } from "../../src/core/registry.js";
import { batchFromObjects, unpackRows, type RolloutRow } from "../../src/core/rows.js";
import { readArrowRollouts, rolloutsArrow } from "../../src/io/arrow.js";
import { arrowRows, assertSameRows, exampleRows, expectedRows, ROOT } from "../serve/helpers.js";

const opts = { knownSignals: knownSignals() };
const BIN = join(ROOT, "bin", "creditflow.js");

function rowsOf(file: string): RolloutRow[] {
  return unpackRows(batchFromObjects(exampleRows(file), file, opts));
}

describe("Arrow IPC rollouts", () => {
  it("round-trip every example exactly, as IPC stream and file (signals, meta, steps, episodes, anchors, masks)", () => {
    for (const file of ["plain.jsonl", "agents.jsonl", "steps.jsonl", "tool-turns.jsonl", "judged.jsonl", "sotopia.jsonl", "thr.jsonl"]) {
      const rows = rowsOf(file);
      for (const format of ["stream", "file"] as const) {
        const back = unpackRows(readArrowRollouts(rolloutsArrow(rows, format), file, opts));
        assert.deepEqual(back, rows, `${file} ${format}`);
      }
    }
  });

  it("reads other writers' types: int64 and float32 lists, dictionary-encoded strings", () => {
    const table = new Table({
      id: vectorFromArray(["a", "b"], new Dictionary(new Utf8(), new Int32())),
      group: vectorFromArray(["g", "g"], new Utf8()),
      tokens: vectorFromArray([[1n, 2n], [3n]], new List(new Field("item", new Int64()))),
      reward: vectorFromArray([1, 0], new Float32()),
      logprobs: vectorFromArray([[-0.5, -0.25], null], new List(new Field("item", new Float32()))),
    });
    const batch = readArrowRollouts(tableToIPC(table, "stream"), "x.arrows", opts);
    assert.deepEqual(unpackRows(batch), [
      { id: "a", group: "g", tokens: [1, 2], reward: 1, logprobs: [-0.5, -0.25] },
      { id: "b", group: "g", tokens: [3], reward: 0 },
    ]);
  });

  it("bad cells are input errors naming the row and the column", () => {
    const cases: [Table, number, string][] = [
      [new Table({ id: vectorFromArray(["a"], new Utf8()), group: vectorFromArray(["g"], new Utf8()), tokens: vectorFromArray([[2n ** 60n]], new List(new Field("item", new Int64()))), reward: vectorFromArray([1]) }), 1, "tokens"],
      [new Table({ id: vectorFromArray(["a", "b"], new Utf8()), group: vectorFromArray(["g", "g"], new Utf8()), tokens: vectorFromArray([[1], [2]], new List(new Field("item", new Int32()))), reward: vectorFromArray([1, 2]), signals: vectorFromArray(['{"x": 1}', "{oops"], new Utf8()) }), 2, "signals"],
      [new Table({ id: vectorFromArray(["a", "b"], new Utf8()), group: vectorFromArray(["g", "g"], new Utf8()), tokens: vectorFromArray([[1], [2, 3]], new List(new Field("item", new Int32()))), reward: vectorFromArray([1, 2]), mask: vectorFromArray([[1], [1]], new List(new Field("item", new Int32()))) }), 2, "mask"],
    ];
    for (const [table, line, field] of cases) {
      assert.throws(
        () => readArrowRollouts(tableToIPC(table, "stream"), "bad.arrows", opts),
        (e: unknown) => e instanceof InputError && e.line === line && e.field === field && e.file === "bad.arrows",
        field,
      );
    }
    for (const bytes of [new Uint8Array(0), new TextEncoder().encode('{"id": "a"}'), tableToIPC(cases[0][0], "stream").subarray(0, 100)]) {
      assert.throws(() => readArrowRollouts(bytes, "bad.arrow", opts), (e: unknown) => e instanceof InputError && e.field === "(file)");
    }
  });
});

describe("assign with Arrow", () => {
  it("--out .arrow (IPC file), --format arrow on stdout (IPC stream) and Arrow on stdin give runMethod's values", () => {
    const dir = mkdtempSync(join(tmpdir(), "cf-arrow-"));
    try {
      for (const [method, example] of [["grpo", "plain.jsonl"], ["d3s", "plain.jsonl"], ["hicra", "planning.jsonl"]] as const) {
        const input = join(ROOT, "examples", example);
        const expected = expectedRows(method, exampleRows(example));
        const out = join(dir, `${method}.arrow`);
        const r = spawnSync(process.execPath, [BIN, "assign", "--method", method, "--in", input, "--out", out], { encoding: "utf8" });
        assert.equal(r.status, 0, r.stderr);
        const fileBytes = readFileSync(out);
        assert.equal(fileBytes.subarray(0, 6).toString("latin1"), "ARROW1");
        assertSameRows(arrowRows(fileBytes), expected, `${method} .arrow`);
        const s = spawnSync(process.execPath, [BIN, "assign", "--method", method, "--in", input, "--format", "arrow"], { maxBuffer: 1 << 26 });
        assert.equal(s.status, 0, s.stderr.toString());
        assert.equal(s.stdout.readUInt32LE(0), 0xffffffff, "an IPC stream on stdout");
        assertSameRows(arrowRows(s.stdout), expected, `${method} --format arrow`);
        // Arrow rollouts on stdin are recognised by their first bytes.
        const arrowIn = rolloutsArrow(rowsOf(example), "stream");
        const j = spawnSync(process.execPath, [BIN, "assign", "--method", method], { input: arrowIn, encoding: "utf8" });
        assert.equal(j.status, 0, j.stderr);
        assertSameRows(j.stdout.trim().split("\n").map((l) => JSON.parse(l) as never), expected, `${method} arrow on stdin`);
      }
      const bad = spawnSync(process.execPath, [BIN, "assign", "--method", "grpo", "--in", join(ROOT, "examples", "plain.jsonl"), "--format", "csv"], { encoding: "utf8" });
      assert.equal(bad.status, 2);
      assert.match(bad.stderr, /^creditflow: --format must be one of jsonl, parquet, arrow/);
      assert.equal(tableFromIPC(readFileSync(join(dir, "grpo.arrow"))).numRows, 12);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
