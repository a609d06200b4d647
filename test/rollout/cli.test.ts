/**
 * `creditflow rollout` end to end: a sampled tree from the built-in policy (and from llama.cpp on
 * the exported GGUF), then `creditflow assign --method spo-tree` and `--method tempo` on it, with
 * the credit checked against values computed here from the rows: SPO-tree's segment advantages
 * from a hand-built segment tree, TEMPO's difference to GRPO only at branch tokens and summing
 * to tdWeight x the GRPO advantage.
 */
import test from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cf, ERROR_LINE } from "../cli/run.js";
import { DEFAULT_MODEL, initialWeights } from "../../src/train/policy/model.js";
import { writePolicyFile } from "../../src/train/checkpoint.js";
import { VOCAB } from "../../src/tasks/vocab.js";
import { policyToGguf } from "../../src/rollout/gguf-export.js";
import { policyVocab } from "../../src/rollout/open.js";

const dir = mkdtempSync(join(tmpdir(), "cf-rollout-"));
const model = { ...DEFAULT_MODEL, vocabSize: VOCAB.size };
const weights = initialWeights(model, 2);
// sharper than the initialisation so responses end (eos) and share prefixes
for (const [n, a] of weights) if (!n.includes("norm")) for (let k = 0; k < a.length; k++) a[k] *= 6;
const policy = join(dir, "policy.json");
writePolicyFile(policy, model, weights, {});
const gguf = join(dir, "policy.gguf");
writeFileSync(gguf, policyToGguf(model, weights, policyVocab(VOCAB)));

interface Row { id: string; group: string; tokens: number[]; reward: number; logprobs: number[]; entropies?: number[]; step_ends?: number[]; finished: boolean; meta: { owned?: number[]; prompt_tokens: number[] } }
const readJsonl = <T>(p: string): T[] => readFileSync(p, "utf8").trim().split("\n").map((l) => JSON.parse(l) as T);

function rollout(args: string[], out: string): Row[] {
  const r = cf(["rollout", ...args, "--out", out, "--quiet"]);
  assert.equal(r.code, 0, r.stderr);
  return readJsonl<Row>(out);
}

function assign(method: string, inp: string, config?: string): number[][] {
  const out = inp.replace(/\.jsonl$/, `.${method}.adv.jsonl`);
  const r = cf(["assign", "--method", method, "--in", inp, "--out", out, ...(config ? ["--config", config] : [])]);
  assert.equal(r.code, 0, r.stderr);
  return readJsonl<{ advantages: number[] }>(out).map((x) => x.advantages);
}

/** SPO-tree's values by hand: a node is a prefix of whole segments; V = mean over children (rloo mode). */
function spoTreeByHand(rows: Row[]): number[][] {
  const out: number[][] = [];
  const groups = new Map<string, Row[]>();
  for (const r of rows) groups.set(r.group, [...(groups.get(r.group) ?? []), r]);
  for (const g of groups.values()) {
    const segsOf = (r: Row) => {
      const ends = r.step_ends ?? [];
      const segs: string[] = [];
      let a = 0;
      for (const e of ends) {
        segs.push(r.tokens.slice(a, e + 1).join(","));
        a = e + 1;
      }
      if (a < r.tokens.length) segs.push(r.tokens.slice(a).join(","));
      return segs;
    };
    const key = (segs: string[], d: number) => segs.slice(0, d).join("|");
    const segsByRow = g.map(segsOf);
    const value = (k: string, d: number): number => {
      const kids = new Map<string, number>();
      const vals: number[] = [];
      g.forEach((r, i) => {
        const s = segsByRow[i];
        if (key(s, d) !== k) return;
        if (s.length === d) vals.push(r.reward); // the rollout ends here: one more child
        else kids.set(key(s, d + 1), d + 1);
      });
      for (const [kk, dd] of kids) vals.push(value(kk, dd));
      return vals.reduce((x, y) => x + y, 0) / vals.length;
    };
    g.forEach((r, i) => {
      const s = segsByRow[i];
      const adv: number[] = [];
      for (let d = 0; d < s.length; d++) {
        const a = value(key(s, d + 1), d + 1) - value(key(s, d), d);
        const len = s[d] === "" ? 0 : s[d].split(",").length;
        for (let t = 0; t < len; t++) adv.push(a);
      }
      out.push(adv);
    });
  }
  return out;
}

function close(a: number[], b: number[], what: string): void {
  assert.equal(a.length, b.length, what);
  a.forEach((x, k) => assert.ok(Math.abs(x - b[k]) < 1e-9, `${what}[${k}]: ${x} vs ${b[k]}`));
}

