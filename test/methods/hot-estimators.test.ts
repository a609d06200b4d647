/**
 * gae and reinforce++ gather their whitening statistics and check their outputs' finiteness in
 * the passes that write them (the runner then skips its own checking pass). These tests pin both
 * shortcuts to the plain computation: two-pass statistics over the finished column, and the
 * runner's own check with its error naming the file, line and token.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { runMethod } from "../../src/core/registry.js";
import { discountedReturns, gae as gaeCore } from "../../src/core/returns.js";
import { tokenLevelRewards } from "../../src/core/rewards.js";
import { maskedWhiten } from "../../src/core/whiten.js";
import { InputError } from "../../src/core/errors.js";
import { assertClose, makeBatch, type PartialRow } from "../helpers.js";

/** Rows with rewards far from 0 (a shifted-sums hazard), tool spans and dense token rewards. */
const rowsArb = fc.array(
  fc.record({
    len: fc.integer({ min: 1, max: 12 }),
    reward: fc.double({ min: -1, max: 1, noNaN: true }),
    offset: fc.constantFrom(0, 1e3, 1e6),
    dense: fc.boolean(),
    toolAt: fc.integer({ min: -1, max: 11 }),
    seed: fc.integer({ min: 1, max: 1e6 }),
  }),
  { minLength: 1, maxLength: 12 },
);

interface RowSpec {
  len: number;
  reward: number;
  offset: number;
  dense: boolean;
  toolAt: number;
  seed: number;
}

function buildRows(spec: readonly RowSpec[]): PartialRow[] {
  return spec.map((r, i) => {
    let s = r.seed;
    const rnd = () => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1;
    const mask = Array.from({ length: r.len }, (_, t) => (t === r.toolAt && r.len > 1 ? 0 : 1));
    return {
      group: `g${i % 3}`,
      tokens: Array.from({ length: r.len }, (_, t) => t + 1),
      reward: r.offset + r.reward,
      mask,
      values: Array.from({ length: r.len }, () => r.offset + rnd()),
      ...(r.dense ? { token_rewards: Array.from({ length: r.len }, () => rnd() * 0.1) } : {}),
    };
  });
}

describe("gae and reinforce++: in-pass statistics equal two-pass statistics", () => {
  it("reinforce++ (gamma 1 and 0.9) equals discounted returns whitened with two-pass statistics", () => {
    fc.assert(
      fc.property(rowsArb, fc.constantFrom(1, 0.9), (spec, gamma) => {
        const b = makeBatch(buildRows(spec));
        const out = runMethod("reinforce++", b, { gamma });
        const returns = discountedReturns(tokenLevelRewards(b), b.mask, b.offsets, gamma, "skip");
        const scale = Math.max(1, ...Array.from(returns, Math.abs));
        assertClose(out.returns!, returns, 1e-12 * scale);
        assertClose(out.advantages, maskedWhiten(returns, b.mask), 1e-6);
        assert.equal("finiteChecked" in out, false, "the runner's flag does not leak to callers");
      }),
      { numRuns: 150 },
    );
  });

  it("gae (gamma, lambda 1 and 0.95/0.9) equals the plain GAE loop whitened with two-pass statistics", () => {
    fc.assert(
      fc.property(rowsArb, fc.constantFrom([1, 1], [0.95, 0.9]), (spec, [gamma, lambda]) => {
        const b = makeBatch(buildRows(spec));
        const out = runMethod("gae", b, { gamma, lambda });
        const plain = gaeCore(tokenLevelRewards(b), b.values!.data, b.mask, b.offsets, gamma, lambda);
        assertClose(out.returns!, plain.returns, 1e-9 * Math.max(1, ...Array.from(plain.returns, Math.abs)));
        assertClose(out.advantages, maskedWhiten(plain.advantages, b.mask), 1e-6);
      }),
      { numRuns: 150 },
    );
  });
});

describe("gae and reinforce++: overflow is still refused with the file, line and token", () => {
  const huge = 1.5e308;
  // The runner's own message, naming the rollout that overflowed (line 2), its field and token.
  const refusedAtCause = (e: unknown) => e instanceof InputError && /^test\.jsonl:2: field 'returns': method '[a-z+]+' produced a non-finite value at token \d+/.test(e.message);
  // Finite advantages whose batch statistics overflow: NaN everywhere after whitening, so the
  // first rollout is named (no single rollout is at fault).
  const refusedInBatch = (e: unknown) => e instanceof InputError && /^test\.jsonl:1: field 'advantages': method 'gae' produced a non-finite value at token 0/.test(e.message);
  it("gae: finite advantages whose whitening statistics overflow", () => {
    const b = makeBatch([
      { tokens: [1, 2], reward: 0, values: [0, 0] },
      { tokens: [1, 2, 3], reward: huge, values: [0, 0, huge] },
    ]);
    assert.throws(() => runMethod("gae", b), refusedInBatch);
  });

  it("gae: an advantage that overflows (reward minus a large negative value)", () => {
    const b = makeBatch([
      { tokens: [1, 2], reward: 0, values: [0, 0] },
      { tokens: [1, 2], reward: huge, values: [0, -huge] },
    ]);
    assert.throws(() => runMethod("gae", b), refusedAtCause);
  });

  it("reinforce++: dense token rewards whose return overflows", () => {
    const b = makeBatch([
      { tokens: [1, 2], reward: 0 },
      { tokens: [1, 2, 3], reward: 0, token_rewards: [huge, huge, 0] },
    ]);
    assert.throws(() => runMethod("reinforce++", b), refusedAtCause);
  });
});
