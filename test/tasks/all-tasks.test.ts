/**
 * Properties every registered task must have: demonstrations verify, random responses never
 * throw, the eval split is disjoint from training prompts and deterministic, prompts are
 * well-formed for the shared vocabulary.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { demonstrationDataset, getTask, listTasks, makeAdditionTask, makeCountdownTask, makeDecisiveTask, mulberry32, VOCAB } from "../../src/tasks/index.js";
import type { Task } from "../../src/tasks/index.js";

const RUNS = 200;

// Non-default configurations get the same checks as the registered tasks.
const VARIANTS = [
  makeAdditionTask({ pad: false }),
  makeAdditionTask({ digits: 2, pad: false }),
  makeCountdownTask({ count: 4, maxNumber: 12 }),
  makeDecisiveTask({ keyLength: 6 }),
];
const REGISTERED = new Set(listTasks());

for (const task of [...listTasks(), ...VARIANTS]) {
  describe(`task ${task.name}`, () => {
    it("is registered under its name (if built in) and uses the shared vocabulary", () => {
      if (REGISTERED.has(task)) assert.equal(getTask(task.name), task);
      assert.equal(task.vocab, VOCAB);
      assert.ok(task.maxResponseTokens > 0);
    });

    it("accepts every demonstration, which ends with eos and fits maxResponseTokens", () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => {
          const rng = mulberry32(seed);
          const prompt = task.samplePrompt(rng);
          const demo = task.demonstration(prompt, rng);
          assert.equal(demo[demo.length - 1], VOCAB.eos);
          assert.ok(demo.length <= task.maxResponseTokens, `${demo.length} > ${task.maxResponseTokens} for ${prompt.text}`);
          assert.ok(demo.slice(0, -1).every((t) => t !== VOCAB.eos && t !== VOCAB.bos && t !== VOCAB.pad));
          const v = task.verify(prompt, demo);
          assert.equal(v.reward, 1, `${prompt.text} ${VOCAB.decode(demo)}`);
          assert.equal(v.correct, true);
          // Without the eos (a trainer that strips it) the verdict is the same.
          assert.equal(task.verify(prompt, demo.slice(0, -1)).reward, 1);
          // Padding after eos is ignored.
          assert.equal(task.verify(prompt, [...demo, VOCAB.pad, VOCAB.pad]).reward, 1);
        }),
        { numRuns: RUNS },
      );
    });

    it("also accepts the demonstrations of held-out prompts", () => {
      for (const p of task.evalSet(100, 7)) assert.equal(task.verify(p, task.demonstration(p, mulberry32(1))).reward, 1);
    });

    it("builds prompts that start with bos and encode their text", () => {
      const rng = mulberry32(3);
      for (let k = 0; k < 100; k++) {
        const p = task.samplePrompt(rng);
        assert.deepEqual(p.tokens, [VOCAB.bos, ...VOCAB.encode(p.text)]);
        assert.ok(p.id.startsWith(`${task.name.split("-")[0]}:`));
      }
    });

    it("never throws on arbitrary responses; rewards are in [0,1]; step ends and decisive indices are valid", () => {
      const rng = mulberry32(11);
      const prompts = Array.from({ length: 20 }, () => task.samplePrompt(rng));
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: prompts.length - 1 }),
          fc.array(fc.oneof(fc.integer({ min: 0, max: VOCAB.size - 1 }), fc.integer({ min: -5, max: 1000 })), { maxLength: task.maxResponseTokens + 5 }),
          (pi, response) => {
            const v = task.verify(prompts[pi], response);
            assert.ok(v.reward >= 0 && v.reward <= 1);
            assert.equal(v.correct, v.reward === 1);
            checkIndices(v.stepEnds, response.length, true);
            checkIndices(v.decisive, response.length, true);
          },
        ),
        { numRuns: 1000 },
      );
    });

    it("rejects near-miss responses built from demonstrations without throwing (mutation fuzz)", () => {
      const rng = mulberry32(5);
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 1e9 }), fc.integer({ min: 0, max: 100 }), fc.integer({ min: 3, max: VOCAB.size - 1 }), (seed, pos, tok) => {
          const prompt = task.samplePrompt(mulberry32(seed));
          const demo = task.demonstration(prompt, rng);
          const k = pos % demo.length;
          const mutated = demo.slice();
          mutated[k] = tok;
          const v = task.verify(prompt, mutated);
          assert.ok(v.reward === 0 || v.reward === 1);
        }),
        { numRuns: 500 },
      );
    });

    it("keeps the eval split disjoint from training prompts", () => {
      const evalIds = new Set(task.evalSet(300, 1).map((p) => p.id));
      assert.equal(evalIds.size, 300, "eval prompts are distinct");
      const rng = mulberry32(2);
      for (let k = 0; k < 20_000; k++) assert.ok(!evalIds.has(task.samplePrompt(rng).id));
      // A second eval set from another seed: the warm-start data avoids both.
      const evalIds2 = new Set(task.evalSet(300, 99).map((p) => p.id));
      for (const p of demonstrationDataset(task, 2000, 4)) assert.ok(!evalIds.has(p.prompt.id) && !evalIds2.has(p.prompt.id));
    });

    it("is deterministic for a fixed seed", () => {
      assert.deepEqual(task.evalSet(50, 42), task.evalSet(50, 42));
      assert.notDeepEqual(task.evalSet(50, 42).map((p) => p.id), task.evalSet(50, 43).map((p) => p.id));
      const a = mulberry32(9), b = mulberry32(9);
      for (let k = 0; k < 50; k++) assert.deepEqual(task.samplePrompt(a), task.samplePrompt(b));
      assert.deepEqual(demonstrationDataset(task, 50, 8), demonstrationDataset(task, 50, 8));
    });
  });
}

function checkIndices(ix: number[] | undefined, T: number, strictlyIncreasing: boolean): void {
  if (ix === undefined) return;
  let prev = -1;
  for (const k of ix) {
    assert.ok(Number.isInteger(k) && k >= 0 && k < T, `index ${k} outside [0, ${T})`);
    if (strictlyIncreasing) assert.ok(k > prev, "indices strictly increasing");
    prev = k;
  }
}

describe("registry", () => {
  it("lists the built-in tasks and rejects unknown names with the valid ones", () => {
    const names = listTasks().map((t: Task) => t.name);
    assert.ok(names.includes("addition"));
    assert.throws(() => getTask("nope"), (e: Error) => names.every((n) => e.message.includes(n)) && e.message.includes("nope"));
  });

  it("demonstrationDataset is pure and draws training prompts", () => {
    const task = getTask("addition");
    const d = demonstrationDataset(task, 30, 1);
    assert.equal(d.length, 30);
    for (const { prompt, response } of d) assert.equal(task.verify(prompt, response).reward, 1);
    assert.deepEqual(demonstrationDataset(task, 0, 1), []);
    assert.throws(() => demonstrationDataset(task, -1, 1));
  });
});
