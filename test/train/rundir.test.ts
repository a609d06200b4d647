/**
 * Run-directory preflight (issue 10, section 5): a new run never overwrites a finished one, a bad
 * warm start or a damaged checkpoint is refused before anything is written, and a resume never
 * silently loses or invents steps.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../../src/core/errors.js";
import { DEFAULT_TRAIN, type TrainConfig } from "../../src/train/config.js";
import { preflightNewRun, preflightResume } from "../../src/train/rundir.js";
import { resolveTask } from "../../src/train/tasks.js";
import { cf, ERROR_LINE } from "../cli/run.js";

const fresh = () => mkdtempSync(join(tmpdir(), "cf-rundir-"));
const config = (over: Partial<TrainConfig> = {}): TrainConfig => ({ ...structuredClone(DEFAULT_TRAIN), ...over });
const refused = (f: () => void, pattern: RegExp) => assert.throws(f, (e: unknown) => e instanceof ConfigError && pattern.test(e.message) && !e.message.includes("\n"));

const policy = (model: Record<string, unknown> = { ...DEFAULT_TRAIN.model, vocabSize: resolveTask(DEFAULT_TRAIN.task).vocab.size }) =>
  JSON.stringify({ format: "creditflow-policy", version: 1, model, weights: { "tok_embeddings.weight": "AAAAAA==" }, info: {} });

/** A run directory whose checkpoint is at `step` of `steps`, with metrics for `metricSteps`. */
function run(step: number, steps: number, metricSteps: number[], tail = ""): string {
  const dir = fresh();
  const c = config({ steps });
  writeFileSync(join(dir, "checkpoint.json"), JSON.stringify({ format: "creditflow-train", version: 1, step, sampledTokens: 100 * step, rng: [1, 2, 3, 4], adam: { t: step, m: {}, v: {} }, weights: {}, hapo: null, elapsed: 1, config: c }));
  writeFileSync(join(dir, "warm-start.json"), policy());
  writeFileSync(join(dir, "config.json"), JSON.stringify(c));
  writeFileSync(join(dir, "metrics.jsonl"), metricSteps.map((s) => JSON.stringify({ step: s, reward_mean: 0.5 }) + "\n").join("") + tail);
  return dir;
}

test("a new run refuses a directory that holds a run unless --force; a file or an uncreatable --out is refused", () => {
  const dir = run(2, 3, [1, 2]);
  refused(() => preflightNewRun(dir, config(), false), /already holds a run \(config\.json, metrics\.jsonl, checkpoint\.json, warm-start\.json\): use --resume/);
  preflightNewRun(dir, config(), true);
  preflightNewRun(join(fresh(), "a", "b"), config(), false); // created later, folders included
  const file = join(fresh(), "f");
  writeFileSync(file, "x");
  refused(() => preflightNewRun(file, config(), false), /must be a directory/);
  refused(() => preflightNewRun(join(file, "sub"), config(), false), /is a file/);
  // An empty folder, or one with unrelated files, is fine.
  const other = fresh();
  writeFileSync(join(other, "notes.txt"), "mine");
  preflightNewRun(other, config(), false);
});

test("a warm start that is missing, a folder, garbage, empty, a checkpoint, or another model is refused", () => {
  const dir = fresh();
  const at = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  mkdirSync(join(dir, "folder"));
  const cases: [string, RegExp][] = [
    [join(dir, "nope.json"), /warm start \(a creditflow policy file\) not found/],
    [join(dir, "folder"), /found a directory/],
    [at("garbage.json", "\u0000\u0001garbage"), /not valid JSON/],
    [at("empty.json", ""), /is empty/],
    [at("half.json", policy().slice(0, 40)), /not valid JSON/],
    [at("ckpt.json", JSON.stringify({ format: "creditflow-train", step: 1 })), /training checkpoint, not a policy file/],
    [at("other.json", JSON.stringify({ hello: 1 })), /not a creditflow policy file/],
    [at("small.json", policy({ ...DEFAULT_TRAIN.model, dModel: 8, vocabSize: resolveTask(DEFAULT_TRAIN.task).vocab.size })), /model\.dModel is 8/],
  ];
  for (const [path, pattern] of cases) refused(() => preflightNewRun(join(dir, "out"), config({ warmStart: path }), false), pattern);
  preflightNewRun(join(dir, "out"), config({ warmStart: at("good.json", policy()) }), false);
});

