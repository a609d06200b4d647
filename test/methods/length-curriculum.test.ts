import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { runMethod } from "../../src/core/registry.js";
import { InputError } from "../../src/core/errors.js";
import { budgetAt, lengthReward, stageDecay } from "../../src/methods/length-curriculum.js";
import { assertClose, makeBatch, type PartialRow } from "../helpers.js";

test("length-curriculum: budgets of both schedule forms (part5 8d)", () => {
  assertClose([0, 149, 150, 300, 450, 599].map((t) => budgetAt(t, 256, 0.7, 150)), [256, 256, 179.2, 125.44, 87.808, 87.808], 1e-9, 1e-12);
  const d = stageDecay(256, 87, 3);
  assertClose([d, stageDecay(256, 87, 1), stageDecay(256, 87, 7)], [0.697846, 0.339844, 0.857117], 1e-6, 0);
  assertClose([0, 1, 2, 3].map((k) => 256 * d ** k), [256, 178.649, 124.669, 87.0], 1e-3, 0);
});

test("length-curriculum: triangular and band length rewards at L = 87 (part5 8d)", () => {
  assertClose([50, 87, 120, 174, 200].map((l) => lengthReward(l, 87, 1, "triangular")), [0.574713, 1, 0.62069, 0, 0], 1e-6, 0);
  assertClose([0, 50].map((l) => lengthReward(l, 87, 1, "band")), [1, 1], 0, 0);
  assertClose([lengthReward(120, 87, 1, "band")], [0.62069], 1e-6, 0);
});

test("length-curriculum: group rewards and advantages of the worked example (part5 8d)", () => {
  const rows = readFileSync("examples/curriculum.jsonl", "utf8").trim().split("\n").map((l) => JSON.parse(l) as PartialRow);
  const b = makeBatch(rows);
  const out = runMethod("length-curriculum", b, { budget: 87 });
  assertClose(out.diag!.rollouts!.reward, [0.886207, 0.906897, 0.4, 0.05], 1e-6, 0);
  const first = [0, 1, 2, 3].map((i) => out.advantages[b.offsets[i]]);
  assertClose(first, [0.909208, 0.967012, -0.449185, -1.427035], 1e-6, 0);
  // The schedule at step 450 gives the same budget family (87.808) and slightly different rewards.
  const sched = runMethod("length-curriculum", b, { step: 450 });
  assertClose([sched.diag!.rollouts!.budget[0]], [87.808], 1e-9, 0);
});

test("length-curriculum: format signals are required while formatWeight > 0, and think_tokens with lengthOf think", () => {
  const b = makeBatch([{ tokens: [1, 2], reward: 1 }, { tokens: [3], reward: 0 }]);
  assert.throws(() => runMethod("length-curriculum", b), (e: unknown) => e instanceof InputError && e.field === "signals.has_think");
  const plain = runMethod("length-curriculum", b, { formatWeight: 0, budget: 2 });
  assert.ok(plain.advantages[0] > 0 && plain.advantages[2] < 0);
  assert.throws(() => runMethod("length-curriculum", b, { formatWeight: 0, lengthOf: "think" }), (e: unknown) => e instanceof InputError && e.field === "signals.think_tokens");
});
