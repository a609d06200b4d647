import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { chainPlanning, chainSolution, getTask, makeChainTask, mulberry32, VOCAB } from "../../src/tasks/index.js";
import type { ChainAnswer, ChainOp, TaskPrompt } from "../../src/tasks/index.js";

const task = getTask("chain");
const enc = (s: string): number[] => VOCAB.encode(s);
const withEos = (s: string): number[] => [...enc(s), VOCAB.eos];

function promptFor(start: number, ops: ChainOp[], operands: number[]): TaskPrompt {
  const text = `${start}${ops.map((op, k) => `${op}${operands[k]}`).join("")}:`;
  return { id: `chain:${text.slice(0, -1)}`, text, tokens: [VOCAB.bos, ...enc(text)], answer: { start, ops, operands } };
}

describe("chain", () => {
  // ((7+5)*3)-4 = 32
  const p = promptFor(7, ["+", "*", "-"], [5, 3, 4]);

  it("accepts the worked example with every step +1 and the documented step ends", () => {
    const demo = task.demonstration(p, mulberry32(0));
    assert.equal(VOCAB.decode(demo), "07+5=12;12*3=36;36-4=32;>32$");
    const v = task.verify(p, demo);
    assert.equal(v.reward, 1);
    assert.deepEqual(v.stepEnds, [7, 15, 23, 27]);
    assert.deepEqual(v.stepRewards, [1, 1, 1, 1]);
    assert.deepEqual(v.signals, {
      solved: true,
      critiques: [[]],
      verifications: [1, 1, 1, 1],
      // operator and operand of each equation, and ">"
      planning: [0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0],
    });
  });

  it("judges each step on its own: a slip costs its step and the answer, not the steps that carry it", () => {
    // 12*3 miscomputed as 35; the next step applies -4 to 35 correctly; the answer 31 is wrong.
    const v = task.verify(p, withEos("07+5=12;12*3=35;35-4=31;>31"));
    assert.deepEqual(v.stepRewards, [1, -1, 1, -1]);
    assert.equal(v.reward, 0);
    assert.deepEqual((v.signals as { critiques: number[][] }).critiques, [[1, 3]]);
    // Copying a wrong x (not the previous result) is wrong even when the arithmetic is right.
    assert.deepEqual(task.verify(p, withEos("07+5=12;13*3=39;39-4=35;>32")).stepRewards, [1, -1, 1, 1]);
    // ... and a step that does not start from the previous written result is wrong.
    assert.deepEqual(task.verify(p, withEos("07+5=12;12*3=39;36-4=32;>32")).stepRewards, [1, -1, -1, 1]);
    // The wrong operation or operand.
    assert.deepEqual(task.verify(p, withEos("07+5=12;12+3=15;15-4=11;>32")).stepRewards, [1, -1, 1, 1]);
    assert.deepEqual(task.verify(p, withEos("07+6=13;13*3=39;39-4=35;>32")).stepRewards, [-1, 1, 1, 1]);
    // Right steps, wrong answer.
    const w = task.verify(p, withEos("07+5=12;12*3=36;36-4=32;>23"));
    assert.deepEqual(w.stepRewards, [1, 1, 1, -1]);
    assert.equal(w.correct, false);
  });

  it("scores missing, extra and malformed steps as wrong and never throws", () => {
    assert.deepEqual(task.verify(p, withEos("07+5=12;12*3=36;>32")).stepRewards, [1, 1, -1]); // answer where step 2 was due
    assert.deepEqual(task.verify(p, withEos("07+5=12;12*3=36;36-4=32;>32;>32")).stepRewards, [1, 1, 1, 1, -1]);
    assert.equal(task.verify(p, withEos("07+5=12;12*3=36;36-4=32;>32;>32")).reward, 0);
    assert.deepEqual(task.verify(p, withEos("07+5=12;12*3=36;36-4=32;")).stepRewards, [1, 1, 1, -1]); // eos alone is the missing answer
    assert.deepEqual(task.verify(p, enc("07+5=12;12*3=36;36-4=32;")).stepRewards, [1, 1, 1]); // cut off: no answer step at all
    assert.equal(task.verify(p, enc("07+5=12;12*3=36;36-4=32;")).reward, 0);
    for (const bad of ["7+5=12", "07+5=012", "007+5=12", "07+5==12", "07+5=12a", "07 +5=12", "07+55=62", ""]) {
      assert.equal(task.verify(p, withEos(`${bad};12*3=36;36-4=32;>32`)).stepRewards![0], -1, bad);
    }
    assert.equal(task.verify(p, withEos("07+5=12;12*3=36;36-4=32;>032")).stepRewards![3], -1);
    const junk = [...enc("07+5=12;"), VOCAB.bos, ...enc("12*3=36;36-4=32;>32"), VOCAB.eos];
    // A malformed step has no written result, so the step after it cannot start from it.
    assert.deepEqual(task.verify(p, junk).stepRewards, [1, -1, -1, 1]);
    assert.deepEqual(task.verify(p, []), { reward: 0, correct: false, stepEnds: [], stepRewards: [], signals: { solved: false, critiques: [[]], verifications: [], planning: [] } });
  });

  it("ignores what follows the eos: segments wholly after it score 0 and are not flagged", () => {
    const v = task.verify(p, [...withEos("07+5=12;12*3=36;36-4=32;>32"), ...enc(";1;"), VOCAB.pad]);
    assert.equal(v.reward, 1);
    assert.deepEqual(v.stepRewards, [1, 1, 1, 1, 0, 0]);
    assert.deepEqual((v.signals as { critiques: number[][] }).critiques, [[]]);
  });

  it("marks planning tokens structurally on any response", () => {
    assert.deepEqual(chainPlanning(enc("01*23=23;>5")), [0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 0]);
    assert.deepEqual(chainPlanning([...enc("+1"), VOCAB.eos, ...enc("+1")]), [1, 1, 0, 0, 0]);
  });

  it("a step flipped in a demonstration is flagged exactly there (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 0, max: 2 }), (seed, k) => {
        const prompt = task.samplePrompt(mulberry32(seed));
        const ans = prompt.answer as ChainAnswer;
        const steps = chainSolution(ans).split(";");
        // Change step k's result: step k is wrong, the steps before it stay right.
        const m = /=(\d+)$/.exec(steps[k])!;
        const z = Number(m[1]);
        steps[k] = steps[k].slice(0, m.index) + `=${String(z === 0 ? 1 : z - 1).padStart(2, "0")}`;
        const v = task.verify(prompt, withEos(steps.join(";")));
        assert.equal(v.reward, 0);
        assert.equal(v.stepRewards![k], -1);
        for (let j = 0; j < k; j++) assert.equal(v.stepRewards![j], 1);
        // The next equation's x no longer equals the written result; the answer step is judged against the true result.
        assert.equal(v.stepRewards![k + 1], k + 1 === 3 ? 1 : -1);
      }),
      { numRuns: 200 },
    );
  });

  it("generates prompts in range and sizes the response bound", () => {
    const rng = mulberry32(4);
    for (let k = 0; k < 300; k++) {
      const ans = task.samplePrompt(rng).answer as ChainAnswer;
      let v = ans.start;
      for (let j = 0; j < 3; j++) {
        v = ans.ops[j] === "+" ? v + ans.operands[j] : ans.ops[j] === "-" ? v - ans.operands[j] : v * ans.operands[j];
        assert.ok(v >= 0 && v <= 99);
      }
    }
    assert.equal(task.maxResponseTokens, 28);
    assert.equal(makeChainTask({ ops: 2 }).name, "chain-2");
    assert.throws(() => makeChainTask({ ops: 5 }));
    assert.throws(() => makeChainTask({ maxValue: 5 }));
  });

  it("scores budget answers by the true result only", () => {
    const b = task.budget!;
    assert.deepEqual(b.budgets, [8, 16, 28]);
    assert.deepEqual(b.cue, enc(">"));
    assert.equal(b.thinkingLength(withEos("07+5=12;12*3=36;36-4=32;>32")), 24);
    assert.equal(b.thinkingLength(enc("07+5=12")), 7);
    assert.equal(b.scoreAnswer(p, withEos("32")), 1);
    assert.equal(b.scoreAnswer(p, enc("32")), 1);
    assert.equal(b.scoreAnswer(p, withEos("31")), 0);
    assert.equal(b.scoreAnswer(p, withEos("032")), 0);
    assert.equal(b.scoreAnswer(promptFor(1, ["+"], [2]), withEos("03")), 1, "two digits");
    assert.equal(b.scoreAnswer(promptFor(1, ["+"], [2]), withEos("3")), 0);
    assert.equal(b.scoreAnswer(p, [VOCAB.pad]), 0);
  });
});
