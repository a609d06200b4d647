import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { InputError } from "../../src/core/errors.js";
import { runMethod } from "../../src/core/registry.js";
import { assertClose, makeBatch, rowOf, type PartialRow } from "../helpers.js";

/** One token per rollout, so the advantages are the per-rollout values. */
function perRollout(rewards: number[], group = "g"): PartialRow[] {
  return rewards.map((reward) => ({ group, tokens: [1], reward }));
}

test("worked examples: OPMD reweighting (normalize none)", () => {
  assertClose(runMethod("r3l", makeBatch(perRollout([0, 1])), {}).advantages, [-0.5, 1.0], 1e-12, 0, "[0, 1]");
  assertClose(runMethod("r3l", makeBatch(perRollout([0.2, 0.6, 0.0, 1.0])), {}).advantages, [-0.25, 0.45, -0.45, 1.0], 1e-12, 0, "[0.2, 0.6, 0, 1]");
  assertClose(runMethod("r3l", makeBatch(perRollout([1.0])), {}).advantages, [1.0], 0, 0, "singleton 1");
  assertClose(runMethod("r3l", makeBatch(perRollout([0.4])), {}).advantages, [1.2], 1e-12, 0, "singleton 0.4");
});

test("worked example: GRPO reweighting (Part 0 rounding: -1.0147198)", () => {
  const out = runMethod("r3l", makeBatch(perRollout([0.2, 0.6, 0.0, 1.0])), { normalize: "grpo" });
  assertClose(out.advantages, [-0.5637332, 1.0147198, -1.0147198, 1.0], 1e-6, 0);
  assert.equal(out.weights, undefined, "no pivot, no weights");
});

test("worked example: pivot 2 masks the first two assistant turns", () => {
  const mask = [0, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1];
  const batch = makeBatch([
    { tokens: mask.map((_, k) => k), mask, reward: 1, signals: { pivot: 2 } },
    { tokens: [1], reward: 0 },
  ]);
  const out = runMethod("r3l", batch, {});
  assertClose(rowOf(batch, out.advantages, 0), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1], 0, 0, "advantages");
  assert.ok(out.weights);
  assertClose(rowOf(batch, out.weights, 0), [1, 1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1], 0, 0, "weights");
  assertClose(rowOf(batch, out.advantages, 1), [-0.5], 0, 0);
  assertClose(rowOf(batch, out.weights, 1), [1], 0, 0);
});

test("invariant: alpha 1 and no cap is the group-mean baseline (Dr.GRPO)", () => {
  const groupsArb = fc.array(fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 4 });
  fc.assert(
    fc.property(groupsArb, (groups) => {
      const rows = groups.flatMap((g, gi) => perRollout(g, `g${gi}`));
      const batch = makeBatch(rows);
      const out = runMethod("r3l", batch, { alpha: 1, cap: null });
      // Independent: R - mean of the group, a one-response group keeps R (baseline 0, as the reference).
      const expected = groups.flatMap((g) => {
        const b = g.length === 1 ? 0 : g.reduce((s, x) => s + x, 0) / g.length;
        return g.map((x) => x - b);
      });
      assertClose(out.advantages, expected, 1e-12, 1e-12);
      assertClose(out.advantages, runMethod("grpo", batch, { normByStd: false }).advantages, 0, 0, "grpo normByStd false");
    }),
    { numRuns: 200 },
  );
});

test("amplification rules: cap even in an all-success group, alpha on non-negative, negatives unchanged", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 8 }).map((x) => x / 4), { minLength: 2, maxLength: 6 }),
      fc.constantFrom(0, 1, 3, 5),
      fc.constantFrom(1, 1.5, null),
      (rewards, alpha, cap) => {
        const out = runMethod("r3l", makeBatch(perRollout(rewards)), { alpha, cap });
        const mean = rewards.reduce((s, x) => s + x, 0) / rewards.length;
        rewards.forEach((r, i) => {
          const s = r - mean;
          const expected = cap !== null && r >= cap ? cap : s >= 0 ? alpha * s : s;
          assertClose([out.advantages[i]], [expected], 1e-12, 1e-12, `reward ${r}`);
        });
      },
    ),
    { numRuns: 200 },
  );
  assertClose(runMethod("r3l", makeBatch(perRollout([1, 1, 1])), {}).advantages, [1, 1, 1], 0, 0, "all success");
  assertClose(runMethod("r3l", makeBatch(perRollout([0.5, 0.5])), { normalize: "grpo" }).advantages, [0, 0], 0, 0, "zero variance");
});

test("bad pivots are input errors naming signals.pivot", () => {
  const isPivotError = (line: number) => (e: unknown) => e instanceof InputError && e.field === "signals.pivot" && e.line === line;
  const twoTurns = { tokens: [1, 2, 3], mask: [1, 0, 1] };
  assert.throws(() => runMethod("r3l", makeBatch([{ tokens: [1] }, { ...twoTurns, signals: { pivot: 2 } }]), {}), isPivotError(2));
  assert.throws(() => runMethod("r3l", makeBatch([{ ...twoTurns, signals: { pivot: 1.5 } }]), {}), isPivotError(1));
  assert.throws(() => runMethod("r3l", makeBatch([{ ...twoTurns, signals: { pivot: -1 } }]), {}), isPivotError(1));
  assert.throws(() => runMethod("r3l", makeBatch([{ ...twoTurns, signals: { pivot: "1" } }]), {}), isPivotError(1));
  assert.throws(() => runMethod("r3l", makeBatch([{ tokens: [], signals: { pivot: 0 } }]), {}), isPivotError(1));
  // pivot 0 masks nothing and emits no weights.
  const out = runMethod("r3l", makeBatch([{ ...twoTurns, reward: 0.5, signals: { pivot: 0 } }]), {});
  assertClose(out.advantages, [1.5, 0, 1.5], 1e-12, 0);
  assert.equal(out.weights, undefined);
});

test("token rewards enter R; mask-0 tokens get 0; the bundled example runs", () => {
  const batch = makeBatch([
    { tokens: [1, 2, 3], mask: [1, 0, 1], reward: 0.5, token_rewards: [0.5, 9, 0] },
    { tokens: [4], reward: 0 },
  ]);
  // R = [10 (the tool token's reward counts in the score, as rollouts.md and verl), 0]: the first is
  // capped at 1, the other gets 0 - mean = -5.
  assertClose(runMethod("r3l", batch, {}).advantages, [1, 0, 1, -5], 1e-12, 0);

  const lines = readFileSync("examples/turns.jsonl", "utf8").trim().split("\n");
  const example = makeBatch(lines.map((l) => JSON.parse(l) as PartialRow));
  const res = runMethod("r3l", example, {});
  assertClose(rowOf(example, res.advantages, 0), [0, 0, 0, 0, 0, -0.5, -0.5, 0, 0, -0.5, -0.5], 1e-12, 0, "first attempt, pivot 1");
  assertClose(rowOf(example, res.advantages, 1), [0, 0, 0, 0, 0, 1, 1, 0, 0, 1], 1e-12, 0, "retry, pivot 1");
  assertClose(rowOf(example, res.advantages, 2), [1, 1, 1, 1], 0, 0, "reflection singleton");
});
