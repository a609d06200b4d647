import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { getMethod, runMethod } from "../../src/core/registry.js";
import { ConfigError, InputError } from "../../src/core/errors.js";
import { assertClose, makeBatch, rowOf, seqTokens } from "../helpers.js";

const V6 = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
const A6 = [0.728875, 0.5725, 0.45, 0.4];
const RET6 = [0.878875, 0.9225, 0.95, 1.0];
const expand = (xs: number[]): number[] => [xs[0], xs[0], xs[1], xs[1], xs[2], xs[3]];

/** Token-level GAE written out independently (no mask), for expectations. */
function refGae(r: number[], V: number[], gamma: number, lambda: number): number[] {
  const A = new Array<number>(r.length);
  let next = 0, last = 0;
  for (let t = r.length - 1; t >= 0; t--) {
    last = r[t] + gamma * next - V[t] + gamma * lambda * last;
    next = V[t];
    A[t] = last;
  }
  return A;
}

test("methods.md §6 (d): fixed n=2, equal aggregation, rewards as token_rewards (klCoef 0)", () => {
  const batch = makeBatch([{ tokens: seqTokens(6), reward: 1, values: V6, token_rewards: [-0.01, -0.02, 0, -0.01, -0.03, 0] }]);
  const out = runMethod("ma-rlhf", batch, { n: 2, klCoef: 0, gamma: 1, lambda: 0.95 });
  assertClose(out.advantages, expand(A6), 1e-9);
  assertClose(out.returns!, expand(RET6), 1e-9);
  assert.deepEqual(Array.from(out.diag!.rollouts!.macroActions), [4]);
});

test("methods.md §6 (d): the same rewards from the KL penalty -0.05 (logprobs - ref_logprobs)", () => {
  const ref = [-1, -2, -0.5, -0.3, -1.1, -0.7];
  const diff = [0.2, 0.4, 0, 0.2, 0.6, 0];
  const batch = makeBatch([{ tokens: seqTokens(6), reward: 1, values: V6, ref_logprobs: ref, logprobs: ref.map((x, k) => x + diff[k]) }]);
  const out = runMethod("ma-rlhf", batch, { n: 2 }); // defaults: klCoef 0.05, gamma 1, lambda 0.95
  assertClose(out.advantages, expand(A6), 1e-9);
  assertClose(out.returns!, expand(RET6), 1e-9);
});

test("the RM reward is clamped to +-2.5 (rewardClip null disables the clamp)", () => {
  const row = { tokens: seqTokens(6), values: V6, token_rewards: [-0.01, -0.02, 0, -0.01, -0.03, 0] };
  const clamped = runMethod("ma-rlhf", makeBatch([{ ...row, reward: 40 }]), { n: 2, klCoef: 0 });
  const at = runMethod("ma-rlhf", makeBatch([{ ...row, reward: 2.5 }]), { n: 2, klCoef: 0 });
  assertClose(clamped.advantages, at.advantages, 1e-12);
  // A3 = R3 - V3 = -2.5 - 0.6 on the sentinel with reward -40
  assertClose([runMethod("ma-rlhf", makeBatch([{ ...row, reward: -40 }]), { n: 2, klCoef: 0 }).advantages[5]], [-3.1], 1e-12);
  assertClose([runMethod("ma-rlhf", makeBatch([{ ...row, reward: 40 }]), { n: 2, klCoef: 0, rewardClip: null }).advantages[5]], [39.4], 1e-12);
});

test("empty last macro (QUIRK default) is a GAE step with V = R = 0; keepEmptyMacro false drops it", () => {
  const row = { tokens: seqTokens(5), reward: 1, values: [0.1, 0.2, 0.3, 0.4, 0.5] };
  // macros {0,1}, {2,3}, {}, {4}: V = [.15, .35, 0, .5], R = [0, 0, 0, 1]
  const quirk = runMethod("ma-rlhf", makeBatch([row]), { n: 2, klCoef: 0 });
  const A = [0.7474375, 0.57625, 0.975, 0.5];
  assertClose(quirk.advantages, [A[0], A[0], A[1], A[1], A[3]], 1e-12);
  assert.deepEqual(Array.from(quirk.diag!.rollouts!.macroActions), [4]);
  const dropped = runMethod("ma-rlhf", makeBatch([row]), { n: 2, klCoef: 0, keepEmptyMacro: false });
  assertClose(dropped.advantages, [0.79375, 0.79375, 0.625, 0.625, 0.5], 1e-12);
});

test("perplexity termination: ppl=[2,1.5,3,2.5,2,4] gives macros {0},{1,2,3},{4},{5}", () => {
  const ppl = [2, 1.5, 3, 2.5, 2, 4];
  const ref = ppl.map((p) => -Math.log(p));
  const batch = makeBatch([{ tokens: seqTokens(6), reward: 1, values: V6, ref_logprobs: ref }]);
  const out = runMethod("ma-rlhf", batch, { termination: "ppl", klCoef: 0, gamma: 0.9, lambda: 0.8 });
  const A = refGae([0, 0, 0, 1], [0.1, 0.3, 0.5, 0.6], 0.9, 0.8);
  assertClose(out.advantages, [A[0], A[1], A[1], A[1], A[2], A[3]], 1e-12);
  assertClose(out.returns!, [A[0] + 0.1, A[1] + 0.3, A[1] + 0.3, A[1] + 0.3, A[2] + 0.5, A[3] + 0.6], 1e-12);
});

