import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { runMethod } from "../../src/core/registry.js";
import { InputError } from "../../src/core/errors.js";
import { groupStats } from "../../src/core/stats.js";
import { assertClose, makeBatch } from "../helpers.js";

test("group statistics near the float limit: reward 1e308 no longer zeroes a group silently", () => {
  // Plain sums overflow (2e308); scaled by the largest magnitude they do not.
  const b = makeBatch([{ tokens: [1, 2], reward: 0 }, { tokens: [3], reward: 1e308 }, { tokens: [4], reward: 1e308 }]);
  const out = runMethod("grpo", b);
  const a = 1 / Math.sqrt(3); // the group [0, 1, 1] scaled by 1e308
  assertClose(out.advantages, [-2 * a, -2 * a, a, a], 1e-12, 1e-9);
  const st = groupStats(b, b.reward);
  assertClose([st.mean[0], st.std[0]], [(2 / 3) * 1e308, Math.sqrt(1 / 3) * 1e308], 0, 1e-12);
});

test("scaled statistics equal the plain ones wherever the plain ones are finite", () => {
  fc.assert(
    fc.property(fc.array(fc.double({ min: -1e300, max: 1e300, noNaN: true }), { minLength: 2, maxLength: 8 }), fc.double({ min: 1e7, max: 1e8, noNaN: true }), (xs, scale) => {
      // The same group at two magnitudes: statistics scale exactly with the values.
      const small = xs.map((x) => x / 1e300);
      const rows = (v: number[]) => makeBatch(v.map((reward, k) => ({ tokens: [k], reward })));
      const big = groupStats(rows(small.map((x) => x * scale * 1e300)), small.map((x) => x * scale * 1e300));
      const ref = groupStats(rows(small), small);
      assertClose([big.mean[0] / (scale * 1e300), big.std[0] / (scale * 1e300)], [ref.mean[0], ref.std[0]], 1e-12, 1e-9);
    }),
    { numRuns: 200 },
  );
});

test("extreme scores: finite advantages where the maths allows, else an input error naming the rollout that caused it, not line 1", () => {
  // std (1.42e308) is finite but s - mean is not: grpo divides first.
  const b = makeBatch([{ tokens: [1], reward: 0 }, { tokens: [2], reward: 1 }, { tokens: [3], reward: 1.7e308 }, { tokens: [4], reward: 1.7e308 }, { tokens: [5], reward: -1.7e308 }]);
  const out = runMethod("grpo", b);
  const scaled = [0, 1 / 1.7e308, 1, 1, -1];
  const m = scaled.reduce((x, y) => x + y, 0) / 5;
  const sd = Math.sqrt(scaled.reduce((x, y) => x + (y - m) ** 2, 0) / 4);
  assertClose(out.advantages, scaled.map((x) => (x - m) / sd), 1e-12, 1e-9);
  // The std itself (sqrt(2) * 1.7e308) is beyond the float range: the first extreme rollout is named.
  const over = makeBatch([{ tokens: [1], reward: 0, group: "other" }, { tokens: [2], reward: 1.7e308 }, { tokens: [3], reward: -1.7e308 }]);
  assert.throws(() => runMethod("grpo", over), (e: unknown) => e instanceof InputError && e.line === 2 && e.field === "reward" && /overflow/.test(e.message));
  // rloo's n/(n-1) scaling overflows on the extreme rollout itself: the runner names its line.
  const r = makeBatch([{ tokens: [1], reward: 0 }, { tokens: [2], reward: 1 }, { tokens: [3], reward: 1.7e308 }, { tokens: [4], reward: -1e308 }]);
  assert.throws(() => runMethod("rloo", r), (e: unknown) => e instanceof InputError && e.line === 3);
});
