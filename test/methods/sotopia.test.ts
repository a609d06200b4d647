import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { runMethod } from "../../src/core/registry.js";
import { InputError } from "../../src/core/errors.js";
import { combineDimensions, utteranceReward } from "../../src/methods/sotopia.js";
import { assertClose, makeBatch, rowOf, type PartialRow } from "../helpers.js";

const rows = readFileSync("examples/sotopia.jsonl", "utf8").trim().split("\n").map((l) => JSON.parse(l) as PartialRow);

test("sotopia: per-dimension rewards, normalisation and the combined reward of the worked example (part5 5d)", () => {
  const goal = Float64Array.from([[3, 8], [1, 8], [2, 4]].map(([a, s]) => utteranceReward(a, 3, s)));
  const rel = Float64Array.from([[0, 2], [3, 2], [3, -1]].map(([a, s]) => utteranceReward(a, 3, s)));
  const know = Float64Array.from([[2, 6], [2, 6], [0, 2]].map(([a, s]) => utteranceReward(a, 3, s)));
  assertClose(goal, [8, 2.666667, 2.666667], 1e-6, 0);
  assertClose(rel, [0, 2, -1], 1e-12, 0);
  assertClose(know, [4, 4, 0], 1e-12, 0);
  assertClose(combineDimensions([goal, rel, know]), [7.777778, 6.666667, 0], 1e-6, 0);
  const b = makeBatch(rows);
  const out = runMethod("sotopia", b, { center: false });
  assertClose(rowOf(b, out.returns!, 0), [7.777778, 7.777778, 7.777778, 6.666667, 6.666667], 1e-6, 0);
  assertClose(rowOf(b, out.returns!, 1), [0, 0, 0], 1e-12, 0);
  const centred = runMethod("sotopia", b);
  assertClose([centred.advantages[0]], [7.777778 - (7.777778 + 6.666667) / 3], 1e-6, 0);
  assert.equal(utteranceReward(-1, 3, 8), -1);
});

test("sotopia: a missing dimension or an attribution off the scale is an input error", () => {
  const bad = structuredClone(rows);
  (bad[1].signals as { attributions: { goal: number[] } }).attributions.goal = [4];
  assert.throws(() => runMethod("sotopia", makeBatch(bad)), (e: unknown) => e instanceof InputError && e.field === "signals.attributions" && e.line === 2);
  const missing = structuredClone(rows);
  delete (missing[0].signals as { episode_scores: Record<string, number> }).episode_scores.knowledge;
  assert.throws(() => runMethod("sotopia", makeBatch(missing)), (e: unknown) => e instanceof InputError && e.field === "signals.episode_scores");
});
