/**
 * Interoperability with pyarrow, the reader the Python trainers use: advantage files written by
 * `assign --out x.parquet` and `x.arrow` load with pyarrow directly and hold runMethod's values;
 * rollouts written by pyarrow (its default int64 lists, Parquet, Arrow file and stream) are read
 * by `assign` and by the service. Skipped, saying so, when no Python with pyarrow is found
 * (CREDITFLOW_PYTHON, then .venv-ci/bin/python, then python3).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunningServer } from "../../src/serve/server.js";
import { arrowRows, assertSameRows, exampleRows, expectedRows, post, ROOT, startTestServer, type AdvantageRowJson } from "./helpers.js";

const BIN = join(ROOT, "bin", "creditflow.js");

function findPython(): string | null {
  const candidates = [process.env.CREDITFLOW_PYTHON, join(ROOT, ".venv-ci", "bin", "python"), "python3"].filter((p): p is string => !!p && (!p.includes("/") || existsSync(p)));
  for (const py of candidates) {
    const r = spawnSync(py, ["-c", "import pyarrow"], { encoding: "utf8" });
    if (r.status === 0) return py;
  }
  return null;
}

function python(py: string, script: string, cwd: string): string {
  const r = spawnSync(py, ["-c", script], { cwd, encoding: "utf8", maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

function assign(args: string[]): void {
  const r = spawnSync(process.execPath, [BIN, "assign", ...args], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
}

const PY = findPython();
const SKIP = PY ? false : "no Python with pyarrow found (set CREDITFLOW_PYTHON or run .ci/run to make .venv-ci)";

describe("pyarrow reads what assign writes, and writes what assign and serve read", { skip: SKIP }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "cf-pyarrow-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("assign --out .parquet and .arrow load in pyarrow with runMethod's values (returns, weights, diag)", () => {
    for (const [method, example] of [["grpo", "plain.jsonl"], ["d3s", "plain.jsonl"], ["spo-tree", "tree.jsonl"], ["hicra", "planning.jsonl"]] as const) {
      const input = join(ROOT, "examples", example);
      assign(["--method", method, "--in", input, "--out", join(dir, `${method}.parquet`)]);
      assign(["--method", method, "--in", input, "--out", join(dir, `${method}.arrow`)]);
      const out = python(
        PY as string,
        `
import json, pyarrow.parquet as pq, pyarrow.feather as feather
def rows(t):
    out = []
    for r in t.to_pylist():
        r = {k: v for k, v in r.items() if v is not None}
        if "diag" in r: r["diag"] = json.loads(r["diag"])
        out.append(r)
    return out
print(json.dumps({"parquet": rows(pq.read_table("${method}.parquet")), "arrow": rows(feather.read_table("${method}.arrow"))}))
`,
        dir,
      );
      const got = JSON.parse(out) as { parquet: AdvantageRowJson[]; arrow: AdvantageRowJson[] };
      const expected = expectedRows(method, exampleRows(example));
      assertSameRows(got.parquet, expected, `${method} parquet via pyarrow`);
      assertSameRows(got.arrow, expected, `${method} arrow via pyarrow`);
    }
  });

  describe("rollouts written by pyarrow", () => {
    let server: RunningServer;
    before(async () => {
      server = await startTestServer();
    });
    after(() => server.close());

    it("are read by assign (Parquet, Arrow file, Arrow stream on stdin) and by POST /v1/assign", async () => {
      // gigpo's example has episodes, steps and anchors; pyarrow infers int64 lists and doubles.
      const rows = exampleRows("agents.jsonl");
      writeFileSync(join(dir, "agents.json"), JSON.stringify(rows));
      python(
        PY as string,
        `
import json, pyarrow as pa, pyarrow.parquet as pq, pyarrow.feather as feather
rows = json.load(open("agents.json"))
for r in rows:
    for k in ("signals", "meta"):
        if k in r: r[k] = json.dumps(r[k])
t = pa.Table.from_pylist(rows)
pq.write_table(t, "agents.parquet")
feather.write_feather(t, "agents.arrow")  # LZ4-compressed by default
feather.write_feather(t, "agents-zstd.arrow", compression="zstd")
with open("agents.arrows", "wb") as f, pa.ipc.new_stream(f, t.schema) as w: w.write_table(t)
`,
        dir,
      );
      const expected = expectedRows("gigpo", rows);
      for (const file of ["agents.parquet", "agents.arrow", "agents-zstd.arrow"]) {
        assign(["--method", "gigpo", "--in", join(dir, file), "--out", join(dir, `${file}.jsonl`)]);
        const got = readFileSync(join(dir, `${file}.jsonl`), "utf8").trim().split("\n").map((l) => JSON.parse(l) as AdvantageRowJson);
        assertSameRows(got, expected, file);
      }
      const stream = readFileSync(join(dir, "agents.arrows"));
      const piped = spawnSync(process.execPath, [BIN, "assign", "--method", "gigpo"], { input: stream, encoding: "utf8" });
      assert.equal(piped.status, 0, piped.stderr);
      assertSameRows(piped.stdout.trim().split("\n").map((l) => JSON.parse(l) as AdvantageRowJson), expected, "arrow stream on stdin");
      const served = await post(server.url, stream, "application/vnd.apache.arrow.stream", "/v1/assign?method=gigpo");
      assert.equal(served.status, 200, served.body.toString());
      assert.ok(stream.length > 0);
      assertSameRows(arrowRows(served.body), expected, "pyarrow stream through POST /v1/assign");
    });
  });
});
