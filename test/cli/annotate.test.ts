/**
 * `creditflow annotate` (issue 15): capo's critiques from a local OpenAI-format judge (faults
 * included), and lare's factors from generated code run in the sandbox; the annotated file then
 * feeds `creditflow assign`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cfAsync, ERROR_LINE } from "./run.js";

const dir = mkdtempSync(join(tmpdir(), "cf-annotate-"));

const completion = (content: string) => JSON.stringify({ id: "c", object: "chat.completion", created: 1, model: "judge", choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }] });

test("annotate capo: critiques from a judge that fails once with 500 and once answers garbage; assign then runs", async () => {
  let n = 0;
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      n++;
      if (n === 1) {
        res.writeHead(500, { "content-type": "application/json" });
        res.end("{}");
        return;
      }
      const text = JSON.stringify(JSON.parse(body));
      const answer = n === 2 ? "I cannot tell." : text.includes("2 + 2 = 5") ? "Step 2 is wrong.\nWRONG_STEPS: [2]" : "All fine.\nWRONG_STEPS: []";
      res.writeHead(200, { "content-type": "application/json" });
      res.end(completion(answer));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const rows = [
      { id: "a", group: "g", tokens: [1, 2, 3, 4], reward: 0, step_ends: [1, 3], meta: { problem: "What is 2 + 2?", steps: ["2 + 2", "2 + 2 = 5"] } },
      { id: "b", group: "g", tokens: [5, 6], reward: 1, step_ends: [0, 1], meta: { problem: "What is 2 + 2?", steps: ["2 + 2", "= 4"] } },
    ];
    const input = join(dir, "capo.jsonl"), output = join(dir, "capo-out.jsonl");
    writeFileSync(input, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
    const r = await cfAsync(["annotate", "--method", "capo", "--judge", url, "--served-model", "judge", "--k", "2", "--in", input, "--out", output]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /cost \d+ judge calls \(0 cached, 1 retries, 1 malformed answers\)/);
    const out = readFileSync(output, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { signals: { critiques: number[][] } });
    // Row a: one malformed answer dropped, the other marks step 2 (index 1) wrong; row b: nothing wrong.
    assert.deepEqual(out[0].signals.critiques, [[1]]);
    assert.deepEqual(out[1].signals.critiques, [[], []]);
    const a = await cfAsync(["assign", "--method", "capo", "--in", output]);
    assert.equal(a.code, 0, a.stderr);
  } finally {
    server.close();
  }
});

test("annotate capo: missing step texts are refused before any call; annotate lare: factors from sandboxed code feed assign", async () => {
  const input = join(dir, "nometa.jsonl");
  writeFileSync(input, JSON.stringify({ id: "a", group: "g", tokens: [1], reward: 0, step_ends: [0] }) + "\n");
  const bad = await cfAsync(["annotate", "--method", "capo", "--judge", "http://127.0.0.1:9", "--served-model", "x", "--in", input, "--out", join(dir, "never.jsonl")]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, ERROR_LINE);
  assert.equal(existsSync(join(dir, "never.jsonl")), false);

  const code = join(dir, "factors.js");
  writeFileSync(code, "function evaluationFunc(observation, action) { return [action.length, observation === null ? 0 : observation.x]; }");
  const rows = [
    { id: "t1", group: "g", tokens: [1, 2, 3], reward: 2, step_ends: [0, 2], meta: { observations: [{ x: 1 }, { x: 0 }] } },
    { id: "t2", group: "g", tokens: [4, 5], reward: 1, step_ends: [1] },
  ];
  const lin = join(dir, "lare.jsonl"), lout = join(dir, "lare-out.jsonl");
  writeFileSync(lin, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  const r = await cfAsync(["annotate", "--method", "lare", "--factor-code", code, "--in", lin, "--out", lout]);
  assert.equal(r.code, 0, r.stderr);
  const out = readFileSync(lout, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { signals: { factors: number[][] } });
  assert.deepEqual(out[0].signals.factors, [[1, 1], [2, 0]]);
  assert.deepEqual(out[1].signals.factors, [[2, 0]]);
  assert.equal((await cfAsync(["assign", "--method", "lare", "--in", lout])).code, 0);
  // Generated code that loops forever: one line naming the code file, exit 2, no output.
  writeFileSync(code, "function evaluationFunc() { for (;;) {} }");
  const loop = await cfAsync(["annotate", "--method", "lare", "--factor-code", code, "--time-limit", "200", "--in", lin, "--out", join(dir, "loop.jsonl")]);
  assert.equal(loop.code, 2);
  assert.match(loop.stderr, /factors\.js: on rollout line 1: call 0: stopped after the 200 ms time limit/);
  assert.equal(existsSync(join(dir, "loop.jsonl")), false);
});

test("annotate tp-grpo and groundedprm: labels and verdicts from a judge (429 with Retry-After, one malformed answer); assign then runs", async () => {
  let n = 0;
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      n++;
      if (n === 1) {
        res.writeHead(429, { "content-type": "application/json", "retry-after": "0" });
        res.end("{}");
        return;
      }
      const text = JSON.stringify(JSON.parse(body));
      let answer: string;
      if (text.includes("VERDICTS")) answer = n === 2 ? "<think>hmm</think> Step 1 looks fine." : "Checked.\nVERDICTS: [+1, -1]";
      else answer = text.includes("final answer is INCORRECT.") ? "LABELS: [M, U]" : "<think>LABELS: [W, W]</think>Fine.\nLABELS: [C, W]";
      res.writeHead(200, { "content-type": "application/json" });
      res.end(completion(answer));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const rows = [
      { id: "a", group: "g", tokens: [1, 2, 3, 4], reward: 1, step_ends: [1, 3], meta: { problem: "2 + 2?", steps: ["2 + 2 = 5, wait", "2 + 2 = 4"] } },
      { id: "b", group: "g", tokens: [5, 6], reward: 0, step_ends: [0, 1], meta: { problem: "2 + 2?", steps: ["2 + 2", "= 5"] } },
    ];
    const input = join(dir, "steps.jsonl");
    writeFileSync(input, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
    const gOut = join(dir, "grounded.jsonl");
    const g = await cfAsync(["annotate", "--method", "groundedprm", "--judge", url, "--served-model", "judge", "--k", "2", "--in", input, "--out", gOut]);
    assert.equal(g.code, 0, g.stderr);
    const gv = readFileSync(gOut, "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { signals: { verifications: number[] } }).signals.verifications);
    assert.ok(gv.every((v) => JSON.stringify(v) === "[1,-1]"), JSON.stringify(gv));
    assert.match(g.stderr, /1 retries, 1 malformed answers/);
    assert.equal((await cfAsync(["assign", "--method", "groundedprm", "--in", gOut])).code, 0);
    const tOut = join(dir, "thoughts.jsonl");
    const t = await cfAsync(["annotate", "--method", "tp-grpo", "--judge", url, "--served-model", "judge", "--in", input, "--out", tOut]);
    assert.equal(t.code, 0, t.stderr);
    const labels = readFileSync(tOut, "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { signals: { thought_labels: string[] } }).signals.thought_labels);
    assert.deepEqual(labels, [["C", "W"], ["M", "U"]]);
    assert.equal((await cfAsync(["assign", "--method", "tp-grpo", "--in", tOut])).code, 0);
  } finally {
    server.close();
  }
});

test("annotate calm and sotopia: subgoals per step and attributions per utterance from a judge (500 once, one malformed answer); assign then runs", async () => {
  let n = 0, soto = 0;
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      n++;
      if (n === 1) {
        res.writeHead(500, { "content-type": "application/json" });
        res.end("{}");
        return;
      }
      const text = JSON.stringify(JSON.parse(body));
      let answer: string;
      if (text.includes("ATTRIBUTIONS")) answer = ++soto === 1 ? 'ATTRIBUTIONS: {"goal": [9, 1]}' : 'Fine.\nATTRIBUTIONS: {"goal": [3, 1], "relationship": [0, 3], "knowledge": [2, 2]}';
      else answer = 'SUBGOALS: [[], ["pick up the key"], ["open the door"]]';
      res.writeHead(200, { "content-type": "application/json" });
      res.end(completion(answer));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const calmIn = join(dir, "calm.jsonl"), calmOut = join(dir, "calm-out.jsonl");
    writeFileSync(calmIn, JSON.stringify({ id: "e", group: "g", tokens: [1, 2, 3], reward: 1, step_ends: [0, 1, 2], meta: { problem: "Open the locked door.", steps: ["look", "take key", "open door"] } }) + "\n");
    const c = await cfAsync(["annotate", "--method", "calm", "--subgoals", "pick up the key,open the door", "--judge", url, "--served-model", "judge", "--in", calmIn, "--out", calmOut]);
    assert.equal(c.code, 0, c.stderr);
    assert.deepEqual((JSON.parse(readFileSync(calmOut, "utf8")) as { signals: { subgoals: string[][] } }).signals.subgoals, [[], ["pick up the key"], ["open the door"]]);
    assert.equal((await cfAsync(["assign", "--method", "calm", "--in", calmOut])).code, 0);
    const sIn = join(dir, "soto.jsonl"), sOut = join(dir, "soto-out.jsonl");
    writeFileSync(sIn, JSON.stringify({ id: "u", group: "e1", tokens: [1, 2, 3, 4], reward: 0, step_ends: [1, 3], meta: { problem: "Get the loan.", steps: ["Hi", "Please?"], episode_scores: { goal: 8, relationship: 2, knowledge: 6 } } }) + "\n");
    const so = await cfAsync(["annotate", "--method", "sotopia", "--judge", url, "--served-model", "judge", "--in", sIn, "--out", sOut]);
    assert.equal(so.code, 0, so.stderr);
    assert.match(so.stderr, /1 malformed answers/);
    const sig = (JSON.parse(readFileSync(sOut, "utf8")) as { signals: { attributions: Record<string, number[]>; episode_scores: Record<string, number> } }).signals;
    assert.deepEqual(sig.attributions, { goal: [3, 1], relationship: [0, 3], knowledge: [2, 2] });
    assert.deepEqual(sig.episode_scores, { goal: 8, relationship: 2, knowledge: 6 });
    assert.equal((await cfAsync(["assign", "--method", "sotopia", "--in", sOut])).code, 0);
  } finally {
    server.close();
  }
});

test("annotate: a judge that fails for good (HTTP 400) stops the run with one line naming the rollout; nothing is written", async () => {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(400, { "content-type": "application/json" });
      res.end('{"error": "bad model name"}');
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const input = join(dir, "fail.jsonl"), output = join(dir, "fail-out.jsonl");
    writeFileSync(input, JSON.stringify({ id: "a", group: "g", tokens: [1, 2], reward: 0, step_ends: [0, 1], meta: { problem: "1 + 1?", steps: ["1 + 1", "= 2"] } }) + "\n");
    const r = await cfAsync(["annotate", "--method", "groundedprm", "--judge", url, "--served-model", "nope", "--in", input, "--out", output]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, ERROR_LINE);
    assert.match(r.stderr, /fail\.jsonl:1: field 'meta\.steps': judge request to http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions failed: HTTP 400/);
    assert.equal(existsSync(output), false);
  } finally {
    server.close();
  }
});
