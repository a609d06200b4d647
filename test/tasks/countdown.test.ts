import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { checkSteps, countdownSolutions, formatSteps, getTask, makeCountdownTask, mulberry32, VOCAB } from "../../src/tasks/index.js";
import type { CountdownAnswer, TaskPrompt } from "../../src/tasks/index.js";

const task = getTask("countdown");
const enc = (s: string): number[] => VOCAB.encode(s);
const withEos = (s: string): number[] => [...enc(s), VOCAB.eos];

function promptFor(numbers: number[], target: number): TaskPrompt {
  const text = `${numbers.join(",")}>${target}:`;
  return { id: `countdown:${text.slice(0, -1)}`, text, tokens: [VOCAB.bos, ...enc(text)], answer: { numbers, target } };
}

describe("countdown", () => {
  const p = promptFor([3, 5, 7], 26);

  it("accepts the worked example and every solution the search finds", () => {
    const v = task.verify(p, withEos("3*7=21;21+5=26"));
    assert.equal(v.reward, 1);
    assert.deepEqual(v.stepEnds, [6, 14]);
    const sols = countdownSolutions([3, 5, 7], 26);
    assert.ok(sols.some((s) => formatSteps(s) === "3*7=21;21+5=26"));
    for (const s of sols) assert.equal(task.verify(p, withEos(formatSteps(s))).reward, 1, formatSteps(s));
  });

  it("judges each step: wrong arithmetic, unavailable or reused numbers, wrong final value are 0", () => {
    for (const bad of [
      "3*7=22;22+4=26", // wrong arithmetic
      "3*7=21;21+5=27", // wrong final arithmetic
      "3*7=21;21+3=24", // 3 used twice
      "3*7=21;21+5=26;26-0=26", // 0 is not available
      "4*6=24;24+2=26", // numbers not given
      "3*7=21", // does not reach the target
      "5*5=25;25+1=26", // 5 used twice
      "21+5=26", // 21 never computed
    ]) {
      assert.equal(task.verify(p, withEos(bad)).reward, 0, bad);
    }
    // A result may be used once, later, and not every number has to be used.
    assert.equal(task.verify(promptFor([2, 3, 4], 6), withEos("2*3=6")).reward, 1);
    assert.equal(task.verify(promptFor([2, 3, 4], 24), withEos("2*3=6;6*4=24")).reward, 1);
    assert.equal(task.verify(promptFor([2, 3, 4], 24), withEos("2*3=6;4*6=24")).reward, 1);
    // Duplicated given numbers may each be used once.
    assert.equal(task.verify(promptFor([5, 5, 1], 26), withEos("5*5=25;25+1=26")).reward, 1);
    assert.equal(task.verify(promptFor([5, 2, 1], 26), withEos("5*5=25;25+1=26")).reward, 0);
  });

  it("rejects malformed equations", () => {
    for (const bad of ["", "3*7=21;", ";3*7=21;21+5=26", "3*7=21;21+5=026", "03*7=21;21+5=26", "3*7=21,21+5=26", "3*7=21;21+5=26a", "3*7==21;21+5=26", "7-9=-2", "3 * 7=21;21+5=26"]) {
      assert.equal(task.verify(p, withEos(bad)).reward, 0, JSON.stringify(bad));
    }
    assert.equal(checkSteps("", [1, 2]), null);
  });

  it("flipping the final result digit gives 0 (property over demonstrations)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 9 }), (seed, delta) => {
        const rng = mulberry32(seed);
        const prompt = task.samplePrompt(rng);
        const demo = task.demonstration(prompt, rng);
        const last = demo.length - 2; // last digit of the final result, before eos
        const flipped = demo.slice();
        flipped[last] = enc(String((Number(VOCAB.decode([demo[last]])) + delta) % 10))[0];
        assert.equal(task.verify(prompt, flipped).reward, 0, VOCAB.decode(flipped));
      }),
      { numRuns: 300 },
    );
  });

  it("generates only solvable prompts with the documented ranges", () => {
    const rng = mulberry32(17);
    for (let k = 0; k < 300; k++) {
      const pr = task.samplePrompt(rng);
      const { numbers, target } = pr.answer as CountdownAnswer;
      assert.equal(numbers.length, 3);
      assert.ok(numbers.every((x) => Number.isInteger(x) && x >= 1 && x <= 9));
      assert.ok(target >= 1 && target <= 99 && !numbers.includes(target));
      assert.equal(pr.text, `${numbers.join(",")}>${target}:`);
      assert.ok(countdownSolutions(numbers, target).length > 0);
    }
  });

  it("puts permutations of the same numbers and target on the same side of the split", () => {
    const evalSet = task.evalSet(200, 3);
    const evalKeys = new Set(evalSet.map((q) => { const a = q.answer as CountdownAnswer; return `${[...a.numbers].sort().join(",")}>${a.target}`; }));
    const rng = mulberry32(8);
    for (let k = 0; k < 20_000; k++) {
      const a = task.samplePrompt(rng).answer as CountdownAnswer;
      assert.ok(!evalKeys.has(`${[...a.numbers].sort().join(",")}>${a.target}`));
    }
  });

  it("demonstrations vary with the rng but are deterministic for it", () => {
    const d1 = task.demonstration(p, mulberry32(1));
    assert.deepEqual(task.demonstration(p, mulberry32(1)), d1);
    const seen = new Set<string>();
    for (let s = 0; s < 50; s++) seen.add(VOCAB.decode(task.demonstration(p, mulberry32(s))));
    assert.ok(seen.size > 1);
  });

  it("validates options and sizes the response bound", () => {
    assert.equal(task.maxResponseTokens, 24);
    assert.throws(() => makeCountdownTask({ count: 5 }));
    assert.throws(() => makeCountdownTask({ maxNumber: 0 }));
    assert.throws(() => makeCountdownTask({ count: 2, maxNumber: 1, maxTarget: 1 }).samplePrompt(mulberry32(1)), /no admissible target/);
    const four = makeCountdownTask({ count: 4, maxNumber: 12 });
    assert.equal(four.name, "countdown-4x12");
    const rng = mulberry32(2);
    for (let k = 0; k < 20; k++) {
      const pr = four.samplePrompt(rng);
      const d = four.demonstration(pr, rng);
      assert.ok(d.length <= four.maxResponseTokens);
      assert.equal(four.verify(pr, d).reward, 1);
    }
  });
});
