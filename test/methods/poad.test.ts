import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { runMethod } from "../../src/core/registry.js";
import { InputError } from "../../src/core/errors.js";
import { assertClose, makeBatch, rowOf, seqTokens } from "../helpers.js";

// methods-part5.md section 1(d): action 0 values [.5,.6,.7] r=0; action 1 values [.4,.9] r=1, terminal.
const vectorRow = { tokens: seqTokens(5), values: [0.5, 0.6, 0.7, 0.4, 0.9], step_ends: [2, 4], step_rewards: [0, 1], signals: { next_value: 0.3 } };

test("poad: worked example (part5 1d): BAD advantages and returns, NTPO, lambda = 1", () => {
  const b = makeBatch([vectorRow]);
  const out = runMethod("poad", b, { normalize: "none" });
  assertClose(out.advantages, [0.390831, 0.306138, 0.216988, 0.595, 0.1], 1e-6, 0);
  assertClose(out.returns!, [0.890831, 0.906138, 0.916988, 0.995, 1.0], 1e-6, 0);
  const ntpo = runMethod("poad", b, { normalize: "none", ntpo: true });
  assertClose(ntpo.advantages, [0.268829, 0.22031, 0.172088, 0.54525, 0.1], 1e-6, 0);
  // The reward is discounted once per action, not per token: with lambda 1, A_{0,0} = gamma * 1 - 0.5.
  const l1 = runMethod("poad", b, { normalize: "none", lambda: 1 });
  assertClose([l1.advantages[0]], [0.95 - 0.5], 1e-12, 0);
});

test("poad: code normalisation leaves exact zeros out of the statistics (part5 1d)", () => {
  // The second rollout's only token has delta = 1 - 1 = 0: a 'pad' for the statistics.
  const b = makeBatch([vectorRow, { tokens: [9], values: [1], reward: 1 }]);
  const out = runMethod("poad", b);
  assertClose(rowOf(b, out.advantages, 0), [0.412843, -0.093603, -0.626704, 1.633727, -1.326264], 1e-6, 0);
  // "all" includes the zero: mean over six entries.
  const all = runMethod("poad", b, { normalize: "all" });
  const raw = [0.390831, 0.306138, 0.216988, 0.595, 0.1, 0];
  const mean = raw.reduce((a, x) => a + x, 0) / 6;
  const std = Math.sqrt(raw.reduce((a, x) => a + (x - mean) ** 2, 0) / 6);
  assertClose(rowOf(b, all.advantages, 1), [(0 - mean) / (std + 1e-8)], 1e-5, 0);
});

test("poad: an unfinished rollout bootstraps from signals.next_value; turns are actions without step_ends", () => {
  // Two turns separated by a tool token; outcome reward on the last turn.
  const b = makeBatch([{ tokens: seqTokens(4), mask: [1, 0, 1, 1], values: [0.2, 0, 0.5, 0.1], reward: 1, finished: false, signals: { next_value: 2 } }]);
  const g = 0.9, l = 0.8;
  const out = runMethod("poad", b, { normalize: "none", gamma: g, lambda: l });
  const d3 = 1 + g * 2 - 0.1; // last token of the last action, bootstrapped
  const a3 = d3;
  const a2 = 0.1 - 0.5 + l * a3;
  const a0 = 0 + g * 0.5 - 0.2 + g * l * a2;
  assertClose(out.advantages, [a0, 0, a2, a3], 1e-12, 0);
  assert.equal(out.returns![1], 0);
});

test("poad: with one token per action it equals token-level GAE (gamma at every token)", () => {
  fc.assert(
    fc.property(fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 1, maxLength: 8 }), fc.double({ min: -1, max: 1, noNaN: true }), (vals, r) => {
      const T = vals.length;
      const b = makeBatch([{ tokens: seqTokens(T), values: vals, step_ends: seqTokens(T), step_rewards: [...new Array(T - 1).fill(0), r] }]);
      const out = runMethod("poad", b, { normalize: "none", gamma: 0.9, lambda: 0.7 });
      const expect = new Array(T).fill(0);
      let gae = 0;
      for (let t = T - 1; t >= 0; t--) {
        const next = t + 1 < T ? vals[t + 1] : 0;
        const rew = t === T - 1 ? r : 0;
        gae = rew + 0.9 * next - vals[t] + 0.9 * 0.7 * gae;
        expect[t] = gae;
      }
      assertClose(out.advantages, expect, 1e-9, 1e-9);
    }),
    { numRuns: 100 },
  );
});

test("poad: a bad next_value is an input error naming the field", () => {
  const b = makeBatch([{ ...vectorRow, signals: { next_value: "x" } }]);
  assert.throws(() => runMethod("poad", b), (e: unknown) => e instanceof InputError && /signals\.next_value/.test(e.message));
});
