import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { runMethod } from "../../src/core/registry.js";
import { InputError } from "../../src/core/errors.js";
import { calmShaped, calmTable } from "../../src/methods/calm.js";
import { lareRdLoss, lareRrdLoss } from "../../src/methods/lare.js";
import { assertClose, makeBatch, rowOf, type PartialRow } from "../helpers.js";

const load = (f: string) => readFileSync(`examples/${f}`, "utf8").trim().split("\n").map((l) => JSON.parse(l) as PartialRow);

test("calm: the offline table and shaped rewards of the worked example (part5 3d)", () => {
  const table = calmTable([{ k1: 2, k3: 1 }, { k1: 1, k2: 1, k3: 1 }]);
  assert.deepEqual(Object.fromEntries(table), { k1: 1, k3: 0.5, k2: 0 });
  assertClose(calmShaped(["k2", "k1", "kX", "k3"], [0, 0, 0, 1], table, 0.1), [0, 0.1, 0, 1.05], 1e-12, 0);
});

test("calm: each subgoal pays beta once per rollout; returns-to-go minus the group mean", () => {
  const b = makeBatch(load("subgoals.jsonl"));
  const out = runMethod("calm", b, { beta: 0.1, gamma: 1 });
  // ep1: steps pay [0, 0.1, 0.1 + 1]; ep2: [0.1, 0 (already achieved) + 0 (reward 0)].
  assertClose(rowOf(b, out.returns!, 0), [1.2, 1.2, 1.1, 1.1], 1e-12, 0);
  assertClose(rowOf(b, out.returns!, 1), [0.1, 0, 0], 1e-12, 0);
  const mean = (1.2 + 0.1) / 2;
  assertClose(rowOf(b, out.advantages, 1), [0.1 - mean, -mean, -mean], 1e-12, 0);
  assert.throws(() => runMethod("calm", makeBatch([{ tokens: [1], reward: 1, step_ends: [0], signals: { subgoals: [[1]] } }])), (e: unknown) => e instanceof InputError && e.field === "signals.subgoals");
});

test("lare: RD and RRD losses of the worked example (part5 4d)", () => {
  assertClose([lareRdLoss([[1, 2, 0, 1]], [6])], [0.25], 1e-12, 0);
  assertClose([lareRrdLoss([[2, 1]], [4], [6])], [-0.125], 1e-12, 0);
  assertClose([lareRrdLoss([[2, 1], [0.5, 1.5]], [4, 3], [6, 3])], [-0.104167], 1e-6, 0);
});

test("lare: the linear RD fit redistributes each episode's return over its steps", () => {
  const b = makeBatch(load("factors.jsonl"));
  const out = runMethod("lare", b, { ridge: 0 });
  // Three episodes, three parameters (two factor weights and a bias): the fit is exact, so each
  // episode's fitted rewards sum to its return.
  assertClose(out.diag!.rollouts!.fitted_return, [3, 2, 0], 1e-6, 0);
  assertClose([out.returns![0], out.returns![b.offsets[1]]], [3, 2], 1e-6, 0);
  // Episode t3 is alone in its group: its baseline is its own fitted return.
  const r3 = rowOf(b, out.returns!, 2);
  assertClose(rowOf(b, out.advantages, 2), r3.map((g) => g - r3[0]), 1e-9, 0);
  assert.throws(() => runMethod("lare", makeBatch([{ tokens: [1, 2], reward: 1, step_ends: [0, 1], signals: { factors: [[1, 0], [1]] } }])), (e: unknown) => e instanceof InputError && e.field === "signals.factors");
});
