import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { runMethod } from "../../src/core/registry.js";
import { InputError } from "../../src/core/errors.js";
import { selfRewardLoss, selfRewardScore } from "../../src/methods/laser.js";
import { assertClose, makeBatch, rowOf, seqTokens } from "../helpers.js";

/** Per-rollout value of a token array (every mask-1 token of a rollout carries the same advantage). */
function perRollout(batch: ReturnType<typeof makeBatch>, arr: Float64Array): number[] {
  return Array.from({ length: batch.n }, (_, i) => (batch.offsets[i + 1] > batch.offsets[i] ? arr[batch.offsets[i]] : NaN));
}

test("laser: worked example (methods.md Part 3 section 13d): scores, balanced L_SR, integrated advantage", () => {
  const rs = [-15, -17, -20].map((lp) => selfRewardScore(lp, -23, 0.1));
  assertClose(rs, [0.8, 0.6, 0.3], 1e-12, 1e-9);
  const loss = selfRewardLoss(rs, [1, 1, 0], [1, 1, 1], true);
  assertClose([loss], [0.095], 1e-12, 1e-9);
  assertClose([0.1 * loss], [0.0095], 1e-12, 1e-9);

  const batch = makeBatch([
    { tokens: seqTokens(3), reward: 1, signals: { self_reward: rs[0] } },
    { tokens: seqTokens(2), reward: 1, signals: { self_reward: rs[1] } },
    { tokens: seqTokens(4), reward: 0, signals: { self_reward: rs[2] } },
  ]);
  const out = runMethod("laser", batch, { lambda: 0.1 });
  assertClose(out.diag!.rollouts!.a_sr, [0.927173, 0.132453, -1.059626], 1e-6, 0);
  assertClose(out.diag!.rollouts!.a_grpo, [0.577349, 0.577349, -1.154699], 1e-6, 0);
  assertClose(perRollout(batch, out.advantages), [0.612332, 0.53286, -1.145191], 1e-6, 0);
  assertClose(rowOf(batch, out.advantages, 2), new Array(4).fill(out.advantages[5]), 0, 0);
  assertClose(out.returns!, out.advantages, 0, 0);
});

test("laser: selfRewardLoss: unbalanced weights are 1; truncated samples are left out; a class with no sample weighs 0", () => {
  assertClose([selfRewardLoss([0.8, 0.6, 0.3], [1, 1, 0], [1, 1, 1], false)], [(0.04 + 0.16 + 0.09) / 3], 1e-12, 1e-9);
  assertClose([selfRewardLoss([0.8, 0.6, 5], [1, 1, 0], [1, 1, 0], true)], [(0.04 * 0.5 + 0.16 * 0.5) / 2], 1e-12, 1e-9);
  assertClose([selfRewardLoss([0.5], [1], [false], true)], [0], 0, 0);
});

test("laser: truncated rows enter the group statistics as 0 and need no self_reward", () => {
  const batch = makeBatch([
    { tokens: seqTokens(2), reward: 1, signals: { self_reward: 0.9 } },
    { tokens: seqTokens(2), reward: 0, finished: false },
    { tokens: seqTokens(2), reward: 0, finished: false, signals: { self_reward: 0.95 } },
    { tokens: seqTokens(2), reward: 1, signals: { self_reward: 0.4 } },
  ]);
  const out = runMethod("laser", batch, { lambda: 0.5 });
  const rt = [0.9, 0, 0, 0.4];
  assertClose(out.diag!.rollouts!.self_reward_clamped, rt, 0, 0);
  const m = rt.reduce((a, b) => a + b, 0) / 4;
  const sd = Math.sqrt(rt.reduce((a, b) => a + (b - m) ** 2, 0) / 3);
  const aSr = rt.map((x) => (x - m) / sd);
  assertClose(out.diag!.rollouts!.a_sr, aSr, 1e-12, 1e-12);
  const grpo = runMethod("grpo", batch);
  const aGrpo = perRollout(batch, grpo.advantages);
  assertClose(perRollout(batch, out.advantages), aGrpo.map((g, i) => 0.5 * g + 0.5 * aSr[i]), 1e-12, 1e-12);
});

test("laser: self_reward is clamped to [0, 1]", () => {
  const batch = makeBatch([
    { tokens: [1], reward: 1, signals: { self_reward: 1.7 } },
    { tokens: [1], reward: 0, signals: { self_reward: -0.4 } },
    { tokens: [1], reward: 0, signals: { self_reward: 0.5 } },
  ]);
  const out = runMethod("laser", batch);
  assertClose(out.diag!.rollouts!.self_reward_clamped, [1, 0, 0.5], 0, 0);
});

test("laser: a group whose self-reward std is <= tau keeps the GRPO advantage", () => {
  const batch = makeBatch([
    { tokens: seqTokens(2), reward: 1, signals: { self_reward: 0.5 } },
    { tokens: seqTokens(3), reward: 0, signals: { self_reward: 0.55 } },
    { tokens: seqTokens(2), reward: 0, signals: { self_reward: 0.5 } },
  ]);
  const out = runMethod("laser", batch, { lambda: 0.7, tau: 0.1 });
  const grpo = runMethod("grpo", batch);
  assertClose(out.advantages, grpo.advantages, 1e-15, 1e-12);
  assertClose(out.diag!.rollouts!.a_sr, out.diag!.rollouts!.a_grpo, 0, 0);
});

