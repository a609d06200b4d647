import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { decisivePositions, maxDigit, decisiveSolution, getTask, gtLetter, makeDecisiveTask, mulberry32, VOCAB } from "../../src/tasks/index.js";
import type { DecisiveAnswer, TaskPrompt } from "../../src/tasks/index.js";

const task = getTask("decisive");
const enc = (s: string): number[] => VOCAB.encode(s);

function promptFor(key: string): TaskPrompt {
  return { id: `decisive:${key}`, text: `${key}:`, tokens: [VOCAB.bos, ...enc(`${key}:`)], answer: { key } };
}

describe("decisive", () => {
  it("writes the documented record, 33 tokens with eos, decisive tokens at 13 and 18", () => {
    assert.equal(decisiveSolution("4827"), "key:4827,max:7,gt:n,key:4827,end");
    assert.equal(decisiveSolution("7824"), "key:7824,max:7,gt:y,key:7824,end");
    assert.equal(gtLetter("5005"), "n", "ties are not greater");
    assert.equal(maxDigit("9999"), "9");
    assert.equal(maxDigit("1930"), "1", "middle digits do not count");
    assert.equal(maxDigit("0193"), "3");
    assert.equal(task.maxResponseTokens, 33);
    const demo = task.demonstration(promptFor("4827"), mulberry32(0));
    assert.equal(demo.length, 33);
    const v = task.verify(promptFor("4827"), demo);
    assert.deepEqual(v.decisive, [13, 18]);
    assert.deepEqual(v.stepEnds, [8, 14, 19, 28, 32]);
  });

  it("decisive indices point at the max digit and the gt letter (property over keys and lengths)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 8 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), (L, seed) => {
        const t = makeDecisiveTask({ keyLength: L });
        const rng = mulberry32(seed);
        const prompt = t.samplePrompt(rng);
        const { key } = prompt.answer as DecisiveAnswer;
        assert.equal(key.length, L);
        const demo = t.demonstration(prompt, rng);
        const v = t.verify(prompt, demo);
        assert.deepEqual(v.decisive, decisivePositions(L));
        const [s, g] = v.decisive!;
        assert.equal(VOCAB.decode(demo.slice(s - 4, s + 1)), `max:${maxDigit(key)}`);
        assert.equal(VOCAB.decode(demo.slice(g - 3, g + 1)), `gt:${gtLetter(key)}`);
        // The demonstration is the same for every key except at the copies and the decisive tokens.
        const other = t.demonstration({ ...prompt, answer: { key: "0".repeat(L) } }, rng);
        for (let k = 0; k < demo.length; k++) {
          const inKey = (k >= 4 && k < 4 + L) || (k >= 2 * L + 20 - L && k < 2 * L + 20);
          if (!inKey && k !== s && k !== g) assert.equal(demo[k], other[k], `position ${k}`);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("changing a decisive token to any other token gives 0", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.boolean(), fc.integer({ min: 0, max: VOCAB.size - 1 }), (seed, which, tok) => {
        const prompt = task.samplePrompt(mulberry32(seed));
        const demo = task.demonstration(prompt, mulberry32(seed));
        const k = which ? 13 : 18;
        fc.pre(tok !== demo[k]);
        const bad = demo.slice();
        bad[k] = tok;
        assert.equal(task.verify(prompt, bad).reward, 0);
      }),
      { numRuns: 500 },
    );
  });

  it("ignores every non-decisive token: any change elsewhere (except an early eos) keeps reward 1", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: -3, max: VOCAB.size + 3 })), { minLength: 1, maxLength: 20 }),
        (seed, edits) => {
          const prompt = task.samplePrompt(mulberry32(seed));
          const demo = task.demonstration(prompt, mulberry32(seed));
          const noisy = demo.slice();
          for (const [pos, tok] of edits) {
            const k = pos % demo.length;
            if (k === 13 || k === 18) continue;
            // An eos before the decisive tokens ends the response early; that is covered below.
            if (tok === VOCAB.eos && k < 18) continue;
            noisy[k] = tok;
          }
          assert.equal(task.verify(prompt, noisy).reward, 1, VOCAB.decode(noisy.filter((t) => VOCAB.isId(t))));
        },
      ),
      { numRuns: 500 },
    );
    // Concretely: a misspelt field and a wrong key copy still score 1 when both decisive tokens are right.
    assert.equal(task.verify(promptFor("4827"), [...enc("kex:4828,sum:7,gq:n,kkk:0000,enx"), VOCAB.eos]).reward, 1);
    // The response may stop right after the gt letter (no eos: a truncated sample).
    assert.equal(task.verify(promptFor("4827"), enc("key:4827,max:7,gt:n")).reward, 1);
  });

  it("a response that ends (eos) or stops before the decisive tokens scores 0", () => {
    const full = [...enc(decisiveSolution("4827")), VOCAB.eos];
    assert.equal(task.verify(promptFor("4827"), full.slice(0, 18)).reward, 0);
    const early = full.slice();
    early[15] = VOCAB.eos;
    const v = task.verify(promptFor("4827"), early);
    assert.equal(v.reward, 0);
    assert.deepEqual(task.verify(promptFor("4827"), full.slice(0, 15)).decisive, [13]);
    assert.deepEqual(task.verify(promptFor("4827"), []).decisive, []);
    assert.deepEqual(task.verify(promptFor("4827"), []).stepEnds, []);
  });

  it("validates options", () => {
    assert.throws(() => makeDecisiveTask({ keyLength: 1 }));
    assert.throws(() => makeDecisiveTask({ keyLength: 9 }));
    assert.equal(makeDecisiveTask({ keyLength: 3 }).name, "decisive-3");
    assert.equal(makeDecisiveTask({ keyLength: 3 }).maxResponseTokens, 31);
  });
});
