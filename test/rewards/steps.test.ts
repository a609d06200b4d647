import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { judgedTokenRewards, remapCritiques, splitSteps, stepEndsFromPieces, voteWrongSteps } from "../../src/rewards/steps.js";
import { runMethod } from "../../src/core/registry.js";
import { makeBatch, rowOf, seqTokens } from "../helpers.js";

test("splitSteps on blank lines: separators stay with the step before, ranges tile the text", () => {
  const text = "  Let x = 2.\n\nThen x^2 = 4.\n\n\n   \nSo the answer is 4.\n";
  const steps = splitSteps(text);
  assert.deepEqual(steps.map((s) => s.text), ["Let x = 2.", "Then x^2 = 4.", "So the answer is 4."]);
  assert.equal(steps[0].start, 0);
  assert.equal(steps[0].end, text.indexOf("Then"));
  assert.equal(steps[1].end, text.indexOf("So"));
  assert.equal(steps[2].end, text.length);
  assert.deepEqual(splitSteps(""), []);
  assert.deepEqual(splitSteps("\n\n  \n"), []);
  assert.deepEqual(splitSteps("a\nb\n\nc", "newline").map((s) => s.text), ["a", "b", "c"]);
});

test("splitSteps on <step k> tags: tags and closing tags are dropped from the text", () => {
  const text = "Plan: <step 1>Add 2 and 3.</step 1>\n<step 2>Get 5.</step 2>";
  const steps = splitSteps(text, "step-tags");
  assert.deepEqual(steps.map((s) => s.text), ["Plan: Add 2 and 3.", "Get 5."]);
  assert.equal(steps[0].start, 0);
  assert.equal(steps[1].start, text.indexOf("<step 2>"));
  assert.equal(steps[1].end, text.length);
});

test("stepEndsFromPieces: a step ends at the token holding its last char; trailing empty tokens join the last step", () => {
  const pieces = ["Let", " x", "=2", ".\n\n", "So", " 4", ".", ""];
  const { steps, stepEnds, stepOf } = stepEndsFromPieces(pieces);
  assert.deepEqual(steps.map((s) => s.text), ["Let x=2.", "So 4."]);
  assert.deepEqual(stepEnds, [3, 7]);
  assert.deepEqual(stepOf, [0, 1]);
  // a separator split across tokens: the step ends at the token with the separator's last char
  assert.deepEqual(stepEndsFromPieces(["a", "\n", "\nb", "c"]).stepEnds, [2, 3]);
  assert.deepEqual(stepEndsFromPieces(["a", "\n", "\n", "b"]).stepEnds, [2, 3]);
  assert.deepEqual(stepEndsFromPieces([]).stepEnds, []);
});

test("stepEndsFromPieces: steps ending inside one token share its step end; remapCritiques follows", () => {
  const { stepEnds, stepOf } = stepEndsFromPieces(["x\n\ny\n\nz", "\n\nw"]);
  assert.deepEqual(stepEnds, [0, 1]);
  // "x" and "y" end in token 0; "z" ends at the second newline after it, in token 1, with "w"
  assert.deepEqual(stepOf, [0, 0, 1, 1]);
  assert.deepEqual(remapCritiques([[1, 2], [3, 9], [0, 1]], stepOf), [[0, 1], [1], [0]]);
});

test("voteWrongSteps: methods.md §12 voting example and K = 0", () => {
  const c = [[2], [2], [], [2, 3]];
  assert.deepEqual(Array.from(voteWrongSteps(c, 4, "majority")), [0, 0, 1, 0]);
  assert.deepEqual(Array.from(voteWrongSteps(c, 4, "intersection")), [0, 0, 0, 0]);
  assert.deepEqual(Array.from(voteWrongSteps(c, 4, "average")), [0, 0, 0.75, 0.25]);
  for (const rule of ["majority", "intersection", "average"] as const) assert.deepEqual(Array.from(voteWrongSteps([], 3, rule)), [0, 0, 0]);
  assert.deepEqual(Array.from(voteWrongSteps([[1], [1]], 2, "intersection")), [0, 1]);
});