test("position aggregation weighs a 3-token macro [6/11, 3/11, 2/11]", () => {
  const ref = [-0.7, -0.5, -0.4, -0.3, -0.6, -0.2]; // ppl rises only from 3 to 4: macros {0,1,2}, {3,4}, {5}
  const values = [0.3, 0.6, 0.9, 0.2, 0.4, 0.8];
  const out = runMethod("ma-rlhf", makeBatch([{ tokens: seqTokens(6), reward: 1, values, ref_logprobs: ref }]), { termination: "ppl", aggregate: "position", klCoef: 0, gamma: 1, lambda: 1 });
  const mV = [(6 * 0.3 + 3 * 0.6 + 2 * 0.9) / 11, (2 * 0.2 + 0.4) / 3, 0.8];
  const A = refGae([0, 0, 1], mV, 1, 1);
  assertClose(out.advantages, [A[0], A[0], A[0], A[1], A[1], A[2]], 1e-12);
});

test("mask-0 tokens take no part: same result as the compacted rollout, 0 on masked positions", () => {
  const tokens = seqTokens(9);
  const mask = [1, 1, 0, 0, 1, 1, 1, 0, 1];
  const values = [0.1, 0.2, 77, -5, 0.3, 0.4, 0.5, 9, 0.6];
  const tr = [-0.01, -0.02, 3, 3, 0, -0.01, -0.03, 3, 0];
  const out = runMethod("ma-rlhf", makeBatch([{ tokens, mask, reward: 1, values, token_rewards: tr }]), { n: 2, klCoef: 0 });
  const e = expand(A6);
  assertClose(out.advantages, [e[0], e[1], 0, 0, e[2], e[3], e[4], 0, e[5]], 1e-9);
  const r = expand(RET6);
  assertClose(out.returns!, [r[0], r[1], 0, 0, r[2], r[3], r[4], 0, r[5]], 1e-9);
});

test("edge cases: empty response, fully masked response, one trainable token", () => {
  const batch = makeBatch([
    { tokens: [], reward: 1, values: [] },
    { tokens: [1, 2], mask: [0, 0], reward: 1, values: [0.5, 0.5] },
    { tokens: [3], reward: 2, values: [0.25] },
  ]);
  const out = runMethod("ma-rlhf", batch, { klCoef: 0 });
  assert.deepEqual(rowOf(batch, out.advantages, 0), []);
  assert.deepEqual(rowOf(batch, out.advantages, 1), [0, 0]);
  // one token: an empty macro [0, 0) then the sentinel {0}: A = R - V
  assertClose(rowOf(batch, out.advantages, 2), [1.75], 1e-12);
  assertClose(rowOf(batch, out.returns!, 2), [2], 1e-12);
});

test("random termination needs a seed; a seed makes it reproducible", () => {
  const rows = [{ tokens: seqTokens(40), reward: 1, values: seqTokens(40).map((k) => k / 40) }];
  assert.throws(() => runMethod("ma-rlhf", makeBatch(rows), { termination: "random", klCoef: 0 }), ConfigError);
  const a = runMethod("ma-rlhf", makeBatch(rows), { termination: "random", seed: 3, klCoef: 0 });
  const b = runMethod("ma-rlhf", makeBatch(rows), { termination: "random", seed: 3, klCoef: 0 });
  assert.deepEqual(Array.from(a.advantages), Array.from(b.advantages));
  // [1,2,3,5,10] sums to 21 < 39: one macro is the rest, so 6 macros + the sentinel
  assert.deepEqual(Array.from(a.diag!.rollouts!.macroActions), [7]);
});

test("missing logprobs with a KL penalty, or ref_logprobs with the ppl rule, is an input error", () => {
  const row = { tokens: seqTokens(3), reward: 1, values: [0, 0, 0] };
  assert.throws(() => runMethod("ma-rlhf", makeBatch([row]), {}), (e: unknown) => e instanceof InputError && e.field === "logprobs");
  assert.throws(() => runMethod("ma-rlhf", makeBatch([row]), { klCoef: 0, termination: "ppl" }), (e: unknown) => e instanceof InputError && e.field === "ref_logprobs");
  assert.throws(() => runMethod("ma-rlhf", makeBatch([{ tokens: [1], reward: 0 }]), {}), (e: unknown) => e instanceof InputError && e.field === "values");
});

