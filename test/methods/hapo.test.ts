/**
 * HAPO (methods.md Part 2 section 5): Token-Level Group Average with the GRPO fallback, the
 * normalised entropy in diag, and the trainer-side formulas (adaptive temperature, asymmetric
 * clipping, advantage redistribution), each against the section's worked examples.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { entropyHStats } from "../../src/core/entropy.js";
import { InputError } from "../../src/core/errors.js";
import { getMethod, runMethod } from "../../src/core/registry.js";
import { adaptiveTemperature, asymmetricClipBounds, redistributeAdvantage } from "../../src/methods/hapo.js";
import { assertClose, makeBatch, rowOf, seqTokens, type PartialRow } from "../helpers.js";

/** Independent TLGA for one group: scores and mask-1 lengths in, per-rollout advantages out. */
function tlga(scores: number[], lengths: number[], eps = 1e-6): number[] {
  const tokens = lengths.reduce((a, b) => a + b, 0);
  const mu = scores.reduce((acc, s, j) => acc + s * lengths[j], 0) / tokens;
  const variance = scores.reduce((acc, s, j) => acc + lengths[j] * (s - mu) ** 2, 0) / tokens;
  return scores.map((s) => (s - mu) / (Math.sqrt(variance) + eps));
}

/** Independent verl GRPO for one group (unbiased std, eps 1e-6). */
function grpoGroup(scores: number[], eps = 1e-6): number[] {
  if (scores.length === 1) return [scores[0] / (1 + eps)];
  const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
  const std = Math.sqrt(scores.reduce((a, s) => a + (s - mean) ** 2, 0) / (scores.length - 1));
  return scores.map((s) => (s - mean) / (std + eps));
}

describe("hapo: Token-Level Group Average (worked examples)", () => {
  it("rewards [1, 0, 0], lengths [2, 4, 3]: A = [1.8708242, -0.5345212, -0.5345212], no fallback", () => {
    const b = makeBatch([
      { tokens: seqTokens(2), reward: 1 },
      { tokens: seqTokens(4), reward: 0 },
      { tokens: seqTokens(3), reward: 0 },
    ]);
    const out = runMethod("hapo", b);
    assertClose(rowOf(b, out.advantages, 0), [1.8708242, 1.8708242], 1e-6, 0);
    assertClose(rowOf(b, out.advantages, 1), Array(4).fill(-0.5345212), 1e-6, 0);
    assertClose(rowOf(b, out.advantages, 2), Array(3).fill(-0.5345212), 1e-6, 0);
    assertClose(out.returns!, out.advantages, 0, 0);
    assertClose(out.diag!.rollouts!.fallback, [0, 0, 0], 0, 0);
    // The section's GRPO reference for the same group is different: TLGA weights by length.
    assertClose(grpoGroup([1, 0, 0]), [1.1546985, -0.5773493, -0.5773493], 1e-6, 0);
  });

  it("rewards [1, 0], lengths [1, 30]: |A| = sqrt(30) >= 5, so the group falls back to GRPO [0.7071058, -0.7071058]", () => {
    const b = makeBatch([
      { tokens: seqTokens(1), reward: 1 },
      { tokens: seqTokens(30), reward: 0 },
    ]);
    const out = runMethod("hapo", b);
    assertClose(rowOf(b, out.advantages, 0), [0.7071058], 1e-6, 0);
    assertClose(rowOf(b, out.advantages, 1), Array(30).fill(-0.7071058), 1e-6, 0);
    assertClose(out.diag!.rollouts!.fallback, [1, 1], 0, 0);
    // threshold null keeps the token-level advantage, whose correct response sits near sqrt(30).
    const raw = runMethod("hapo", b, { threshold: null });
    const expected = tlga([1, 0], [1, 30]);
    assertClose(rowOf(b, raw.advantages, 0), [expected[0]], 1e-12, 1e-12);
    assertClose(rowOf(b, raw.advantages, 1), Array(30).fill(expected[1]), 1e-12, 1e-12);
    assert.ok(Math.abs(expected[0] - Math.sqrt(30)) < 1e-4);
  });
});

