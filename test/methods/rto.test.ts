import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { runMethod } from "../../src/core/registry.js";
import { ConfigError, InputError } from "../../src/core/errors.js";
import { assertClose, makeBatch, rowOf, seqTokens } from "../helpers.js";

const EXAMPLE = {
  tokens: seqTokens(3),
  reward: 1.5,
  logprobs: [-1.1, -0.45, -2.2],
  ref_logprobs: [-1.2, -0.4, -2.5],
  values: [0.5, 0.6, 0.7],
  signals: { dpo_logprobs: [-1, -0.5, -0.5] },
};
const EXAMPLE_OPTS = { beta: 0.05, clip: 0.05, klCoef: 0.01, gamma: 1, lambda: 0.95 };

test("rto: worked example (methods.md Part 3 section 4d, with Part 0's rounding fix)", () => {
  const out = runMethod("rto", makeBatch([EXAMPLE]), EXAMPLE_OPTS);
  assertClose(out.diag!.tokens!.dpo_reward, [0.01, -0.005, 0.05], 1e-12, 1e-9);
  assertClose(out.diag!.tokens!.token_reward, [0.009, -0.0045, 1.547], 1e-12, 1e-9);
  assertClose(out.advantages, [0.9641425, 0.90015, 0.847], 1e-7, 0);
  assertClose(out.returns!, [1.4641425, 1.50015, 1.547], 1e-7, 0);
  assert.equal(out.weights, undefined);
});

test("rto: defaults are the paper script's (beta 0.05, clip 0.05, kl 0.01, gamma 1, lambda 0.95)", () => {
  const a = runMethod("rto", makeBatch([EXAMPLE]));
  const b = runMethod("rto", makeBatch([EXAMPLE]), EXAMPLE_OPTS);
  assertClose(a.advantages, b.advantages, 0, 0);
});

test("rto: clip 0 turns the clip off", () => {
  const out = runMethod("rto", makeBatch([EXAMPLE]), { ...EXAMPLE_OPTS, clip: 0 });
  assertClose(out.diag!.tokens!.dpo_reward, [0.01, -0.005, 0.1], 1e-12, 1e-9);
  assertClose(out.diag!.tokens!.token_reward, [0.009, -0.0045, 1.597], 1e-12, 1e-9);
});

test("rto: the RM reward is clamped to +-10, token_rewards are added unclamped", () => {
  const base = { ...EXAMPLE, values: [0, 0, 0], logprobs: [-1.2, -0.4, -2.5], signals: { dpo_logprobs: [-1.2, -0.4, -2.5] } };
  const out = runMethod("rto", makeBatch([
    { ...base, reward: 25 },
    { ...base, reward: -40, token_rewards: [0, 20, 0] },
  ]), { ...EXAMPLE_OPTS, gamma: 1, lambda: 1 });
  const b = makeBatch([{ ...base }, { ...base }]);
  assertClose(rowOf(b, out.diag!.tokens!.token_reward, 0), [0, 0, 10], 1e-12, 0);
  assertClose(rowOf(b, out.diag!.tokens!.token_reward, 1), [0, 20, -10], 1e-12, 0);
  assertClose(rowOf(b, out.advantages, 1), [10, 10, -10], 1e-12, 0);
});

test("rto: mask-0 tokens are skipped by the rewards and GAE (their inputs never matter)", () => {
  const plain = runMethod("rto", makeBatch([EXAMPLE]), EXAMPLE_OPTS);
  const withTool = makeBatch([{
    tokens: seqTokens(5),
    reward: 1.5,
    mask: [1, 0, 0, 1, 1],
    logprobs: [-1.1, -7, -8, -0.45, -2.2],
    ref_logprobs: [-1.2, -3, -1, -0.4, -2.5],
    values: [0.5, 99, -99, 0.6, 0.7],
    signals: { dpo_logprobs: [-1, -0.1, -9, -0.5, -0.5] },
  }]);
  const out = runMethod("rto", withTool, EXAMPLE_OPTS);
  assertClose(out.advantages, [plain.advantages[0], 0, 0, plain.advantages[1], plain.advantages[2]], 1e-12, 0);
  assertClose(out.returns!, [plain.returns![0], 0, 0, plain.returns![1], plain.returns![2]], 1e-12, 0);
  assertClose(out.diag!.tokens!.token_reward, [0.009, 0, 0, -0.0045, 1.547], 1e-12, 1e-9);
});