test("resume refuses a missing, empty, truncated or out-of-range checkpoint, a damaged warm start, and metrics with gaps", () => {
  const ok = run(2, 3, [1, 2, 3], '{"step": 4, "rew');
  assert.deepEqual(preflightResume(ok).step, 2); // step 3's line is redone; the torn last line is tolerated
  refused(() => preflightResume(fresh()), /no checkpoint\.json/);
  refused(() => preflightResume(join(fresh(), "none")), /no such run directory/);
  const edit = (dir: string, name: string, f: (s: string) => string) => writeFileSync(join(dir, name), f(readFileSync(join(dir, name), "utf8")));
  const cases: [(d: string) => void, RegExp][] = [
    [(d) => edit(d, "checkpoint.json", () => ""), /checkpoint is empty/],
    [(d) => edit(d, "checkpoint.json", (s) => s.slice(0, s.length / 2)), /checkpoint is not valid JSON/],
    [(d) => edit(d, "checkpoint.json", (s) => s.replace('"step":2', '"step":-5')), /field 'step': Invalid value: Expected >=0 but received -5/],
    [(d) => edit(d, "checkpoint.json", (s) => s.replace('"step":2', '"step":1e9')), /field 'step': 1000000000 is beyond the run's 3 steps/],
    [(d) => edit(d, "checkpoint.json", (s) => s.replace('"step":2', '"step":2.5')), /field 'step'/],
    [(d) => edit(d, "checkpoint.json", (s) => s.replace('"sampledTokens":200', '"sampledTokens":"x"')), /field 'sampledTokens'/],
    [(d) => edit(d, "checkpoint.json", (s) => s.replace('"format":"creditflow-train"', '"format":"other"')), /not a creditflow training checkpoint/],
    [(d) => edit(d, "checkpoint.json", (s) => s.replace('"epsLow":', '"clipLow":0.1,"epsLow":')), /field 'config\.loss\.clipLow': unknown key/],
    [(d) => edit(d, "checkpoint.json", (s) => s.replace('"weights":{}', '"weights":{"w":"not base64!"}')), /field 'weights\.w': expected base64/],
    [(d) => edit(d, "warm-start.json", (s) => s.slice(0, 30)), /warm-start\.json: the run's warm start .* not valid JSON/],
    [(d) => edit(d, "metrics.jsonl", () => JSON.stringify({ step: 1 }) + "\n"), /no metrics for step 2 before the checkpoint's step 2/],
    [(d) => edit(d, "metrics.jsonl", () => ""), /no metrics for step 1, 2/],
    [(d) => writeFileSync(join(d, "metrics.jsonl"), "not json\n" + JSON.stringify({ step: 2 }) + "\n"), /line 1 is not valid JSON/],
  ];
  for (const [damage, pattern] of cases) {
    const d = run(2, 3, [1, 2]);
    damage(d);
    refused(() => preflightResume(d), pattern);
  }
  const gone = run(2, 3, [1, 2]);
  writeFileSync(join(gone, "metrics.jsonl"), "");
  refused(() => preflightResume(gone), /no metrics/);
});

test("the CLI refuses before writing: one line, exit 2, the finished run and the folder untouched", () => {
  const dir = run(3, 3, [1, 2, 3]);
  const before = Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), "utf8")]));
  for (const args of [["train", "--out", dir, "--steps", "1"], ["train", "--out", join(dir, "x"), "--warm-start", "/nonexistent/warm.json"], ["train", "--out", dir, "--resume", "--force"]]) {
    const r = cf(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, ERROR_LINE);
  }
  const after = Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), "utf8")]));
  assert.deepEqual(after, before);
});

test("bench --train-config with an unknown key or a bad value is refused up front, naming the key", () => {
  const dir = fresh();
  const bad = join(dir, "tc.json");
  writeFileSync(bad, JSON.stringify({ optim: { lrr: 1e-4 } }));
  const r = cf(["bench", "--train-config", bad, "--out", join(dir, "out")]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--train-config\.optim\.lrr: unknown key/);
  writeFileSync(bad, JSON.stringify({ group: 0 }));
  const v = cf(["bench", "--train-config", bad, "--out", join(dir, "out")]);
  assert.equal(v.code, 2, v.stderr);
  assert.match(v.stderr, /--train-config\.group: Invalid value: Expected >=1 but received 0/);
  assert.deepEqual(readdirSync(dir), ["tc.json"]);
});