/**
 * The untrained policy never solves a task, so every verifier reward is 0 and all credit would be
 * 0: the rows get a reward from their tokens instead ((sum of ids mod 5) / 4), written back.
 */
function varyRewards(rows: Row[], file: string): void {
  for (const r of rows) r.reward = (r.tokens.reduce((a, b) => a + b, 0) % 5) / 4;
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
}

function checkTree(rows: Row[], file: string): void {
  assert.ok(rows.length > 0);
  varyRewards(rows, file);
  // trees share prefixes: some group has two rows agreeing on their first segment
  assert.ok(rows.some((r, i) => rows.some((q, j) => j !== i && q.group === r.group && r.step_ends!.length > 1 && q.tokens.slice(0, r.step_ends![0] + 1).join() === r.tokens.slice(0, r.step_ends![0] + 1).join())), "a shared prefix");
  for (const r of rows) {
    assert.equal(r.logprobs.length, r.tokens.length);
    assert.equal(r.meta.owned!.length, r.tokens.length);
    assert.ok(r.logprobs.every((x) => Number.isFinite(x) && x <= 0));
  }
  const spo = assign("spo-tree", file);
  const hand = spoTreeByHand(rows);
  spo.forEach((a, i) => close(a, hand[i], `spo-tree row ${i}`));
  assert.ok(spo.flat().filter((x) => x !== 0).length > rows.length, "non-trivial spo-tree credit");
  const grpo = assign("grpo", file);
  const tempo = assign("tempo", file, '{"tdWeight": 0.5}');
  rows.forEach((r, i) => {
    // TEMPO's prefix tree is over tokens: token t is a branch when another row of the group
    // shares tokens [0, t) and then differs or ends
    const mates = rows.filter((q, j) => j !== i && q.group === r.group);
    const branch = (t: number) => t === 0 || mates.some((q) => q.tokens.slice(0, t).join() === r.tokens.slice(0, t).join() && (q.tokens.length === t || q.tokens[t] !== r.tokens[t]));
    let sum = 0;
    tempo[i].forEach((x, t) => {
      const d = x - grpo[i][t];
      if (!branch(t)) assert.ok(Math.abs(d) < 1e-12, `tempo differs from grpo off a branch point: row ${i} token ${t}`);
      sum += d;
    });
    // delta telescopes to V(y_i) - mu = s_i - mu unless the path is duplicated
    const dup = rows.some((q, j) => j !== i && q.group === r.group && q.tokens.join() === r.tokens.join());
    if (!dup) assert.ok(Math.abs(grpo[i][0]) > 0 || r.reward === rows.filter((q) => q.group === r.group)[0].reward);
    if (!dup) assert.ok(Math.abs(sum - 0.5 * grpo[i][0]) < 1e-9, `row ${i}: sum of tempo - grpo ${sum} vs ${0.5 * grpo[i][0]}`);
  });
}

test("rollout (builtin, segments tree) then assign spo-tree and tempo: values as computed by hand", () => {
  const file = join(dir, "tree.jsonl");
  const rows = rollout(["--backend", "builtin", "--model", policy, "--task", "addition", "--n", "4", "--group", "3", "--tree", "segments", "--branching", "2", "--segment", "3", "--seed", "3"], file);
  for (const r of rows) {
    // rewards are the verifier's (0: the untrained policy never answers right)
    assert.equal(r.reward, 0);
    assert.equal(r.entropies!.length, r.tokens.length);
    assert.equal(r.meta.prompt_tokens[0], VOCAB.bos);
  }
  checkTree(rows, file);
  // deterministic for a seed
  const again = rollout(["--backend", "builtin", "--model", policy, "--task", "addition", "--n", "4", "--group", "3", "--tree", "segments", "--branching", "2", "--segment", "3", "--seed", "3"], join(dir, "tree2.jsonl"));
  assert.deepEqual(again.map((r) => r.tokens), rows.map((r) => r.tokens));
});