describe("hapo: edge cases", () => {
  it("L_i counts mask-1 tokens only: a masked tool span changes nothing but gets 0", () => {
    const masked = makeBatch([
      { tokens: seqTokens(5), reward: 1, mask: [1, 0, 0, 0, 1] },
      { tokens: seqTokens(4), reward: 0 },
      { tokens: seqTokens(3), reward: 0 },
    ]);
    const out = runMethod("hapo", masked);
    assertClose(rowOf(masked, out.advantages, 0), [1.8708242, 0, 0, 0, 1.8708242], 1e-6, 0);
    assertClose(rowOf(masked, out.advantages, 1), Array(4).fill(-0.5345212), 1e-6, 0);
  });

  it("the fallback check looks at real tokens only: an empty response with a huge |A| does not trigger it", () => {
    const b = makeBatch([
      { tokens: seqTokens(5), reward: 1 },
      { tokens: seqTokens(5), reward: 0 },
      { tokens: [], reward: 10 },
      { tokens: seqTokens(2), reward: 10, mask: [0, 0] },
    ]);
    const out = runMethod("hapo", b);
    assertClose(out.diag!.rollouts!.fallback, [0, 0, 0, 0], 0, 0);
    assertClose(rowOf(b, out.advantages, 0), Array(5).fill(0.5 / (0.5 + 1e-6)), 1e-12, 1e-12);
    assertClose(rowOf(b, out.advantages, 1), Array(5).fill(-0.5 / (0.5 + 1e-6)), 1e-12, 1e-12);
    assertClose(rowOf(b, out.advantages, 3), [0, 0], 0, 0);
  });

  it("a singleton group gives 0, even with a score that GRPO would keep", () => {
    const b = makeBatch([{ tokens: seqTokens(3), reward: 0.7, group: "alone" }, { tokens: seqTokens(1), reward: 0.1, group: "alone2" }]);
    const out = runMethod("hapo", b);
    assertClose(out.advantages, [0, 0, 0, 0], 0, 0);
  });

  it("zero variance gives exactly 0, whatever the lengths and the score", () => {
    const b = makeBatch([
      { tokens: seqTokens(3), reward: 0.1 },
      { tokens: seqTokens(7), reward: 0.1 },
      { tokens: seqTokens(1), reward: 0.1 },
    ]);
    assertClose(runMethod("hapo", b).advantages, Array(11).fill(0), 0, 0);
  });

  it("normByStd false gives R - mu; token_rewards add into the score", () => {
    const b = makeBatch([
      { tokens: seqTokens(2), reward: 1, token_rewards: [0.25, 0] },
      { tokens: seqTokens(4), reward: 0 },
    ]);
    const mu = (2 * 1.25) / 6;
    const out = runMethod("hapo", b, { normByStd: false });
    assertClose(out.advantages, [1.25 - mu, 1.25 - mu, -mu, -mu, -mu, -mu], 1e-12, 1e-12);
  });

  it("entropies on some rollouts but not others is an input error; none at all means no entropy diag", () => {
    const b = makeBatch([
      { tokens: seqTokens(2), reward: 1, entropies: [0.1, 0.2] },
      { tokens: seqTokens(2), reward: 0 },
    ]);
    assert.throws(() => runMethod("hapo", b), (e: unknown) => e instanceof InputError && e.line === 2 && e.field === "entropies");
    const none = runMethod("hapo", makeBatch([{ tokens: seqTokens(2), reward: 1 }, { tokens: seqTokens(2), reward: 0 }]));
    assert.equal(none.diag?.tokens, undefined);
  });

  it("option errors are config errors", () => {
    const b = makeBatch([{ tokens: [1], reward: 1 }]);
    assert.throws(() => runMethod("hapo", b, { threshold: 0 }), /threshold/);
    assert.throws(() => runMethod("hapo", b, { entropySign: "intent" }), /entropySign/);
    assert.throws(() => runMethod("hapo", b, { entropyPivot: 1.5 }), /entropyPivot/);
    assert.equal(getMethod("hapo").status, "reference-code");
  });
});

