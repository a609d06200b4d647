/**
 * `creditflow view` without a browser: files classified by content (not name), every kind
 * validated with one line naming file, line and field (exit 2, nothing served or written),
 * vocabularies from a task or a tokenizer file, the static server (data.js, no path escapes)
 * and --export (refuses to overwrite a folder that is not an export).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runInNewContext } from "node:vm";
import type { BenchResults } from "../../src/creditbench/report.js";
import type { BenchView, ViewData } from "../../src/view/types.js";
import { loadViewFile } from "../../src/view/load.js";
import { taskVocab, tokenizerVocab } from "../../src/view/vocab.js";
import { dataScript } from "../../src/view/site.js";
import { startViewServer } from "../../src/view/server.js";
import { BIN, ERROR_LINE, cf } from "../cli/run.js";

// Compile-time: the page's view of results.json is a part of what CreditBench writes.
const _benchFits = (r: BenchResults): BenchView => r;
void _benchFits;

const dir = mkdtempSync(join(tmpdir(), "cf-view-"));
const FIX = join(process.cwd(), "test", "viewer", "fixtures");
const write = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

test("files are classified by content, whatever their names", async () => {
  const rollouts = write("a.txt", '{"id": "x", "group": "g", "tokens": [1, 2], "reward": 1}\n');
  const adv = write("b.jsonl", '\n{"id": "x", "advantages": [0.5, -0.5], "weights": [1, 0]}\n');
  const metrics = write("c.json", '{"step": 1, "reward_mean": 0.25, "note": "text is dropped"}\n{"step": 2, "reward_mean": 0.5}\n');
  const r = await loadViewFile(rollouts);
  assert.equal(r.kind, "rollouts");
  assert.match(r.how, /line 1 has 'tokens'/);
  const a = await loadViewFile(adv);
  assert.equal(a.kind, "advantages");
  assert.match(a.how, /line 2 has 'advantages'/);
  assert.deepEqual(a.kind === "advantages" && a.rows, [{ id: "x", advantages: [0.5, -0.5], weights: [1, 0] }]);
  const m = await loadViewFile(metrics);
  assert.deepEqual(m.kind === "metrics" && m.rows, [{ step: 1, reward_mean: 0.25 }, { step: 2, reward_mean: 0.5 }]);
  const b = await loadViewFile(join(FIX, "results.json"));
  assert.equal(b.kind, "bench");
  assert.match(b.how, /creditbench-results/);
  // Parquet by its magic bytes, under a name that says nothing.
  const pq = join(dir, "rollouts.bin");
  assert.equal(cf(["convert", "--in", "examples/tree.jsonl", "--out", join(dir, "t.parquet")]).code, 0);
  writeFileSync(pq, readFileSync(join(dir, "t.parquet")));
  const p = await loadViewFile(pq);
  assert.equal(p.kind, "rollouts");
  assert.match(p.how, /Parquet/);
  const j = await loadViewFile("examples/tree.jsonl");
  assert.deepEqual(p.kind === "rollouts" && p.rows, j.kind === "rollouts" && j.rows, "Parquet and JSONL give the same rows");
});

test("bad input: one line naming file, line and field; the command exits 2 and serves nothing", async () => {
  const cases: [string, string, RegExp][] = [
    ["nan.jsonl", '{"id": "x", "advantages": [NaN]}\n', /nan\.jsonl:1: .*JSON/],
    ["negw.jsonl", '{"id": "x", "advantages": [1, 2]}\n{"id": "y", "advantages": [1], "weights": [-1]}\n', /negw\.jsonl:2: field 'weights': element 0 is -1/],
    ["short.jsonl", '{"id": "x", "advantages": [1, 2], "weights": [1]}\n', /short\.jsonl:1: field 'weights': has 1 entries, advantages has 2/],
    ["what.jsonl", '{"hello": 1}\n', /what\.jsonl:1: cannot tell what this file is/],
    ["steps.jsonl", '{"step": 1}\n{"step": "two"}\n', /steps\.jsonl:2: field 'step': expected a number/],
    ["roll.jsonl", '{"id": "x", "group": "g", "tokens": [1, 2], "reward": 1}\n{"id": "y", "group": "g", "tokens": [1], "reward": null}\n', /roll\.jsonl:2: field 'reward'/],
    ["empty.jsonl", "\n\n", /empty\.jsonl: empty file/],
    ["bench.json", '{"format": "creditbench-results", "fidelity": []}', /bench\.json: field 'efficiency': expected an array/],
  ];
  for (const [name, text, re] of cases) await assert.rejects(loadViewFile(write(name, text)), (e: Error) => e.name === "InputError" && re.test(e.message) && !e.message.includes("\n"), name);
  await assert.rejects(loadViewFile(join(dir, "nope.jsonl")), /nope\.jsonl: no such file/);
  // Through the command: one line on stderr, exit 2, nothing on stdout (no URL: no server).
  const r = cf(["view", "examples/tree.jsonl", join(dir, "negw.jsonl"), "--port", "0"]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, ERROR_LINE);
  assert.match(r.stderr, /negw\.jsonl:2: field 'weights'/);
  assert.equal(r.stdout, "");
  const usage = cf(["view", "--vocab", "addition", "--tokenizer", "x.json"]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--vocab or --tokenizer, not both/);
});

test("vocabularies: a task's characters, tokenizer.json, a JSON array and one token per line", () => {
  const v = taskVocab("addition");
  assert.equal(v.tokens[10], "7"); // "_^$0123456789...": id 10 is the digit 7
  assert.equal(v.tokens.length, 49);
  const hf = write("tokenizer.json", JSON.stringify({ model: { type: "BPE", vocab: { hello: 0, "Ġworld": 2, "Ċ": 3 } }, added_tokens: [{ id: 5, content: "<eos>" }] }));
  assert.deepEqual(tokenizerVocab(hf).tokens, ["hello", null, " world", "\n", null, "<eos>"]);
  const uni = write("unigram.json", JSON.stringify({ model: { type: "Unigram", vocab: [["▁a", -1], ["b", -2]] } }));
  assert.deepEqual(tokenizerVocab(uni).tokens, [" a", "b"]);
  assert.deepEqual(tokenizerVocab(write("arr.json", '["x", "y"]')).tokens, ["x", "y"]);
  assert.deepEqual(tokenizerVocab(write("vocab.txt", "a\nb\r\nc\n")).tokens, ["a", "b", "c"]);
  assert.throws(() => tokenizerVocab(write("bad.json", '{"a": -1}')), /bad\.json: field 'a': token id must be an integer/);
  assert.throws(() => taskVocab("chess"), /unknown task 'chess'/);
});

test("the server: the page, data.js as a classic script, nothing outside the page's folder", async () => {
  const site = join(dir, "site");
  mkdirSync(join(site, "assets"), { recursive: true });
  writeFileSync(join(site, "index.html"), "<p>page</p>");
  writeFileSync(join(site, "assets", "a.js"), "1");
  writeFileSync(join(dir, "secret.txt"), "secret");
  const data: ViewData = { version: 1, files: [], vocab: { source: "t", tokens: ["</script>"] } };
  const srv = await startViewServer(dataScript(data), 0, "127.0.0.1", site);
  try {
    const get = async (p: string) => {
      const r = await fetch(new URL(p, srv.url));
      return { status: r.status, type: r.headers.get("content-type"), text: await r.text() };
    };
    assert.deepEqual(await get("/"), { status: 200, type: "text/html; charset=utf-8", text: "<p>page</p>" });
    assert.equal((await get("/assets/a.js")).text, "1");
    const js = await get("/data.js");
    assert.doesNotMatch(js.text, /<\/script>/, "no string in the data can close a script tag");
    const ctx: Record<string, unknown> = { window: {} };
    runInNewContext(js.text, ctx);
    // Through JSON: the vm context's arrays have another realm's prototypes.
    assert.deepEqual(JSON.parse(JSON.stringify((ctx.window as Record<string, unknown>).__CREDITFLOW_DATA__)), data);
    for (const p of ["/../secret.txt", "/%2e%2e/secret.txt", "/assets/../../secret.txt", "/nope.js"]) assert.equal((await get(p)).status, 404, p);
    assert.equal((await fetch(srv.url, { method: "POST" })).status, 405);
  } finally {
    await srv.close();
  }
});

test("creditflow view prints its URL, serves the built page and the data, and stops on SIGTERM", async () => {
  const child = spawn(process.execPath, [BIN, "view", "examples/tree.jsonl", join(FIX, "metrics-grpo.jsonl"), "--port", "0", "--vocab", "addition"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on("data", (d) => {
      out += d;
      const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on("exit", (code) => reject(new Error(`exited ${code}: ${out}`)));
  });
  try {
    assert.match(out, /examples\/tree\.jsonl \(rollouts\), .*metrics-grpo\.jsonl \(metrics\)/);
  const html = await (await fetch(url)).text();
  assert.match(html, /<script src="\.\/data\.js"><\/script>/);
  assert.match(html, /<script defer src="\.\/assets\/viewer\.js"><\/script>/, "a classic script: it also runs from file://");
  const ctx: Record<string, unknown> = { window: {} };
  runInNewContext(await (await fetch(new URL("data.js", url))).text(), ctx);
  const data = JSON.parse(JSON.stringify((ctx.window as Record<string, ViewData>).__CREDITFLOW_DATA__)) as ViewData;
  assert.deepEqual(data.files.map((f) => f.kind), ["rollouts", "metrics"]);
    assert.equal(data.vocab?.tokens[10], "7");
  } catch (e) {
    child.kill("SIGKILL");
    throw e;
  }
  const code = await new Promise<number | null>((resolve) => {
    child.on("exit", resolve);
    child.kill("SIGTERM");
  });
  assert.equal(code, 0);
});

test("--export writes the page and data.js, and refuses a folder that is not an export", () => {
  const out = join(dir, "export");
  const r = cf(["view", "examples/tree.jsonl", "--export", out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /wrote file:\/\/.*export\/index\.html/);
  for (const f of ["index.html", "data.js", "assets/viewer.js", "assets/style.css"]) assert.ok(existsSync(join(out, f)), f);
  assert.equal(cf(["view", "examples/plain.jsonl", "--export", out]).code, 0, "a previous export is replaced");
  assert.match(readFileSync(join(out, "data.js"), "utf8"), /examples\/plain\.jsonl/);
  const other = join(dir, "other");
  mkdirSync(other);
  writeFileSync(join(other, "notes.txt"), "mine");
  const refused = cf(["view", "examples/tree.jsonl", "--export", other]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /--export: '.*other' is not empty and is not a previous export/);
  assert.ok(!existsSync(join(other, "index.html")));
});