test("property: step ends are strictly increasing, end at T-1, and every step's last char lies in its end token", () => {
  fc.assert(
    fc.property(fc.array(fc.stringMatching(/^[ab\n ]{0,4}$/), { maxLength: 20 }), (pieces) => {
      const { steps, stepEnds, stepOf } = stepEndsFromPieces(pieces);
      for (let j = 1; j < stepEnds.length; j++) assert.ok(stepEnds[j] > stepEnds[j - 1]);
      if (steps.length > 0) assert.equal(stepEnds[stepEnds.length - 1], pieces.length - 1);
      const starts: number[] = [];
      let c = 0;
      for (const p of pieces) {
        starts.push(c);
        c += p.length;
      }
      steps.forEach((st, s) => {
        const tok = stepEnds[stepOf[s]];
        if (stepOf[s] < stepEnds.length - 1) assert.ok(starts[tok] <= st.end - 1 && st.end - 1 < starts[tok] + pieces[tok].length);
      });
    }),
  );
});

test("property: votes are fractions in [0, 1]; intersection implies majority implies flagged", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 8 }), fc.array(fc.array(fc.nat(), { maxLength: 6 }), { maxLength: 6 }), (S, raw) => {
      const c = raw.map((xs) => xs.map((x) => x % S));
      const avg = voteWrongSteps(c, S, "average");
      const maj = voteWrongSteps(c, S, "majority");
      const all = voteWrongSteps(c, S, "intersection");
      for (let s = 0; s < S; s++) {
        assert.ok(avg[s] >= 0 && avg[s] <= 1);
        assert.equal(maj[s], avg[s] > 0.5 ? 1 : 0);
        assert.equal(all[s], c.length > 0 && avg[s] === 1 ? 1 : 0);
        if (all[s]) assert.equal(maj[s], 1);
      }
    }),
  );
});

test("judgedTokenRewards: methods.md §12 rows, tail and masked tokens 0", () => {
  assert.deepEqual(Array.from(judgedTokenRewards(4, [1, 3], [0, 0], true, 2, 1)), [2, 2, 2, 2]);
  assert.deepEqual(Array.from(judgedTokenRewards(4, [1, 3], [0, 1], true, 2, 1)), [2, 2, 1, 1]);
  assert.deepEqual(Array.from(judgedTokenRewards(4, [1, 3], [0, 0], false, 2, 1)), [0, 0, 0, 0]);
  assert.deepEqual(Array.from(judgedTokenRewards(4, [1, 3], [1, 0], false, 2, 1)), [-1, -1, 0, 0]);
  assert.deepEqual(Array.from(judgedTokenRewards(6, [1, 3], [0.5, 0], true, 2, 1, [1, 0, 1, 1, 1, 1])), [1.5, 0, 2, 2, 0, 0]);
});

test("property: judgedTokenRewards agrees with the capo method's token rewards", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 12 }).chain((T) =>
        fc.record({
          T: fc.constant(T),
          ends: fc.uniqueArray(fc.integer({ min: 0, max: T - 1 }), { minLength: 1, maxLength: T }).map((xs) => xs.sort((a, b) => a - b)),
          mask: fc.array(fc.constantFrom(0, 1), { minLength: T, maxLength: T }),
          flags: fc.array(fc.array(fc.nat(), { maxLength: 3 }), { maxLength: 4 }),
          solved: fc.boolean(),
        }),
      ),
      fc.constantFrom("majority", "intersection", "average"),
      (r, vote) => {
        const critiques = r.flags.map((f) => f.map((x) => x % r.ends.length));
        const batch = makeBatch([{ tokens: seqTokens(r.T), mask: r.mask, step_ends: r.ends, signals: { critiques, solved: r.solved } }]);
        const fromMethod = rowOf(batch, runMethod("capo", batch, { vote, wOutcome: 3, wProcess: 2 }).diag!.tokens!.tokenReward, 0);
        const direct = judgedTokenRewards(r.T, r.ends, voteWrongSteps(critiques, r.ends.length, vote), r.solved, 3, 2, r.mask);
        assert.deepEqual(fromMethod, Array.from(direct));
      },
    ),
  );
});
