/**
 * The trainer runs every credit-assignment route it supports (one short step each, tiny model)
 * and counts every sampled token, Monte Carlo and tree tokens included.
 */
import test from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { useBackend } from "../../src/train/policy/tf.js";
import { checkTrainable, type StepMetrics } from "../../src/train/trainer.js";
import { runTiny as runTinyIn } from "./tiny-run.js";

const root = mkdtempSync(join(tmpdir(), "cf-trainer-"));
test.after(() => rmSync(root, { recursive: true, force: true }));
test.before(async () => useBackend("wasm"));

const runTiny = (name: string, over: unknown): Promise<StepMetrics[]> => runTinyIn(root, name, over);

const routes: [string, unknown][] = [
  ["grpo", { method: "grpo" }],
  ["tempo", { method: "tempo" }],
  ["gigpo", { method: "gigpo" }],
  ["hapo", { method: "hapo" }],
  ["tw-grpo", { method: "tw-grpo", methodOptions: { alpha: 1.7 } }],
  ["spo-tree", { method: "spo-tree", spoTree: { branching: [2, 2], segmentTokens: 4 } }],
  ["gspo", { method: "grpo", loss: { policyLoss: "gspo" } }],
  ["gmpo", { method: "grpo", loss: { policyLoss: "gmpo" } }],
  ["geo-segment", { method: "grpo", loss: { policyLoss: "geo-segment" } }],
  ["cispo + entropy bonus", { method: "grpo", loss: { policyLoss: "cispo", entropyCoef: 0.01, aggMode: "seq-mean-token-sum-norm" } }],
  ["kl loss", { method: "grpo", loss: { klCoef: 0.1, klKind: "k3" } }],
  ["kl in reward", { method: "rloo", loss: { klCoef: 0.1, klKind: "k1", klInReward: true } }],
];

for (const [name, over] of routes) {
  test(`trainer step: ${name}`, async () => {
    const m = await runTiny(name.replace(/\W+/g, "-"), over);
    assert.equal(m.length, 2);
    for (const x of m) {
      for (const [k, v] of Object.entries(x)) if (typeof v === "number") assert.ok(Number.isFinite(v), `${name}: ${k} = ${v}`);
    }
    assert.ok(m[1].sampled_tokens > m[0].sampled_tokens);
    assert.ok(typeof m[1].eval_accuracy === "number" && typeof m[1].eval_sampled_accuracy === "number");
    if (name.startsWith("kl loss")) assert.ok(typeof m[0].kl_ref === "number");
  });
}

test("spo-chain counts its Monte Carlo tokens", async () => {
  // Threshold 1 makes every token a cutpoint candidate, so Monte Carlo sampling certainly happens.
  const m = await runTiny("spo-chain", { method: "spo-chain", methodOptions: { threshold: 1, interval: 2 }, spoChain: { samples: 2 } });
  for (const x of m) assert.ok(x.step_sampled_tokens > x.response_len_mean * 8, `MC tokens counted: ${x.step_sampled_tokens} vs ${x.response_len_mean * 8}`);
});

test("sampling on 2 worker threads gives the same run as 1 thread", async () => {
  const strip = (m: StepMetrics[]) => m.map(({ time_s: _t, tokens_per_s: _r, ...rest }) => rest);
  const one = await runTiny("threads-1", { method: "grpo", workers: 1 });
  const two = await runTiny("threads-2", { method: "grpo", workers: 2 });
  assert.deepEqual(strip(two), strip(one));
});

test("methods whose inputs the trainer cannot produce are refused with a clear error", () => {
  assert.throws(() => checkTrainable("lare"), /signals.factors.*cannot produce/);
  assert.doesNotThrow(() => checkTrainable("spo-chain"));
});

test("the README's count of methods the trainer can train is the registry's", async () => {
  const { readFileSync } = await import("node:fs");
  const { listMethods } = await import("../../src/core/registry.js");
  const trainable = listMethods().filter((m) => {
    try {
      checkTrainable(m.name);
      return true;
    } catch {
      return false;
    }
  });
  const readme = readFileSync("README.md", "utf8").replace(/\s+/g, " ");
  assert.match(readme, new RegExp(`the trainer can produce \\(${trainable.length} of them`));
});
