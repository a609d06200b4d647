/**
 * `creditflow annotate --judge-model FILE`: a real GGUF judge loaded by node-llama-cpp (the tiny
 * fixed-answer models of test/judge/fixed-answer-gguf.ts) for every judge method, each output
 * then fed to `creditflow assign`; and the refusals (missing file, not a GGUF, two judges).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cfAsync as cf, ERROR_LINE } from "./run.js";
import { CHATML_TEMPLATE, fixedAnswerGguf } from "../judge/fixed-answer-gguf.js";
import { runAnnotate } from "../../src/cli/annotate.js";
import { isUserError } from "../../src/core/errors.js";
import { knownSignals, runMethod } from "../../src/core/registry.js";
import { readRollouts } from "../../src/io/rollouts.js";

const dir = mkdtempSync(join(tmpdir(), "cf-annotate-gguf-"));

function model(name: string, pieces: string[], chatTemplate?: string): string {
  const path = join(dir, name);
  writeFileSync(path, fixedAnswerGguf(pieces, { chatTemplate }).bytes);
  return path;
}

function rollouts(name: string, rows: object[]): string {
  const path = join(dir, name);
  writeFileSync(path, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  return path;
}

/** What `fn` writes to stderr (the progress and cost lines), and its value. */
async function withStderr<T>(fn: () => Promise<T>): Promise<{ value: T; stderr: string }> {
  const write = process.stderr.write;
  let stderr = "";
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    return true;
  }) as typeof process.stderr.write;
  try {
    return { value: await fn(), stderr };
  } finally {
    process.stderr.write = write;
  }
}

