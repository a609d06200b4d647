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
  for (const m of ["rto", "pure"]) assert.ok(!trainable.includes(m), m);
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
