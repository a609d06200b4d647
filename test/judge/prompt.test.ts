import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { buildCritiqueMessages, CRITIQUE_SYSTEM_PROMPT, formatVerdict, parseWrongSteps } from "../../src/judge/prompt.js";

test("the critique prompt numbers steps from 1 and asks for the WRONG_STEPS line", () => {
  const msgs = buildCritiqueMessages("  What is 2+3? ", ["Add 2 and 3.", "  Get 6. "], "5");
  assert.equal(msgs.length, 2);
  assert.deepEqual(msgs[0], { role: "system", content: CRITIQUE_SYSTEM_PROMPT });
  assert.equal(msgs[1].role, "user");
  assert.equal(
    msgs[1].content,
    "Problem:\nWhat is 2+3?\n\nReference answer:\n5\n\nSolution (2 steps):\nStep 1: Add 2 and 3.\nStep 2: Get 6.\n\nWhich steps are wrong? End with the WRONG_STEPS line.",
  );
  assert.match(CRITIQUE_SYSTEM_PROMPT, /WRONG_STEPS: \[\]/);
});

test("parse: the verdict line (last one wins), 1-based numbers become 0-based", () => {
  assert.deepEqual(parseWrongSteps("Step 2 adds wrongly.\nWRONG_STEPS: [2]", 3), [1]);
  assert.deepEqual(parseWrongSteps("WRONG_STEPS: [1]\nOn reflection:\nWRONG_STEPS: [3, 1]", 3), [0, 2]);
  assert.deepEqual(parseWrongSteps("WRONG_STEPS: []", 3), []);
  assert.deepEqual(parseWrongSteps("Wrong steps: none", 3), []);
  assert.deepEqual(parseWrongSteps("wrong_steps = 2, 3", 3), [1, 2]);
});

test("parse: JSON objects and bare JSON lists, numeric strings and ranges inside", () => {
  assert.deepEqual(parseWrongSteps('```json\n{"wrong_steps": [3, 1, 3]}\n```', 4), [0, 2]);
  assert.deepEqual(parseWrongSteps('{"incorrect_steps": ["Step 2", "3-4"], "confidence": 0.9}', 4), [1, 2, 3]);
  assert.deepEqual(parseWrongSteps("The wrong ones are [2, 4].", 4), [1, 3]);
  assert.deepEqual(parseWrongSteps("[]", 4), []);
});

test("parse: step references, ranges and prose", () => {
  assert.deepEqual(parseWrongSteps("Step 3", 5), [2]);
  assert.deepEqual(parseWrongSteps("Steps 2-4 are wrong.", 5), [1, 2, 3]);
  assert.deepEqual(parseWrongSteps("steps 2 to 3 contain an error", 5), [1, 2]);
  assert.deepEqual(parseWrongSteps("Steps 1, 4 and 5 are incorrect.", 5), [0, 3, 4]);
  assert.deepEqual(parseWrongSteps("Step 1 is correct, but step 3 is wrong.", 5), [2]);
  assert.deepEqual(parseWrongSteps("There is no error in steps 1-2. However step 4 makes a mistake.", 5), [3]);
  assert.deepEqual(parseWrongSteps("Step 2 is not correct: 3*4 is 12.", 5), [1]);
  assert.deepEqual(parseWrongSteps("All steps are correct.", 5), []);
  assert.deepEqual(parseWrongSteps("I found no mistakes in the solution.", 5), []);
  assert.deepEqual(parseWrongSteps("None", 5), []);
});

test("parse: out-of-range numbers are dropped, wild ranges are clipped", () => {
  assert.deepEqual(parseWrongSteps("WRONG_STEPS: [0, 2, 7]", 3), [1]);
  assert.deepEqual(parseWrongSteps("Steps 2-1000000000 are wrong", 3), [1, 2]);
  assert.deepEqual(parseWrongSteps("Step 9 is wrong.", 3), []);
});

test("parse: reasoning blocks are ignored; an answer without a verdict is malformed (null)", () => {
  assert.deepEqual(parseWrongSteps("<think>Maybe step 1 is wrong? WRONG_STEPS: [1]</think>\nWRONG_STEPS: [2]", 3), [1]);
  assert.deepEqual(parseWrongSteps("<think>step 1 is wrong</think>All steps are correct.", 3), []);
  assert.equal(parseWrongSteps("I am not able to judge this solution.", 3), null);
  assert.equal(parseWrongSteps("", 3), null);
  assert.equal(parseWrongSteps("<think>step 2 is wrong", 3), null);
});

test("property: a formatted verdict, anywhere in an answer, parses back to its steps", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 30 }), fc.array(fc.nat(), { maxLength: 8 }), fc.constantFrom("", "Let me check each step.\n", "Step 1 looks wrong at first.\n"), (S, raw, prefix) => {
      const wrong = [...new Set(raw.map((x) => x % S))].sort((a, b) => a - b);
      assert.deepEqual(parseWrongSteps(prefix + formatVerdict(wrong), S), wrong);
    }),
  );
});

test("property: parsed indices are always sorted, unique and in range", () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 80 }), fc.integer({ min: 0, max: 10 }), (s, S) => {
      const r = parseWrongSteps(s, S);
      if (r === null) return;
      for (let k = 0; k < r.length; k++) {
        assert.ok(Number.isInteger(r[k]) && r[k] >= 0 && r[k] < S);
        if (k > 0) assert.ok(r[k] > r[k - 1]);
      }
    }),
  );
});
