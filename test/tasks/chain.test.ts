import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { chainPlanning, chainSolution, chainStep, getTask, makeChainTask, mulberry32, VOCAB } from "../../src/tasks/index.js";
import type { ChainAnswer, ChainOp, TaskPrompt } from "../../src/tasks/index.js";

const task = getTask("chain");
// The hand cases use three operations.
const task3 = makeChainTask({ ops: 3 });
const enc = (s: string): number[] => VOCAB.encode(s);
const withEos = (s: string): number[] => [...enc(s), VOCAB.eos];

function promptFor(start: number, ops: ChainOp[], operands: number[]): TaskPrompt {
  const text = `${start}${ops.map((op, k) => `${op}${operands[k]}`).join("")}:`;
  return { id: `chain:${text.slice(0, -1)}`, text, tokens: [VOCAB.bos, ...enc(text)], answer: { start, ops, operands } };
}

describe("chain", () => {
  // 7-5 = 2; 2+3 = 5; 5-4 = 1
  const p = promptFor(7, ["-", "+", "-"], [5, 3, 4]);

  it("steps are exact digit arithmetic", () => {
    assert.equal(chainStep(7, "-", 5), 2);
    assert.equal(chainStep(2, "+", 3), 5);
    assert.equal(chainStep(2, "*", 4), 8);
  });

  it("accepts the worked example with every step +1 and the documented step ends", () => {
    const demo = task3.demonstration(p, mulberry32(0));
    assert.equal(VOCAB.decode(demo), "7-5=2;2+3=5;5-4=1;>1$");
    const v = task3.verify(p, demo);
    assert.equal(v.reward, 1);
    assert.deepEqual(v.stepEnds, [5, 11, 17, 20]);
    assert.deepEqual(v.stepRewards, [1, 1, 1, 1]);
    assert.deepEqual(v.signals, {
      solved: true,
      critiques: [[]],
      verifications: [1, 1, 1, 1],
      // operator and operand of each equation, and ">"
      planning: [0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0],
    });
  });

  it("judges each step on its own: a slip costs its step and the answer, not the steps that carry it", () => {
    // 2+3 miscomputed as 6; the next step applies -4 to 6 correctly (2); the answer 2 is wrong.
    const v = task3.verify(p, withEos("7-5=2;2+3=6;6-4=2;>2"));
    assert.deepEqual(v.stepRewards, [1, -1, 1, -1]);
    assert.equal(v.reward, 0);
    assert.deepEqual((v.signals as { critiques: number[][] }).critiques, [[1, 3]]);
    // Starting from a digit other than the previous written result is wrong even when the arithmetic is right.
    assert.deepEqual(task3.verify(p, withEos("7-5=2;3+3=6;6-4=2;>1")).stepRewards, [1, -1, 1, 1]);
    assert.deepEqual(task3.verify(p, withEos("7-5=2;2+3=6;5-4=1;>1")).stepRewards, [1, -1, -1, 1]);
    // The wrong operation or operand.
    assert.deepEqual(task3.verify(p, withEos("7-5=2;2-3=9;9-4=5;>1")).stepRewards, [1, -1, 1, 1]);
    assert.deepEqual(task3.verify(p, withEos("7-6=1;1+3=4;4-4=0;>1")).stepRewards, [-1, 1, 1, 1]);
    // Not a digit: not a step at all, so the next one has nothing to start from.
    assert.deepEqual(task3.verify(p, withEos("7-5=12;2+3=5;5-4=1;>1")).stepRewards, [-1, -1, 1, 1]);
    // Right steps, wrong answer.
    const w = task3.verify(p, withEos("7-5=2;2+3=5;5-4=1;>3"));
    assert.deepEqual(w.stepRewards, [1, 1, 1, -1]);
    assert.equal(w.correct, false);
  });

  it("scores missing, extra and malformed steps as wrong and never throws", () => {
    assert.deepEqual(task3.verify(p, withEos("7-5=2;2+3=5;>1")).stepRewards, [1, 1, -1]); // the answer where step 2 was due
    assert.deepEqual(task3.verify(p, withEos("7-5=2;2+3=5;5-4=1;>1;>1")).stepRewards, [1, 1, 1, 1, -1]);
    assert.equal(task3.verify(p, withEos("7-5=2;2+3=5;5-4=1;>1;>1")).reward, 0);
    assert.deepEqual(task3.verify(p, withEos("7-5=2;2+3=5;5-4=1;")).stepRewards, [1, 1, 1, -1]); // eos alone is the missing answer
    assert.deepEqual(task3.verify(p, enc("7-5=2;2+3=5;5-4=1;")).stepRewards, [1, 1, 1]); // cut off: no answer step at all
    assert.equal(task3.verify(p, enc("7-5=2;2+3=5;5-4=1;")).reward, 0);
    for (const bad of ["07-5=2", "7-5=02", "7-5==2", "7-5=2a", "7 -5=2", "7-55=2", "7-5", ""]) {
      assert.equal(task3.verify(p, withEos(`${bad};2+3=5;5-4=1;>1`)).stepRewards![0], -1, bad);
    }
    assert.equal(task3.verify(p, withEos("7-5=2;2+3=5;5-4=1;>01")).stepRewards![3], -1);
    const junk = [...enc("7-5=2;"), VOCAB.bos, ...enc("2+3=5;5-4=1;>1"), VOCAB.eos];
    // A malformed step has no written result, so the step after it cannot start from it.
    assert.deepEqual(task3.verify(p, junk).stepRewards, [1, -1, -1, 1]);
    assert.deepEqual(task3.verify(p, []), { reward: 0, correct: false, stepEnds: [], stepRewards: [], signals: { solved: false, critiques: [[]], verifications: [], planning: [] } });
    assert.equal(task3.verify(p, [1000, -1, 2.5]).reward, 0);
  });

  it("ignores what follows the eos: segments wholly after it score 0 and are not flagged", () => {
    const v = task3.verify(p, [...withEos("7-5=2;2+3=5;5-4=1;>1"), ...enc(";1;"), VOCAB.pad]);
    assert.equal(v.reward, 1);
    assert.deepEqual(v.stepRewards, [1, 1, 1, 1, 0, 0]);
    assert.deepEqual((v.signals as { critiques: number[][] }).critiques, [[]]);
  });

  it("marks planning tokens structurally on any response", () => {
    assert.deepEqual(chainPlanning(enc("1*23=3;>5")), [0, 1, 1, 1, 0, 0, 0, 1, 0]);
    assert.deepEqual(chainPlanning([...enc("+1"), VOCAB.eos, ...enc("+1")]), [1, 1, 0, 0, 0]);
  });

  it("a step changed in a demonstration is flagged there, and so is the step that should start from it (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 9 }), (seed, k, delta) => {
        const prompt = task.samplePrompt(mulberry32(seed));
        const steps = chainSolution(prompt.answer as ChainAnswer).split(";");
        const z = Number(steps[k][steps[k].length - 1]);
        steps[k] = steps[k].slice(0, -1) + String((z + delta) % 10);
        // (any other digit: the step is wrong whether or not the new digit keeps the chain in range)
        const v = task.verify(prompt, withEos(steps.join(";")));
        assert.equal(v.reward, 0);
        assert.equal(v.stepRewards![k], -1);
        for (let j = 0; j < k; j++) assert.equal(v.stepRewards![j], 1);
        // The next equation starts from the true value, not the written one; the answer is judged against the true result.
        assert.equal(v.stepRewards![k + 1], k + 1 === 4 ? 1 : -1);
      }),
      { numRuns: 200 },
    );
  });

  it("draws digits and operations as documented, sizes the bound, validates options", () => {
    const rng = mulberry32(4);
    for (let k = 0; k < 300; k++) {
      const q = task.samplePrompt(rng);
      const ans = q.answer as ChainAnswer;
      assert.ok(ans.start >= 1 && ans.start <= 9);
      assert.equal(ans.ops.length, 4);
      assert.ok(ans.operands.every((y) => y >= 1 && y <= 9));
      assert.ok(ans.ops.every((op) => op === "+" || op === "-"));
      let x = ans.start;
      for (let j = 0; j < 4; j++) {
        x = chainStep(x, ans.ops[j], ans.operands[j]);
        assert.ok(x >= 0 && x <= 9, "every value is a digit");
      }
      assert.equal(q.text, `${ans.start}${ans.ops.map((op, j) => `${op}${ans.operands[j]}`).join("")}:`);
    }
    assert.equal(task.maxResponseTokens, 27);
    assert.equal(makeChainTask({ ops: 2 }).name, "chain-2");
    const pmt = makeChainTask({ operators: "+-*" });
    assert.equal(pmt.name, "chain-4-pmt");
    let times = 0;
    for (let k = 0; k < 200; k++) times += (pmt.samplePrompt(rng).answer as ChainAnswer).ops.filter((op) => op === "*").length;
    assert.ok(times > 0);
    const pmtDemo = pmt.demonstration(pmt.samplePrompt(rng), rng);
    assert.equal(pmt.verify(pmt.samplePrompt(mulberry32(9)), pmt.demonstration(pmt.samplePrompt(mulberry32(9)), rng)).reward, 1);
    assert.equal(pmtDemo[pmtDemo.length - 1], VOCAB.eos);
    assert.throws(() => makeChainTask({ ops: 7 }));
    assert.throws(() => makeChainTask({ operators: "" }));
    assert.throws(() => makeChainTask({ operators: "++" }));
    assert.throws(() => makeChainTask({ operators: "/" }));
  });

  it("scores budget answers by the true result only", () => {
    const b = task3.budget!;
    assert.deepEqual(b.budgets, [6, 12, 21]);
    assert.deepEqual(task.budget!.budgets, [6, 12, 18, 27]);
    assert.deepEqual(task.methodOptions, { brpo: { budgets: [6, 12, 18, 27] } });
    assert.deepEqual(b.cue, enc(">"));
    assert.equal(b.thinkingLength(withEos("7-5=2;2+3=5;5-4=1;>1")), 18);
    assert.equal(b.thinkingLength(enc("7-5=2")), 5);
    assert.equal(b.scoreAnswer(p, withEos("1")), 1);
    assert.equal(b.scoreAnswer(p, enc("1")), 1);
    assert.equal(b.scoreAnswer(p, withEos("3")), 0);
    assert.equal(b.scoreAnswer(p, withEos("01")), 0);
    assert.equal(b.scoreAnswer(p, withEos("11")), 0);
    assert.equal(b.scoreAnswer(p, [VOCAB.pad]), 0);
  });
});
