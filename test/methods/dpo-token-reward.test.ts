import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { getMethod, knownSignals, runMethod } from "../../src/core/registry.js";
import { batchFromObjects } from "../../src/core/rows.js";
import { ConfigError, InputError } from "../../src/core/errors.js";
import { assertClose, makeBatch, rowOf, seqTokens } from "../helpers.js";

test("dpo-token-reward: worked example (methods.md Part 3 section 5d, dense reward)", () => {
  const batch = makeBatch([{ tokens: seqTokens(3), reward: 1, ref_logprobs: [-1.2, -0.4, -2.5], signals: { dpo_logprobs: [-1, -0.5, -2] } }]);
  const out = runMethod("dpo-token-reward", batch, { beta: 0.1 });
  assertClose(out.advantages, [0.02, -0.01, 0.05], 1e-12, 1e-9);
  assertClose(out.diag!.rollouts!.implicit_reward, [0.06], 1e-12, 1e-9);
  // The sum telescopes to beta * (sum lp_dpo - sum lp_ref).
  assertClose(out.diag!.rollouts!.implicit_reward, [0.1 * (-3.5 + 4.1)], 1e-12, 1e-9);
  assert.equal(out.returns, undefined);
});

test("dpo-token-reward: toy Q* check (section 5d): beta log(pi*/pi_ref) = r + V*(next) - V*(s0)", () => {
  // Root with two actions, uniform reference, terminal rewards r(a) = 1, r(b) = 0, beta = 1.
  const beta = 1;
  const r = [1, 0];
  const logRef = Math.log(0.5);
  const q = r.map((x) => x + beta * logRef); // Q*(s0, a) = r + beta log pi_ref(a) + V*(terminal = 0)
  const v0 = beta * Math.log(q.reduce((acc, x) => acc + Math.exp(x / beta), 0));
  assertClose([v0], [0.620115], 1e-6, 0);
  const logPiStar = q.map((x) => (x - v0) / beta);
  assertClose([Math.exp(logPiStar[0])], [0.731059], 1e-6, 0);
  const batch = makeBatch([
    { tokens: [0], ref_logprobs: [logRef], signals: { dpo_logprobs: [logPiStar[0]] } },
    { tokens: [1], ref_logprobs: [logRef], signals: { dpo_logprobs: [logPiStar[1]] } },
  ]);
  const out = runMethod("dpo-token-reward", batch, { beta });
  assertClose(out.advantages, [0.379885, -0.620115], 1e-6, 0);
  assertClose(out.advantages, [r[0] - v0, r[1] - v0], 1e-12, 0);
});

test("dpo-token-reward: default beta is 0.1; reward and token_rewards are not used", () => {
  const rows = [{ tokens: seqTokens(2), reward: 5, token_rewards: [3, 4], ref_logprobs: [-1, -2], signals: { dpo_logprobs: [-0.5, -3] } }];
  const out = runMethod("dpo-token-reward", makeBatch(rows));
  assertClose(out.advantages, [0.05, -0.1], 1e-12, 1e-9);
});

test("dpo-token-reward: mask-0 tokens get 0 and are left out of the per-response sum", () => {
  const batch = makeBatch([{ tokens: seqTokens(4), mask: [1, 0, 0, 1], ref_logprobs: [-1, -9, -9, -2], signals: { dpo_logprobs: [-0.5, 0, 0, -1] } }]);
  const out = runMethod("dpo-token-reward", batch, { beta: 0.2 });
  assertClose(out.advantages, [0.1, 0, 0, 0.2], 1e-12, 1e-9);
  assertClose(out.diag!.rollouts!.implicit_reward, [0.3], 1e-12, 1e-9);
});

test("dpo-token-reward: empty responses and zero-token batches", () => {
  const batch = makeBatch([{ tokens: [], ref_logprobs: [], signals: { dpo_logprobs: [] } }, { tokens: [7], ref_logprobs: [-1], signals: { dpo_logprobs: [-2] } }]);
  const out = runMethod("dpo-token-reward", batch, { beta: 1 });
  assertClose(out.advantages, [-1]);
  assertClose(out.diag!.rollouts!.implicit_reward, [0, -1]);
});