test("rto: empty and all-masked responses give zeros", () => {
  const out = runMethod("rto", makeBatch([
    { tokens: [], logprobs: [], ref_logprobs: [], values: [], reward: 1, signals: { dpo_logprobs: [] } },
    { tokens: [1, 2], mask: [0, 0], logprobs: [-1, -1], ref_logprobs: [-2, -2], values: [1, 1], reward: 1, signals: { dpo_logprobs: [0, 0] } },
  ]));
  assertClose(out.advantages, [0, 0], 0, 0);
  assertClose(out.returns!, [0, 0], 0, 0);
});

test("rto: bad inputs and options", () => {
  assert.throws(() => runMethod("rto", makeBatch([EXAMPLE]), { beta: 0 }), ConfigError);
  assert.throws(() => runMethod("rto", makeBatch([EXAMPLE]), { beta: -0.1 }), ConfigError);
  assert.throws(() => runMethod("rto", makeBatch([EXAMPLE]), { clip: -1 }), ConfigError);
  const { values: _v, ...noValues } = EXAMPLE;
  assert.throws(() => runMethod("rto", makeBatch([EXAMPLE, noValues])), (e: unknown) => e instanceof InputError && e.field === "values" && e.line === 2);
  assert.throws(() => runMethod("rto", makeBatch([{ ...EXAMPLE, signals: {} }])), (e: unknown) => e instanceof InputError && e.field === "signals.dpo_logprobs" && /missing/.test(e.detail));
  assert.throws(() => runMethod("rto", makeBatch([{ ...EXAMPLE, signals: { dpo_logprobs: [-1, -1] } }])), (e: unknown) => e instanceof InputError && e.field === "signals.dpo_logprobs" && /expected 3 entries/.test(e.detail));
});

const rowArb = fc.integer({ min: 0, max: 7 }).chain((T) => {
  const floats = (min: number, max: number) => fc.array(fc.double({ min, max, noNaN: true }), { minLength: T, maxLength: T });
  return fc.record({
    tokens: fc.constant(seqTokens(T)),
    mask: fc.array(fc.integer({ min: 0, max: 1 }), { minLength: T, maxLength: T }),
    logprobs: floats(-10, 0),
    ref_logprobs: floats(-10, 0),
    values: floats(-2, 2),
    reward: fc.double({ min: -20, max: 20, noNaN: true }),
    signals: fc.record({ dpo_logprobs: floats(-10, 0) }),
  });
});

test("rto: property: with gamma = lambda = 1, A_t = (sum of r over mask-1 tokens from t on) - V_t; returns = A + V", () => {
  fc.assert(
    fc.property(fc.array(rowArb, { minLength: 1, maxLength: 4 }), fc.double({ min: 0.01, max: 1, noNaN: true }), fc.double({ min: 0, max: 0.5, noNaN: true }), (rows, beta, clip) => {
      const batch = makeBatch(rows);
      const out = runMethod("rto", batch, { beta, clip, klCoef: 0.01, gamma: 1, lambda: 1 });
      rows.forEach((r, i) => {
        const T = r.tokens.length;
        let last = -1;
        for (let t = T - 1; t >= 0; t--) if (r.mask[t]) { last = t; break; }
        const rew = r.tokens.map((_, t) => {
          if (!r.mask[t]) return 0;
          let d = beta * (r.signals.dpo_logprobs[t] - r.ref_logprobs[t]);
          if (clip > 0) d = Math.max(-clip, Math.min(clip, d));
          return d - 0.01 * (r.logprobs[t] - r.ref_logprobs[t]) + (t === last ? Math.max(-10, Math.min(10, r.reward)) : 0);
        });
        const adv = new Array<number>(T).fill(0);
        const ret = new Array<number>(T).fill(0);
        let g = 0;
        for (let t = T - 1; t >= 0; t--) {
          if (!r.mask[t]) continue;
          g += rew[t];
          adv[t] = g - r.values[t];
          ret[t] = g;
        }
        assertClose(rowOf(batch, out.advantages, i), adv, 1e-9, 1e-9, "advantages");
        assertClose(rowOf(batch, out.returns!, i), ret, 1e-9, 1e-9, "returns");
      });
    }),
  );
});

test("rto: property: every output is finite and 0 on mask-0 tokens", () => {
  fc.assert(
    fc.property(fc.array(rowArb, { minLength: 1, maxLength: 4 }), fc.double({ min: 0, max: 1, noNaN: true }), (rows, lambda) => {
      const batch = makeBatch(rows);
      const out = runMethod("rto", batch, { lambda, gamma: 0.9 });
      for (let k = 0; k < batch.nTokens; k++) {
        assert.ok(Number.isFinite(out.advantages[k]) && Number.isFinite(out.returns![k]));
        if (!batch.mask[k]) assert.ok(out.advantages[k] === 0 && out.returns![k] === 0);
      }
    }),
  );
});