describe("hapo: normalised entropy in diag", () => {
  it("worked example H = [0.1, 0.5, 1, 2, 4]: code and paper ĥ", () => {
    const b = makeBatch([
      { tokens: seqTokens(3), reward: 1, entropies: [0.1, 0.5, 1.0] },
      { tokens: seqTokens(3), reward: 0, entropies: [2.0, 777, 4.0], mask: [1, 0, 1], group: "h" },
    ]);
    const code = runMethod("hapo", b).diag!.tokens!.entropy_h;
    assertClose(code, [1.0, 0.4627564, 0.2313782, -0.0, 0, 1.0], 1e-6, 0);
    const paper = runMethod("hapo", b, { entropySign: "paper" }).diag!.tokens!.entropy_h;
    assertClose(paper, [-1.0, -0.4627564, -0.2313782, 0, 0, 1.0], 1e-6, 0);
  });

  it("group scope: each group's tokens are normalised on their own", () => {
    const b = makeBatch([
      { tokens: seqTokens(5), reward: 1, entropies: [0.1, 0.5, 1.0, 2.0, 4.0], group: "a" },
      { tokens: seqTokens(2), reward: 0, entropies: [3, 0.3], group: "b" },
    ]);
    const hHat = runMethod("hapo", b, { entropyScope: "group" }).diag!.tokens!.entropy_h;
    assertClose(hHat.subarray(0, 5), [1.0, 0.4627564, 0.2313782, 0, 1.0], 1e-6, 0);
    // Two tokens, pivot rank round(0.8) = 1 (the larger): h = [0, -x], so the code sign gives [-0, 1].
    assertClose(hHat.subarray(5), [-0, 1], 1e-12, 0);
  });
});

describe("hapo: trainer-side formulas (worked examples)", () => {
  const stats = entropyHStats([0.1, 0.5, 1.0, 2.0, 4.0], 0.8);

  it("adaptive temperature, T0 = 1, tau = 0.05", () => {
    const cases: [number, number, number][] = [[0.1, 1.05, 0.95], [1.0, 1.011569, 0.988431], [2.0, 1.0, 1.0], [4.0, 1.05, 1.05]];
    for (const [H, code, paper] of cases) {
      assertClose([adaptiveTemperature(H, stats, { t0: 1, tau: 0.05, sign: "code" })], [code], 1e-6, 0, `code T(H=${H})`);
      assertClose([adaptiveTemperature(H, stats, { t0: 1, tau: 0.05, sign: "paper" })], [paper], 1e-6, 0, `paper T(H=${H})`);
    }
    assert.equal(adaptiveTemperature(0.3, null, { t0: 0.7, tau: 0.05, sign: "code" }), 0.7);
  });

  it("the temperature stays within T0 (1 ± tau) for any entropy (ĥ is clamped)", () => {
    fc.assert(fc.property(fc.double({ min: 0, max: 1e6, noNaN: true }), fc.constantFrom("code" as const, "paper" as const), (H, sign) => {
      const T = adaptiveTemperature(H, stats, { t0: 1, tau: 0.05, sign });
      assert.ok(T >= 0.95 - 1e-15 && T <= 1.05 + 1e-15, `T = ${T}`);
    }));
  });

  it("asymmetric clipping and redistribution: the section's table (eps 0.2 both, alpha = beta = 1)", () => {
    const table: [number, number, number, number, number, number][] = [
      // A, ĥ, ratio, eps_low', eps_high', A'
      [1, 0.5, 1.0, 0.2, 0.3, 1.0],
      [1, 0.5, 1.3, 0.2, 0.3, 1.5],
      [1, -0.5, 1.0, 0.3, 0.2, 0.5],
      [1, -0.5, 0.8, 0.3, 0.2, 1.0],
      [-1, 0.5, 1.3, 0.2, 0.3, -1.5],
      [-1, -0.5, 1.0, 0.3, 0.2, -0.5],
    ];
    for (const [A, hHat, ratio, low, high, out] of table) {
      const bounds = asymmetricClipBounds(hHat, 0.2, 0.2, 1);
      assertClose([bounds.low, bounds.high], [low, high], 1e-12, 0, `bounds at ĥ=${hHat}`);
      assertClose([redistributeAdvantage(A, hHat, ratio, bounds, 1)], [out], 1e-12, 0, `A' for row ${[A, hHat, ratio]}`);
    }
    // ĥ = -0 counts as low-entropy (<= 0): the lower bound widens by 0, the neutral zone is the low side's.
    assert.deepEqual(asymmetricClipBounds(-0, 0.2, 0.28, 1), { low: 0.2, high: 0.28 });
    // The neutral zone is open: a ratio on its edge is outside.
    assert.equal(redistributeAdvantage(1, 0.5, 1.15, { low: 0.2, high: 0.3 }, 1), 1.5);
  });
});

