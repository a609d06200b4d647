import { test } from "node:test";
import assert from "node:assert/strict";
import { runMethod } from "../../src/core/registry.js";
import { InputError } from "../../src/core/errors.js";
import { groundedInferenceReward, groundedValue } from "../../src/methods/groundedprm.js";
import { assertClose, makeBatch, rowOf } from "../helpers.js";

test("groundedprm: backed-up values and the inference reward of the worked example (part5 6d)", () => {
  // Rollout [0, +1, -1, +1, (v4 -> F = -1)]: s = [1, -1, 1], N = 3.
  const a = groundedValue([1, -1, 1, 1], -1);
  assertClose([a.V, a.finalV], [0.222222, -0.111111], 1e-6, 0);
  assertClose([1, 2, 3].map((k) => 0.9 ** k * a.finalV), [-0.1, -0.09, -0.081], 1e-9, 0);
  const c = groundedValue([1, 1, 1], 1); // [0, 1, 1, (-> F = +1)]
  assertClose([c.V, c.finalV], [0.75, 1.25], 1e-12, 0);
  assertClose([groundedValue([1], 1).finalV], [1], 0, 0);
  assertClose([groundedInferenceReward(-0.2, -2.0)], [0.858149], 1e-6, 0);
});

test("groundedprm: values back up along each path and add up where paths share a step prefix", () => {
  const b = makeBatch([
    { tokens: [1, 2, 3, 4], reward: 0, step_ends: [1, 3], signals: { verifications: [1, 1] } },
    { tokens: [1, 2, 5], reward: 1, step_ends: [1, 2], signals: { verifications: [1, 1] } },
  ]);
  const out = runMethod("groundedprm", b, { perVisit: false });
  // Path 1: N = 1, s = [1], F = -1: V = 1, final_V = 1 - 1 = 0. Path 2: V = 1, final_V = 2.
  const f1 = groundedValue([1, 1], -1).finalV, f2 = groundedValue([1, 1], 1).finalV;
  assertClose([f1, f2], [0, 2], 1e-12, 0);
  // Shared first step: 0.9 * (f1 + f2); last steps: their own final_V.
  assertClose(rowOf(b, out.advantages, 0), [1.8, 1.8, f1, f1], 1e-12, 0);
  assertClose(rowOf(b, out.advantages, 1), [1.8, 1.8, f2], 1e-12, 0);
  const perVisit = runMethod("groundedprm", b);
  assertClose(rowOf(b, perVisit.advantages, 0), [0.9, 0.9, f1, f1], 1e-12, 0); // two visits of the shared node
  assertClose(rowOf(b, perVisit.diag!.tokens!.step_label, 0), [1, 1, -1, -1], 0, 0);
});

test("groundedprm: verifications other than +1, -1, 0, or of the wrong count, are input errors", () => {
  const row = (v: unknown) => makeBatch([{ tokens: [1, 2], reward: 1, step_ends: [0, 1], signals: { verifications: v } }]);
  assert.throws(() => runMethod("groundedprm", row([1, 2])), (e: unknown) => e instanceof InputError && e.field === "signals.verifications");
  assert.throws(() => runMethod("groundedprm", row([1])), (e: unknown) => e instanceof InputError && e.field === "signals.verifications");
});