test("rollout (gguf through llama.cpp, cutpoints and entropy trees): same checks; plain groups equal the builtin's", () => {
  const file = join(dir, "gguf-cut.jsonl");
  checkTree(rollout(["--backend", "gguf", "--model", gguf, "--task", "addition", "--n", "3", "--group", "2", "--tree", "cutpoints", "--segment", "2", "--branches", "2", "--seed", "5"], file), file);
  const file2 = join(dir, "gguf-ent.jsonl");
  checkTree(rollout(["--backend", "gguf", "--model", gguf, "--task", "addition", "--n", "3", "--group", "2", "--tree", "entropy", "--forks", "2", "--branches", "2", "--seed", "5"], file2), file2);
  const a = rollout(["--backend", "gguf", "--model", gguf, "--task", "addition", "--n", "3", "--group", "4", "--seed", "8"], join(dir, "g1.jsonl"));
  const b = rollout(["--backend", "builtin", "--model", policy, "--task", "addition", "--n", "3", "--group", "4", "--seed", "8"], join(dir, "g2.jsonl"));
  assert.deepEqual(a.map((r) => r.tokens), b.map((r) => r.tokens));
  a.forEach((r, i) => r.logprobs.forEach((x, k) => assert.ok(Math.abs(x - b[i].logprobs[k]) < 1e-4, `logprobs ${i}`)));
});

test("rollout --backend gguf --sampling native: llama.cpp's sampler draws, log-probs without entropies; flag misuse is one line, exit 2", () => {
  const rows = rollout(["--backend", "gguf", "--model", gguf, "--task", "addition", "--n", "3", "--group", "3", "--seed", "4", "--sampling", "native"], join(dir, "native.jsonl"));
  assert.equal(rows.length, 9);
  for (const r of rows) {
    assert.equal(r.entropies, undefined, "native mode reports no entropies");
    assert.equal(r.logprobs.length, r.tokens.length);
    assert.ok(r.tokens.every((t) => Number.isInteger(t) && t >= 0 && t < VOCAB.size));
    assert.ok(r.logprobs.every((x) => Number.isFinite(x) && x <= 0));
  }
  // Same seed, same draws: llama.cpp's chain is seeded from the rows' generators.
  const again = rollout(["--backend", "gguf", "--model", gguf, "--task", "addition", "--n", "3", "--group", "3", "--seed", "4", "--sampling", "native"], join(dir, "native2.jsonl"));
  assert.deepEqual(again.map((r) => r.tokens), rows.map((r) => r.tokens));
  const out = join(dir, "never-native.jsonl");
  for (const [args, re] of [
    [["--backend", "gguf", "--model", gguf, "--sampling", "native", "--tree", "entropy"], /--tree entropy needs entropies/],
    [["--backend", "builtin", "--model", policy, "--sampling", "native"], /--sampling is for --backend gguf/],
    [["--backend", "gguf", "--model", gguf, "--sampling", "fast"], /--sampling must be one of exact, native/],
  ] as const) {
    const r = cf(["rollout", ...args, "--task", "addition", "--group", "2", "--out", out]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, ERROR_LINE);
    assert.match(r.stderr, re);
    assert.equal(existsSync(out), false);
  }
});

test("prompts files: token ids or text, answers verified with --task; bad input is one line, exit 2, no output", () => {
  const prompts = join(dir, "prompts.jsonl");
  writeFileSync(prompts, [
    JSON.stringify({ id: "a", tokens: [VOCAB.bos, ...VOCAB.encode("12+34=")] }),
    JSON.stringify({ id: "b", text: "5+5=", answer: { a: 5, b: 5, sum: 10 } }),
  ].join("\n") + "\n");
  const rows = rollout(["--backend", "builtin", "--model", policy, "--task", "addition", "--prompts", prompts, "--group", "2"], join(dir, "p.jsonl"));
  assert.deepEqual(rows.map((r) => r.group), ["a", "a", "b", "b"]);
  assert.deepEqual(rows[2].meta.prompt_tokens, [VOCAB.bos, ...VOCAB.encode("5+5=")]);
  assert.ok(rows.slice(0, 2).every((r) => r.reward === 0), "no answer: reward 0");
  const bad = join(dir, "bad.jsonl");
  writeFileSync(bad, JSON.stringify({ id: "a", tokens: [1, 2] }) + "\n" + JSON.stringify({ id: "b", tokens: [1, 999] }) + "\n");
  const out = join(dir, "never.jsonl");
  const r = cf(["rollout", "--backend", "builtin", "--model", policy, "--prompts", bad, "--group", "2", "--out", out]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, ERROR_LINE);
  assert.match(r.stderr, /bad\.jsonl:2: field 'tokens\[1\]'/);
  assert.equal(existsSync(out), false);
  const noServer = cf(["rollout", "--backend", "openai", "--url", "http://127.0.0.1:9", "--prompts", prompts, "--group", "2", "--out", out]);
  assert.equal(noServer.code, 2);
  assert.match(noServer.stderr, /prompts\.jsonl:2: field 'text': text prompts need a tokenizer/);
  const usage = cf(["rollout", "--backend", "gguf", "--task", "addition", "--group", "2", "--out", out]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /needs --model FILE/);
});