describe("hapo: properties", () => {
  const groupArb = fc.array(
    fc.record({ len: fc.integer({ min: 1, max: 6 }), reward: fc.constantFrom(0, 0.5, 1, -1, 2) }),
    { minLength: 2, maxLength: 6 },
  );

  it("without fallback, the token-weighted mean advantage of a group is 0 and matches an independent TLGA", () => {
    fc.assert(fc.property(fc.array(groupArb, { minLength: 1, maxLength: 3 }), (groups) => {
      const rows: PartialRow[] = [];
      groups.forEach((g, gi) => g.forEach((r) => rows.push({ tokens: seqTokens(r.len), reward: r.reward, group: `g${gi}` })));
      const b = makeBatch(rows);
      const out = runMethod("hapo", b, { threshold: null });
      let row = 0;
      for (const g of groups) {
        const expected = tlga(g.map((r) => r.reward), g.map((r) => r.len));
        let weighted = 0;
        g.forEach((r, j) => {
          const got = rowOf(b, out.advantages, row++);
          assertClose(got, Array(r.len).fill(expected[j]), 1e-9, 1e-9);
          weighted += r.len * got[0];
        });
        assert.ok(Math.abs(weighted) < 1e-6);
      }
    }));
  });

  it("equal lengths: TLGA is GRPO with the population std", () => {
    fc.assert(fc.property(fc.array(fc.constantFrom(0, 1, 0.5, -2), { minLength: 2, maxLength: 8 }), fc.integer({ min: 1, max: 5 }), (rewards, len) => {
      const b = makeBatch(rewards.map((reward) => ({ tokens: seqTokens(len), reward })));
      const hapo = runMethod("hapo", b, { threshold: null });
      const grpo = runMethod("grpo", b, { std: "population" });
      assertClose(hapo.advantages, grpo.advantages, 1e-9, 1e-9);
    }));
  });

  it("with the fallback, every group either matches TLGA with all |A| < threshold, or is verl GRPO", () => {
    fc.assert(fc.property(groupArb, fc.double({ min: 0.5, max: 4, noNaN: true }), (g, threshold) => {
      const b = makeBatch(g.map((r) => ({ tokens: seqTokens(r.len), reward: r.reward })));
      const out = runMethod("hapo", b, { threshold });
      const scores = g.map((r) => r.reward);
      const token = tlga(scores, g.map((r) => r.len));
      const largest = Math.max(...token.map(Math.abs));
      // Within rounding of the threshold either decision is right; elsewhere it must match.
      if (Math.abs(largest - threshold) > 1e-9) assert.equal(out.diag!.rollouts!.fallback[0], largest >= threshold ? 1 : 0);
      const expected = out.diag!.rollouts!.fallback[0] === 1 ? grpoGroup(scores) : token;
      g.forEach((r, j) => assertClose(rowOf(b, out.advantages, j), Array(r.len).fill(expected[j]), 1e-9, 1e-9));
    }));
  });
});

describe("hapo: examples/plain.jsonl", () => {
  it("runs with the entropy diag on every mask-1 token; rewards {0, 1} with similar lengths need no fallback", () => {
    const rows = readFileSync("examples/plain.jsonl", "utf8").split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as PartialRow);
    const b = makeBatch(rows);
    const out = runMethod("hapo", b);
    assertClose(out.diag!.rollouts!.fallback, Array(b.n).fill(0), 0, 0);
    const hHat = out.diag!.tokens!.entropy_h;
    for (let k = 0; k < b.nTokens; k++) {
      if (b.mask[k] === 0) assert.equal(hHat[k], 0);
      else assert.ok(hHat[k] >= 0 && hHat[k] <= 1);
    }
  });
});