test("dpo-token-reward: bad inputs are input errors naming line and field", () => {
  const bad = (rows: Parameters<typeof makeBatch>[0], detail: RegExp, line = 1, field = "signals.dpo_logprobs") =>
    assert.throws(() => runMethod("dpo-token-reward", makeBatch(rows)), (e: unknown) => {
      assert.ok(e instanceof InputError, String(e));
      assert.equal(e.field, field);
      assert.equal(e.line, line);
      assert.match(e.detail, detail);
      return true;
    });
  bad([{ tokens: [1], ref_logprobs: [-1] }], /missing/);
  bad([{ tokens: [1], ref_logprobs: [-1], signals: { dpo_logprobs: [-1] } }, { tokens: [1], ref_logprobs: [-1], signals: {} }], /missing/, 2);
  bad([{ tokens: [1, 2], ref_logprobs: [-1, -1], signals: { dpo_logprobs: [-1] } }], /expected 2 entries/);
  bad([{ tokens: [1], ref_logprobs: [-1], signals: { dpo_logprobs: "x" } }], /array/);
  bad([{ tokens: [1, 2], ref_logprobs: [-1, -1], signals: { dpo_logprobs: [-1, null] } }], /entry 1/);
  bad([{ tokens: [1], ref_logprobs: [-1e308], signals: { dpo_logprobs: [1e308] } }], /not finite/);
  bad([{ tokens: [1], signals: { dpo_logprobs: [-1] } }], /missing/, 1, "ref_logprobs");
  assert.throws(() => runMethod("dpo-token-reward", makeBatch([{ tokens: [1], ref_logprobs: [-1], signals: { dpo_logprobs: [-1] } }]), { beta: 0 }), ConfigError);
});

const rowArb = fc.integer({ min: 0, max: 6 }).chain((T) =>
  fc.record({
    tokens: fc.constant(seqTokens(T)),
    mask: fc.array(fc.integer({ min: 0, max: 1 }), { minLength: T, maxLength: T }),
    ref_logprobs: fc.array(fc.double({ min: -20, max: 0, noNaN: true }), { minLength: T, maxLength: T }),
    reward: fc.double({ min: -5, max: 5, noNaN: true }),
    signals: fc.record({ dpo_logprobs: fc.array(fc.double({ min: -20, max: 0, noNaN: true }), { minLength: T, maxLength: T }) }),
  }),
);

test("dpo-token-reward: property: beta (dpo - ref) on mask-1 tokens, 0 on mask-0, sums per response, linear in beta", () => {
  fc.assert(
    fc.property(fc.array(rowArb, { minLength: 1, maxLength: 5 }), fc.double({ min: 0.01, max: 2, noNaN: true }), (rows, beta) => {
      const batch = makeBatch(rows);
      const out = runMethod("dpo-token-reward", batch, { beta });
      const twice = runMethod("dpo-token-reward", batch, { beta: 2 * beta });
      rows.forEach((r, i) => {
        const dpo = r.signals.dpo_logprobs;
        const expected = r.tokens.map((_, t) => (r.mask[t] ? beta * (dpo[t] - r.ref_logprobs[t]) : 0));
        assertClose(rowOf(batch, out.advantages, i), expected, 1e-12, 1e-12);
        assertClose(rowOf(batch, twice.advantages, i), expected.map((x) => 2 * x), 1e-12, 1e-12);
        const sum = expected.reduce((a, b) => a + b, 0);
        assertClose([out.diag!.rollouts!.implicit_reward[i]], [sum], 1e-9, 1e-9);
      });
    }),
  );
});

test("implicit.jsonl (the example of dpo-token-reward, rto and laser) runs under all three", () => {
  const lines = readFileSync(resolve("examples/implicit.jsonl"), "utf8").split("\n").filter((l) => l.trim() !== "");
  const batch = batchFromObjects(lines.map((l) => JSON.parse(l) as unknown), "implicit.jsonl", { knownSignals: knownSignals() });
  for (const name of ["dpo-token-reward", "rto", "laser"]) {
    assert.equal(getMethod(name).example, "implicit.jsonl");
    const out = runMethod(name, batch);
    assert.equal(out.advantages.length, batch.nTokens);
    assert.ok(out.advantages.some((x) => x !== 0), name);
  }
});