const rolloutArb = fc.integer({ min: 0, max: 24 }).chain((T) =>
  fc.record({
    mask: fc.array(fc.constantFrom(0, 1, 1, 1), { minLength: T, maxLength: T }),
    values: fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: T, maxLength: T }),
    lp: fc.array(fc.double({ min: -8, max: 0, noNaN: true }), { minLength: T, maxLength: T }),
    ref: fc.array(fc.double({ min: -8, max: 0, noNaN: true }), { minLength: T, maxLength: T }),
    reward: fc.double({ min: -5, max: 5, noNaN: true }),
  }),
);

test("property: n = 1 is token-level PPO-GAE on r_t = -kl (lp - ref) + clamp(reward) at the last trainable token", () => {
  fc.assert(
    fc.property(fc.array(rolloutArb, { minLength: 1, maxLength: 4 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (rs, gamma, lambda) => {
      const batch = makeBatch(rs.map((r, i) => ({ tokens: seqTokens(r.mask.length), mask: r.mask, values: r.values, logprobs: r.lp, ref_logprobs: r.ref, reward: r.reward, group: `g${i}` })));
      const out = runMethod("ma-rlhf", batch, { n: 1, gamma, lambda });
      rs.forEach((r, i) => {
        const idx = r.mask.flatMap((m, k) => (m === 1 ? [k] : []));
        const tr = idx.map((k) => -0.05 * (r.lp[k] - r.ref[k]));
        if (tr.length > 0) tr[tr.length - 1] += Math.max(-2.5, Math.min(2.5, r.reward));
        const A = refGae(tr, idx.map((k) => r.values[k]), gamma, lambda);
        const expected = new Array<number>(r.mask.length).fill(0);
        idx.forEach((k, j) => (expected[k] = A[j]));
        assertClose(rowOf(batch, out.advantages, i), expected, 1e-9, 1e-9);
      });
    }),
  );
});

test("property: fixed n-gram blocks share one advantage, returns - advantages = block mean value, masked values ignored", () => {
  fc.assert(
    fc.property(fc.array(rolloutArb, { minLength: 1, maxLength: 4 }), fc.integer({ min: 2, max: 6 }), (rs, n) => {
      const rows = rs.map((r, i) => ({ tokens: seqTokens(r.mask.length), mask: r.mask, values: r.values, logprobs: r.lp, ref_logprobs: r.ref, reward: r.reward, group: `g${i % 2}` }));
      const batch = makeBatch(rows);
      const out = runMethod("ma-rlhf", batch, { n });
      const moved = makeBatch(rows.map((r) => ({ ...r, values: r.values.map((v, k) => (r.mask[k] === 0 ? v + 100 : v)) })));
      assert.deepEqual(Array.from(runMethod("ma-rlhf", moved, { n }).advantages), Array.from(out.advantages));
      rs.forEach((r, i) => {
        const adv = rowOf(batch, out.advantages, i);
        const ret = rowOf(batch, out.returns!, i);
        const idx = r.mask.flatMap((m, k) => (m === 1 ? [k] : []));
        r.mask.forEach((m, k) => m === 0 && assert.equal(adv[k], 0));
        const L = idx.length;
        // blocks [b*n, (b+1)*n) before the sentinel L-1, which is alone
        for (let j = 0; j < L; j++) {
          const blockStart = j === L - 1 ? L - 1 : Math.floor(j / n) * n;
          const blockEnd = j === L - 1 ? L : Math.min((Math.floor(j / n) + 1) * n, L - 1);
          const members = idx.slice(blockStart, blockEnd);
          const meanV = members.reduce((s, k) => s + r.values[k], 0) / members.length;
          assertClose([ret[idx[j]] - adv[idx[j]]], [meanV], 1e-9, 1e-9);
          assert.equal(adv[idx[j]], adv[members[0]]);
        }
      });
    }),
  );
});

test("spec and examples/plain.jsonl: reference-code defaults (fixed, n 5, lambda 0.95, klCoef 0.05); 5-token blocks share one advantage", () => {
  const spec = getMethod("ma-rlhf");
  assert.equal(spec.status, "reference-code");
  const defaults = Object.fromEntries(Object.entries(spec.options).map(([k, o]) => [k, (o as { default: unknown }).default]));
  assert.deepEqual(defaults, { termination: "fixed", n: 5, seed: null, repeatTimes: 1, aggregate: "equal", gamma: 1, lambda: 0.95, klCoef: 0.05, rewardClip: 2.5, keepEmptyMacro: true });
  const rows = readFileSync(`examples/${spec.example as string}`, "utf8").split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as { tokens: number[]; mask?: number[] });
  const batch = makeBatch(rows);
  const out = runMethod("ma-rlhf", batch);
  rows.forEach((r, i) => {
    const adv = rowOf(batch, out.advantages, i);
    const idx = r.tokens.flatMap((_, k) => (r.mask === undefined || r.mask[k] === 1 ? [k] : []));
    // every trainable token before the sentinel shares the advantage of its block's first token
    for (let j = 0; j < idx.length - 1; j++) assert.equal(adv[idx[j]], adv[idx[j - (j % 5)]]);
    for (const x of adv) assert.ok(Number.isFinite(x));
  });
});