test("laser: a one-response group has A_sr = r~ (whatever tau); GRPO part is s / (1 + eps)", () => {
  const batch = makeBatch([{ tokens: seqTokens(3), reward: 1, signals: { self_reward: 0.3 } }]);
  const out = runMethod("laser", batch, { lambda: 0.25, tau: 5 });
  assertClose(out.diag!.rollouts!.a_sr, [0.3], 0, 0);
  assertClose(out.advantages, new Array(3).fill(0.75 / (1 + 1e-6) + 0.25 * 0.3), 1e-15, 1e-12);
});

test("laser: mask-0 tokens get 0; token_rewards join the outcome score of the GRPO part", () => {
  const batch = makeBatch([
    { tokens: seqTokens(4), mask: [1, 0, 0, 1], reward: 0, token_rewards: [0, 0, 0, 1], signals: { self_reward: 0.9 } },
    { tokens: seqTokens(2), reward: 0, signals: { self_reward: 0.1 } },
  ]);
  const out = runMethod("laser", batch, { lambda: 0 });
  const g = 1 / Math.SQRT2; // scores [1, 0]: mean 0.5, unbiased std 1/sqrt(2)
  assertClose(out.advantages, [0.5 / (g + 1e-6), 0, 0, 0.5 / (g + 1e-6), -0.5 / (g + 1e-6), -0.5 / (g + 1e-6)], 1e-12, 1e-12);
});

test("laser: bad self_reward is an input error naming the line", () => {
  const check = (rows: Parameters<typeof makeBatch>[0], line: number, detail: RegExp) =>
    assert.throws(() => runMethod("laser", makeBatch(rows)), (e: unknown) => {
      assert.ok(e instanceof InputError, String(e));
      assert.equal(e.field, "signals.self_reward");
      assert.equal(e.line, line);
      assert.match(e.detail, detail);
      return true;
    });
  check([{ tokens: [1], signals: { self_reward: 0.5 } }, { tokens: [1] }], 2, /missing/);
  check([{ tokens: [1], signals: { self_reward: "0.5" } }], 1, /finite number/);
  check([{ tokens: [1], signals: { self_reward: null } }], 1, /finite number/);
  check([{ tokens: [1], finished: false, signals: { self_reward: [1] } }], 1, /finite number/);
});

const groupArb = fc.array(
  fc.record({
    T: fc.integer({ min: 0, max: 4 }),
    reward: fc.constantFrom(0, 1),
    finished: fc.boolean(),
    selfReward: fc.double({ min: -0.5, max: 1.5, noNaN: true }),
  }),
  { minLength: 1, maxLength: 6 },
);

test("laser: property: lambda = 0 is GRPO; A = (1 - lambda) A_GRPO + lambda A_sr, constant over a response's mask-1 tokens", () => {
  fc.assert(
    fc.property(fc.array(groupArb, { minLength: 1, maxLength: 3 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (groups, lambda, tau) => {
      const rows = groups.flatMap((g, gi) =>
        g.map((r) => ({ tokens: seqTokens(r.T), group: `q${gi}`, reward: r.reward, finished: r.finished, signals: { self_reward: r.selfReward } })),
      );
      const batch = makeBatch(rows);
      const grpo = runMethod("grpo", batch);
      assertClose(runMethod("laser", batch, { lambda: 0, tau }).advantages, grpo.advantages, 0, 0);
      const out = runMethod("laser", batch, { lambda, tau });
      const aG = out.diag!.rollouts!.a_grpo;
      const aS = out.diag!.rollouts!.a_sr;
      const rt = out.diag!.rollouts!.self_reward_clamped;
      for (let i = 0; i < batch.n; i++) {
        assert.ok(rt[i] >= 0 && rt[i] <= 1 && (batch.finished[i] || rt[i] === 0));
        const expected = (1 - lambda) * aG[i] + lambda * aS[i];
        assertClose(rowOf(batch, out.advantages, i), new Array(batch.offsets[i + 1] - batch.offsets[i]).fill(expected), 1e-12, 1e-12);
      }
      // Independent A_sr per group: unbiased std of r~ over the group, no eps.
      groups.forEach((_, gi) => {
        const members = rows.map((r, i) => (r.group === `q${gi}` ? i : -1)).filter((i) => i >= 0);
        const xs = members.map((i) => rt[i]);
        const m = xs.reduce((a, b) => a + b, 0) / xs.length;
        const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1)) : 0;
        members.forEach((i, j) => {
          const e = xs.length === 1 ? xs[0] : sd > tau ? (xs[j] - m) / sd : aG[i];
          assertClose([aS[i]], [e], 1e-9, 1e-9);
        });
      });
    }),
  );
});
