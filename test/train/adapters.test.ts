/**
 * The adapter layer (issue 10 §3): the trainer and CreditBench name no method; every method the
 * trainer accepts is exactly one whose inputs it can produce; a method's adapter is what supplies
 * its extra inputs.
 */
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { listMethods } from "../../src/core/registry.js";
import "../../src/methods/index.js";
import { adapterFor, checkTrainable, missingInputs, trainableMethods } from "../../src/train/adapters/index.js";
import { DEFAULT_TRAIN } from "../../src/train/config.js";

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

test("trainer.ts and fidelity.ts contain no method name", () => {
  for (const file of ["src/train/trainer.ts", "src/creditbench/fidelity.ts"]) {
    const text = readFileSync(new URL(`../../../${file}`, import.meta.url), "utf8");
    const named = listMethods().map((m) => m.name).filter((n) => new RegExp(`["'\`]${escape(n)}["'\`]`).test(text));
    assert.deepEqual(named, [], `${file} names ${named.join(", ")}`);
  }
});

test("trainable methods are exactly those with no missing input, and refusals name the input", () => {
  const all = listMethods().map((m) => m.name);
  const trainable = trainableMethods();
  for (const m of all) {
    if (trainable.includes(m)) assert.doesNotThrow(() => checkTrainable(m));
    else {
      const missing = missingInputs(m);
      assert.ok(missing.length > 0, m);
      assert.throws(() => checkTrainable(m), new RegExp(`'${escape(m)}' needs ${escape(missing[0])}`));
    }
  }
  // Inputs only an adapter or the model provides make a method trainable.
  for (const m of ["spo-chain", "tw-grpo", "thr"]) assert.ok(trainable.includes(m), m);
  for (const m of ["rto", "dpo-token-reward", "tgdpo"]) assert.ok(trainable.includes(m), `${m}: a DPO model's log-probs from --dpo-policy`);
  for (const m of ["matchtir", "gigpo", "r3l", "brpo", "laser"]) assert.ok(trainable.includes(m), `${m}: episodes, turn rows and extra sampling`);
  assert.ok(trainable.includes("pure") && trainable.includes("rank-grpo"), "inputs from the chain and rank tasks");
  assert.ok(trainable.includes("gae"), "values come from the critic");
});

test("an adapter carries its run state through save and load", () => {
  const a = adapterFor("hapo", DEFAULT_TRAIN), b = adapterFor("hapo", DEFAULT_TRAIN);
  assert.equal(a.saveState?.(), null);
  const base = { temperature: 1, topP: 1, eos: 0 };
  assert.equal(a.sampleOptions?.(base).adaptiveTemperature, undefined, "no statistics yet: the fixed temperature");
  const shaping = a.shapeLoss?.([[0.1, 0.5, 2.0], [1.0, 0.05]]);
  assert.ok(shaping && shaping.perToken.length === 2 && shaping.perToken[0].length === 3);
  const saved = JSON.parse(JSON.stringify(a.saveState?.()));
  b.loadState?.(saved);
  const ta = a.sampleOptions?.(base).adaptiveTemperature, tb = b.sampleOptions?.(base).adaptiveTemperature;
  assert.ok(ta && tb);
  for (const H of [0.01, 0.5, 3]) assert.equal(ta(H), tb(H));
  // Methods without special needs get the empty adapter: groups in, runMethod out.
  assert.deepEqual(adapterFor("grpo", DEFAULT_TRAIN), {});
  assert.throws(() => adapterFor("no-such-method", DEFAULT_TRAIN), /unknown method/);
});

test("task-provided inputs: step rewards and verdict signals reach the rows; refusals name the task that provides them", async () => {
  const { resolveTask } = await import("../../src/train/tasks.js");
  const { toRows } = await import("../../src/train/rollouts.js");
  const { taskFor } = await import("../../src/train/adapters/index.js");
  const chain = resolveTask("chain");
  const p = chain.samplePrompt(() => 0.42);
  const demo = chain.demonstration(p, () => 0.5);
  const verdict = chain.verify(p, demo);
  assert.ok(verdict.stepRewards && verdict.stepEnds && verdict.stepRewards.length === verdict.stepEnds.length);
  const [row] = toRows([{ id: "a", group: "g", prompt: p, tokens: demo, logprobs: demo.map(() => -1), entropies: demo.map(() => 1), finished: true, verdict }], { stepEnds: true, episodes: false });
  assert.deepEqual(row.step_rewards, verdict.stepRewards);
  assert.deepEqual(row.step_ends, verdict.stepEnds);
  for (const [k, v] of Object.entries(verdict.signals ?? {})) assert.deepEqual((row.signals as Record<string, unknown>)[k], v);
  // Without --task, a method trains on the task that provides its inputs; on a task that lacks them it is refused.
  assert.equal(taskFor("pure", "addition"), "chain");
  assert.equal(taskFor("rank-grpo", "addition"), "rank");
  assert.equal(taskFor("grpo", "addition"), "addition");
  assert.throws(() => checkTrainable("pure", resolveTask("addition")), /method 'pure' needs step_rewards, which task 'addition' does not provide; task 'chain' does \(--task chain\)/);
  assert.doesNotThrow(() => checkTrainable("pure", chain));
  // Multi-turn tasks run as episodes; what episodes cannot do is refused with the reason.
  assert.doesNotThrow(() => checkTrainable("matchtir", resolveTask("tools")));
  assert.throws(() => checkTrainable("spo-chain", resolveTask("tools")), /spo-chain' samples beyond the task's responses .* multi-turn task 'tools'/);
  assert.throws(() => checkTrainable("brpo", resolveTask("addition")), /brpo' needs signals.budget_scores, which task 'addition' does not provide; task 'chain' does/);
  // Without --task, the task each method is meant for.
  for (const [m, t] of [["matchtir", "tools"], ["gigpo", "tools"], ["r3l", "tools"], ["brpo", "chain"], ["laser", "addition"]]) assert.equal(taskFor(m, "addition"), t, m);
});
