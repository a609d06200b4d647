import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { additionSolution, getTask, makeAdditionTask, mulberry32, VOCAB } from "../../src/tasks/index.js";
import type { TaskPrompt } from "../../src/tasks/index.js";

const task = getTask("addition-3d");
const enc = (s: string): number[] => VOCAB.encode(s);

const unpadded = makeAdditionTask({ digits: 3, pad: false });

/** A prompt for given operands, built the way the task builds it (the verifier reads `answer`). */
function promptFor(a: number, b: number, width = 3): TaskPrompt {
  const text = `${String(a).padStart(width, "0")}+${String(b).padStart(width, "0")}=`;
  return { id: `addition:${text.slice(0, -1)}`, text, tokens: [VOCAB.bos, ...enc(text)], answer: { a, b } };
}

describe("addition", () => {
  it("writes the worked example of its doc comment", () => {
    assert.equal(additionSolution(47, 85), "7+5+0=12;4+8+1=13;132");
    assert.equal(additionSolution(5, 123), "5+3+0=08;0+2+0=02;0+1+0=01;128");
    assert.equal(additionSolution(0, 0), "0+0+0=00;0");
    assert.equal(additionSolution(999, 1), "9+1+0=10;9+0+1=10;9+0+1=10;1000");
    assert.equal(additionSolution(47, 85, 3), "7+5+0=12;4+8+1=13;0+0+1=01;132");
    assert.equal(additionSolution(0, 3, 3), "0+3+0=03;0+0+0=00;0+0+0=00;3");
  });

  it("pads operands by default and writes digits columns; the unpadded variant aligns by length", () => {
    const rng = mulberry32(4);
    const p = task.samplePrompt(rng);
    assert.match(p.text, /^\d{3}\+\d{3}=$/);
    assert.equal(task.verify(promptFor(47, 85), [...enc("7+5+0=12;4+8+1=13;0+0+1=01;132"), VOCAB.eos]).reward, 1);
    // Two columns are too few when padded...
    assert.equal(task.verify(promptFor(47, 85), [...enc("7+5+0=12;4+8+1=13;132"), VOCAB.eos]).reward, 0);
    // ...and exactly right unpadded, where three would be one too many.
    assert.equal(unpadded.name, "addition-3d-u");
    const u = promptFor(47, 85, 0);
    assert.equal(u.text, "47+85=");
    assert.equal(unpadded.verify(u, [...enc("7+5+0=12;4+8+1=13;132"), VOCAB.eos]).reward, 1);
    assert.equal(unpadded.verify(u, [...enc("7+5+0=12;4+8+1=13;0+0+1=01;132"), VOCAB.eos]).reward, 0);
    for (const q of unpadded.evalSet(50, 1)) assert.doesNotMatch(q.text, /^0\d|\+0\d/);
  });

  it("registers 2 digits as the default and 3 digits as addition-3d", () => {
    const def = getTask("addition");
    assert.equal(def.maxResponseTokens, 22);
    assert.match(def.samplePrompt(mulberry32(1)).text, /^\d\d\+\d\d=$/);
    assert.match(def.description, /"47\+85=" -> "7\+5\+0=12;4\+8\+1=13;132"/);
    assert.equal(def.verify(promptFor(47, 85, 2), [...enc("7+5+0=12;4+8+1=13;132"), VOCAB.eos]).reward, 1);
    assert.equal(def.verify(promptFor(5, 85, 2), [...enc("5+5+0=10;0+8+1=09;90"), VOCAB.eos]).reward, 1);
    assert.equal(promptFor(5, 85, 2).text, "05+85=");
  });

  it("addition-3d has a 32-token bound", () => {
    assert.equal(task.maxResponseTokens, 32);
    assert.equal(task.verify(promptFor(999, 999), [...enc(additionSolution(999, 999, 3)), VOCAB.eos]).reward, 1);
    assert.equal([...enc(additionSolution(999, 999, 3)), VOCAB.eos].length, 32);
    const rng = mulberry32(1);
    for (let k = 0; k < 500; k++) {
      const p = task.samplePrompt(rng);
      const { a, b } = p.answer as { a: number; b: number };
      assert.ok(a >= 0 && a < 1000 && b >= 0 && b < 1000);
      assert.equal(p.text, `${String(a).padStart(3, "0")}+${String(b).padStart(3, "0")}=`);
    }
  });

  it("step ends are the column semicolons, then the last token (answer + eos)", () => {
    const resp = [...enc("7+5+0=12;4+8+1=13;0+0+1=01;132"), VOCAB.eos];
    const v = task.verify(promptFor(47, 85), resp);
    assert.deepEqual(v.stepEnds, [8, 17, 26, 30]);
    assert.equal(resp[v.stepEnds![3]], VOCAB.eos);
  });

  it("flipping an answer digit gives reward 0 (property over operands)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 999 }), fc.integer({ min: 0, max: 999 }), fc.nat(), fc.integer({ min: 1, max: 9 }), (a, b, pos, delta) => {
        const sol = additionSolution(a, b, 3);
        const ansStart = sol.lastIndexOf(";") + 1;
        const k = ansStart + (pos % (sol.length - ansStart));
        const flipped = sol.slice(0, k) + String((Number(sol[k]) + delta) % 10) + sol.slice(k + 1);
        const v = task.verify(promptFor(a, b), [...enc(flipped), VOCAB.eos]);
        assert.equal(v.reward, 0, flipped);
        assert.equal(v.correct, false);
      }),
      { numRuns: 500 },
    );
  });

  it("judges the outcome only: a wrong column digit with the right answer still scores 1", () => {
    assert.equal(task.verify(promptFor(47, 85), [...enc("7+5+0=13;4+8+1=13;0+0+1=01;132"), VOCAB.eos]).reward, 1);
  });

  it("rejects malformed responses", () => {
    const p = promptFor(47, 85, 0);
    const task = unpadded;
    for (const bad of [
      "",
      "132",
      "7+5+0=12;132", // a column missing
      "7+5+0=12;4+8+1=13;0+0+1=01;132", // a column too many
      "7+5+0=2;4+8+1=13;132", // one-digit column sum
      "7+5=12;4+8+1=13;132",
      "7+5+0=12;4+8+1=13;0132", // leading zero
      "7+5+0=12;4+8+1=13;132;",
      "7+5+0=12;4+8+1=13;",
      "7+5+0=12,4+8+1=13;132",
      "7+5+0=12;4+8+1=13;13a",
    ]) {
      assert.equal(task.verify(p, [...enc(bad), VOCAB.eos]).reward, 0, bad);
    }
    // bos or pad inside the response, out-of-range ids: malformed, not an exception.
    const good = enc("7+5+0=12;4+8+1=13;132");
    assert.equal(task.verify(p, [VOCAB.bos, ...good]).reward, 0);
    assert.equal(task.verify(p, [...good.slice(0, 3), VOCAB.pad, ...good.slice(3)]).reward, 0);
    assert.equal(task.verify(p, [...good, 999]).reward, 0);
    assert.equal(task.verify(p, [...good, -1, VOCAB.eos]).reward, 0);
    assert.equal(task.verify(p, [...good, 1.5]).reward, 0);
    // Anything after the first eos is ignored.
    assert.equal(task.verify(p, [...good, VOCAB.eos, 7, 7, 7]).reward, 1);
  });

  it("rejects a prompt that is not an addition prompt", () => {
    assert.throws(() => task.verify({ id: "x", text: "", tokens: [VOCAB.bos], answer: null }, [VOCAB.eos]), /not an addition prompt/);
  });

  it("splits the whole 1-digit prompt space exactly: eval and train are complementary and disjoint", () => {
    const small = makeAdditionTask({ digits: 1, pad: false });
    assert.equal(small.name, "addition-1d-u");
    const trainIds = new Set<string>();
    const rng = mulberry32(3);
    for (let k = 0; k < 20_000; k++) trainIds.add(small.samplePrompt(rng).id);
    // Collect every eval prompt by asking for eval sets until the size request fails.
    let evalIds = new Set<string>();
    for (let n = 1; n <= 100; n++) {
      try {
        evalIds = new Set(small.evalSet(n, 5).map((p) => p.id));
      } catch {
        break;
      }
    }
    assert.ok(evalIds.size > 0, "some eval prompts");
    for (const id of evalIds) assert.ok(!trainIds.has(id), id);
    assert.equal(trainIds.size + evalIds.size, 100, "every one of the 100 prompts is on exactly one side");
    // Commuted operands are on the same side.
    for (const id of evalIds) {
      const [a, b] = id.slice("addition:".length).split("+");
      assert.ok(evalIds.has(`addition:${b}+${a}`), `${id} commuted`);
    }
    assert.throws(() => small.evalSet(100, 5), /distinct evaluation prompts/);
  });

  it("validates its options", () => {
    assert.throws(() => makeAdditionTask({ digits: 0 }));
    assert.throws(() => makeAdditionTask({ digits: 2.5 }));
    assert.equal(makeAdditionTask({ digits: 2 }).maxResponseTokens, 22);
    assert.equal(makeAdditionTask({ digits: 2 }).name, "addition");
    assert.equal(makeAdditionTask({ digits: 4 }).name, "addition-4d");
    assert.equal(makeAdditionTask({ digits: 2, name: "add2" }).name, "add2");
  });
});