const signalsOf = (path: string) => readFileSync(path, "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { signals: Record<string, unknown> }).signals);

const STEP_ROWS = [
  { id: "a", group: "g", tokens: [1, 2, 3, 4], reward: 1, step_ends: [1, 3], meta: { problem: "What is 2 + 2?", steps: ["2 + 2 = 5, wait", "2 + 2 = 4"] } },
  { id: "b", group: "g", tokens: [5, 6], reward: 1, step_ends: [0, 1], meta: { problem: "What is 2 + 3?", steps: ["2 + 3", "= 5"] } },
];

test("annotate capo --judge-model: critiques from a GGUF judge (ChatML template, greedy: one generation per prompt), then assign", async () => {
  const judge = model("capo.gguf", ["Step 2 is wrong \u2192 ", "it says 5.\n", "WRONG_STEPS: ", "[2]"], CHATML_TEMPLATE);
  const input = rollouts("capo.jsonl", STEP_ROWS), output = join(dir, "capo-out.jsonl");
  const r = await cf(["annotate", "--method", "capo", "--judge-model", judge, "--k", "3", "--in", input, "--out", output]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /chat format ChatML \(from the model's chat template\), temperature 0/);
  // 2 rollouts x K = 3 samples; at temperature 0 each prompt is generated once and served twice from the cache.
  assert.match(r.stderr, /cost 2 judge calls \(4 cached, 0 retries, 0 malformed answers\), \d+ prompt \+ 8 answer tokens, [\d.]+ s/);
  assert.deepEqual(signalsOf(output).map((s) => s.critiques), [[[1], [1], [1]], [[1], [1], [1]]]);
  const a = await cf(["assign", "--method", "capo", "--in", output]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stdout.trim().split("\n").length, 2);
});

test("annotate tp-grpo, groundedprm, calm and sotopia --judge-model (no chat template: the General format); each method runs on the output", async () => {
  const cases: { method: string; answer: string[]; key: string; expected: unknown; rows?: object[]; extra?: string[] }[] = [
    { method: "tp-grpo", answer: ["Both steps count.\n", "LABELS: ", "[C, W]"], key: "thought_labels", expected: ["C", "W"] },
    { method: "groundedprm", answer: ["VERDICTS: ", "[+1, -1]"], key: "verifications", expected: [1, -1] },
    {
      method: "calm", answer: ["SUBGOALS: ", '[[], ["pick up the key"]]'], key: "subgoals", expected: [[], ["pick up the key"]],
      extra: ["--subgoals", "pick up the key"],
    },
    {
      method: "sotopia", answer: ["ATTRIBUTIONS: ", '{"goal": [3, 1], "relationship": [0, 3], "knowledge": [2, 2]}'], key: "attributions",
      expected: { goal: [3, 1], relationship: [0, 3], knowledge: [2, 2] },
      rows: STEP_ROWS.map((r) => ({ ...r, meta: { ...r.meta, episode_scores: { goal: 8, relationship: 2, knowledge: 6 } } })),
    },
  ];
  for (const c of cases) {
    const judge = model(`${c.method}.gguf`, c.answer);
    const input = rollouts(`${c.method}.jsonl`, c.rows ?? STEP_ROWS), output = join(dir, `${c.method}-out.jsonl`);
    // In process (the capo test above runs the command): the same code, without a process start per method.
    const r = await withStderr(() => runAnnotate(["--method", c.method, "--judge-model", judge, ...(c.extra ?? []), "--in", input, "--out", output]));
    assert.equal(r.value, 0, `${c.method}: ${r.stderr}`);
    assert.match(r.stderr, /chat format General \(the model has no chat template\)/);
    assert.match(r.stderr, /cost 2 judge calls \(0 cached, 0 retries, 0 malformed answers\)/, c.method);
    for (const s of signalsOf(output)) assert.deepEqual(s[c.key], c.expected, c.method);
    // What assign does with the file, in process (the capo test above runs the assign command).
    const adv = runMethod(c.method, await readRollouts(output, { knownSignals: knownSignals() })).advantages;
    assert.equal(adv.length, 6);
    assert.ok(adv.every(Number.isFinite), c.method);
  }
});

test("annotate --judge-model refusals: a missing file, not a GGUF, two judges, a judge-less run; one line, exit 2, no output", async () => {
  const input = rollouts("refuse.jsonl", STEP_ROWS);
  const out = join(dir, "never.jsonl");
  const missing = join(dir, "absent.gguf");
  const notGguf = join(dir, "weights.gguf");
  writeFileSync(notGguf, '{"weights": []}');
  // Through the command once: exit 2 and one line.
  const r = await cf(["annotate", "--method", "capo", "--judge-model", missing, "--in", input, "--out", out]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, ERROR_LINE);
  assert.match(r.stderr, /absent\.gguf: cannot read the judge model \(ENOENT\)/);
  // The rest in process (each is a user error, which the command prints as one line with exit 2).
  const cases: [string[], RegExp][] = [
    [["--judge-model", notGguf], /weights\.gguf: is not a GGUF model/],
    [["--judge", "http://127.0.0.1:9", "--judge-model", notGguf], /--judge URL and --judge-model FILE are two judges; give one/],
    [["--judge", "http://127.0.0.1:9"], /--judge URL needs --served-model NAME/],
    [[], /capo needs a judge: --judge URL --served-model NAME, or --judge-model FILE/],
    [["--judge-model", notGguf, "--temperature=-1"], /--temperature needs a number >= 0/],
  ];
  for (const [flags, message] of cases) {
    await assert.rejects(runAnnotate(["--method", "capo", ...flags, "--in", input, "--out", out]), (e: unknown) => isUserError(e) && message.test(e.message));
    // The judge flags are checked before the input is read.
    await assert.rejects(runAnnotate(["--method", "capo", ...flags, "--in", join(dir, "no-input.jsonl"), "--out", out]), (e: unknown) => isUserError(e) && message.test(e.message));
  }
  assert.equal(existsSync(out), false);
});

test("annotate --judge-model --cache: a rerun is served from the disk cache; other bytes at the same path are another model", async () => {
  const judge = model("cached.gguf", ["WRONG_STEPS: ", "[1]"]);
  const input = rollouts("cached.jsonl", STEP_ROWS), output = join(dir, "cached-out.jsonl");
  const cache = join(dir, "judge-cache");
  const run = () => withStderr(() => runAnnotate(["--method", "capo", "--judge-model", judge, "--k", "3", "--cache", cache, "--in", input, "--out", output]));
  const first = await run();
  assert.match(first.stderr, /cost 2 judge calls \(4 cached/);
  const second = await run();
  assert.match(second.stderr, /cost 0 judge calls \(6 cached, 0 retries, 0 malformed answers\), 0 prompt \+ 0 answer tokens/);
  assert.deepEqual(signalsOf(output).map((s) => s.critiques), [[[0], [0], [0]], [[0], [0], [0]]]);
  // A new model file under the same name: its bytes differ, so nothing is served from the cache.
  model("cached.gguf", ["WRONG_STEPS: ", "[2]"]);
  const third = await run();
  assert.match(third.stderr, /cost 2 judge calls \(4 cached/);
  assert.deepEqual(signalsOf(output).map((s) => s.critiques), [[[1], [1], [1]], [[1], [1], [1]]]);
});
