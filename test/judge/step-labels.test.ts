import { test } from "node:test";
import assert from "node:assert/strict";
import { buildStepMessages, parseThoughtLabels, parseVerdicts } from "../../src/judge/step-labels.js";

test("step-label parsers: the last answer line counts, after <think>; wrong counts or entries are malformed", () => {
  assert.deepEqual(parseThoughtLabels("ok\nLABELS: [C, w, C]", 3, true), ["C", "W", "C"]);
  assert.deepEqual(parseThoughtLabels('<think>LABELS: [M]</think>LABELS: ["M", "U"]', 2, false), ["M", "U"]);
  assert.equal(parseThoughtLabels("LABELS: [C, M]", 2, true), null);
  assert.equal(parseThoughtLabels("LABELS: [C]", 2, true), null);
  assert.equal(parseThoughtLabels("all correct", 1, true), null);
  assert.deepEqual(parseVerdicts("VERDICTS: [+1, -1, 0]", 3), [1, -1, 0]);
  assert.equal(parseVerdicts("VERDICTS: [2, -1]", 2), null);
  assert.deepEqual(parseVerdicts("VERDICTS: []", 0), []);
});

test("step-label prompts come from the shipped data files and number the steps", () => {
  const m = buildStepMessages("tp-grpo", "What is 2 + 2?", ["a", "b"], false);
  assert.match(m[0].content, /LABELS: \[C, C, W, C\]/);
  assert.match(m[1].content, /The final answer is INCORRECT\.[\s\S]*Step 1: a\nStep 2: b/);
  assert.match(buildStepMessages("groundedprm", "p", ["x"])[0].content, /VERDICTS: \[\+1, -1, 0\]/);
});

test("calm and sotopia parsers: JSON after the key, right counts and ranges", async () => {
  const { parseAttributions, parseSubgoals } = await import("../../src/judge/step-labels.js");
  assert.deepEqual(parseSubgoals('x\nSUBGOALS: [[], ["a", "b"]]', 2), [[], ["a", "b"]]);
  assert.equal(parseSubgoals("SUBGOALS: [[]]", 2), null);
  assert.equal(parseSubgoals("SUBGOALS: [[1], []]", 2), null);
  assert.deepEqual(parseAttributions('ATTRIBUTIONS: {"goal": [0, 3]}', 2, ["goal"]), { goal: [0, 3] });
  assert.equal(parseAttributions('ATTRIBUTIONS: {"goal": [0, 4]}', 2, ["goal"]), null);
  assert.equal(parseAttributions('ATTRIBUTIONS: {"goal": [0, 1]}', 2, ["goal", "knowledge"]), null);
});
