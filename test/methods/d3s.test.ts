/**
 * D3S (methods.md Part 3 section 10, SECONDARY; selection rules from Part 0): the max-variance
 * sample subset, the top-K |A| H token selection and the schedule, against the section's test
 * vector; plus the invariant that keep-everything selects everything.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { roundHalfEven } from "../../src/core/entropy.js";
import { ConfigError, InputError } from "../../src/core/errors.js";
import { getMethod, runMethod } from "../../src/core/registry.js";
import { maxVarianceSubset, scheduledValue } from "../../src/methods/d3s.js";
import { assertClose, makeBatch, rowOf, seqTokens, type PartialRow } from "../helpers.js";

function populationVariance(xs: number[]): number {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return xs.reduce((a, x) => a + (x - mean) ** 2, 0) / xs.length;
}

/** Every size-k subset of [0, n), as index lists. */
function subsets(n: number, k: number): number[][] {
  if (k === 0) return [[]];
  if (n < k) return [];
  return [...subsets(n - 1, k), ...subsets(n - 1, k - 1).map((s) => [...s, n - 1])];
}

const A = [1.2, 0.8, 0.1, -0.3, -0.7, -1.1];

describe("d3s: sample level (test vector)", () => {
  it("A = [1.2, 0.8, 0.1, -0.3, -0.7, -1.1], N = 4 keeps {1.2, 0.8, -0.7, -1.1}, variance 0.9425 vs 0.646667", () => {
    assert.deepEqual(Array.from(maxVarianceSubset(A, 4)), [1, 1, 0, 0, 1, 1]);
    assertClose([populationVariance([1.2, 0.8, -0.7, -1.1]), populationVariance(A)], [0.9425, 0.646667], 1e-6, 0);
    const best = Math.max(...subsets(6, 4).map((s) => populationVariance(s.map((j) => A[j]))));
    assertClose([best], [0.9425], 1e-12, 0);
  });

  it("through the method: rewards A (GRPO is an increasing affine map of them), sampleKeep 4", () => {
    const b = makeBatch(A.map((reward, j) => ({ tokens: seqTokens(2 + j), reward, entropies: Array(2 + j).fill(0.5) })));
    const out = runMethod("d3s", b, { sampleKeep: 4 });
    assertClose(out.diag!.rollouts!.kept, [1, 1, 0, 0, 1, 1], 0, 0);
    for (let i = 0; i < 6; i++) assertClose(rowOf(b, out.weights!, i), Array(2 + i).fill([1, 1, 0, 0, 1, 1][i]), 0, 0);
    assertClose(out.advantages, runMethod("grpo", b).advantages, 0, 0);
  });

  it("property: the chosen subset has the maximum population variance of all size-N subsets", () => {
    fc.assert(fc.property(
      fc.array(fc.oneof(fc.integer({ min: -3, max: 3 }), fc.double({ min: -5, max: 5, noNaN: true })), { minLength: 1, maxLength: 8 }),
      fc.integer({ min: 1, max: 8 }),
      (xs, keep) => {
        const chosen = maxVarianceSubset(xs, keep);
        const picked = xs.filter((_, j) => chosen[j] === 1);
        assert.equal(picked.length, Math.min(keep, xs.length));
        const best = Math.max(...subsets(xs.length, Math.min(keep, xs.length)).map((s) => populationVariance(s.map((j) => xs[j]))));
        assert.ok(populationVariance(picked) >= best - 1e-9, `${populationVariance(picked)} < ${best}`);
      },
    ));
  });

  it("ties resolve to the first maximum in k: a zero-variance group keeps its first N rollouts", () => {
    assert.deepEqual(Array.from(maxVarianceSubset([0, 0, 0, 0], 2)), [1, 1, 0, 0]);
    const b = makeBatch([0, 1, 2].map(() => ({ tokens: [1, 2], reward: 1, entropies: [1, 1] })));
    assertClose(runMethod("d3s", b, { sampleKeep: 2 }).weights!, [1, 1, 1, 1, 0, 0], 0, 0);
  });
});

describe("d3s: token level (test vector)", () => {
  it("A = 0.8, H = [0.1, 2.0, 0.5, 1.2, 0.05]: scores [0.08, 1.6, 0.4, 0.96, 0.04], K = 40% keeps {1, 3}", () => {
    // A singleton group's GRPO advantage is s / (1 + eps).
    const b = makeBatch([{ tokens: seqTokens(5), reward: 0.8 * (1 + 1e-6), entropies: [0.1, 2.0, 0.5, 1.2, 0.05] }]);
    const out = runMethod("d3s", b, { tokenKeep: 0.4 });
    assertClose(out.advantages, Array(5).fill(0.8), 1e-12, 1e-12);
    assertClose(out.weights!, [0, 1, 0, 1, 0], 0, 0);
  });

  it("ranks across the kept rollouts of a group by |A| H; ties go to the earlier rollout, then the earlier token", () => {
    // |A| is equal for both rollouts (two-member group), so scores tie exactly where entropies do.
    const b = makeBatch([
      { tokens: seqTokens(3), reward: 1, entropies: [1, 3, 1] },
      { tokens: seqTokens(3), reward: 0, entropies: [1, 3, 2] },
    ]);
    // n = 6, K = 0.5 keeps 3: both 3s, the 2, no 1.
    assertClose(runMethod("d3s", b, { tokenKeep: 0.5 }).weights!, [0, 1, 0, 0, 1, 1], 0, 0);
    // K = 0.7 keeps round(4.2) = 4: both 3s, the 2 and the first 1 (earliest rollout, earliest token).
    assertClose(runMethod("d3s", b, { tokenKeep: 0.7 }).weights!, [1, 1, 0, 0, 1, 1], 0, 0);
  });

  it("mask-0 tokens are never ranked, counted or kept; round(K n) uses half-to-even", () => {
    const b = makeBatch([
      { tokens: seqTokens(4), reward: 1, entropies: [100, 1, 2, 3], mask: [0, 1, 1, 1] },
      { tokens: seqTokens(2), reward: 0, entropies: [0.5, 4] },
    ]);
    // n = 5 mask-1 tokens; K = 0.5 gives round(2.5) = 2: the 4 and the 3.
    assertClose(runMethod("d3s", b, { tokenKeep: 0.5 }).weights!, [0, 0, 0, 1, 0, 1], 0, 0);
    // K = 0.1: round(0.5) = 0, nothing is kept.
    assertClose(runMethod("d3s", b, { tokenKeep: 0.1 }).weights!, [0, 0, 0, 0, 0, 0], 0, 0);
  });

  it("property: each group keeps exactly round(K n) candidate tokens, the top ones by |A| H (ties by position)", () => {
    fc.assert(fc.property(
      fc.array(fc.record({
        len: fc.integer({ min: 0, max: 6 }),
        reward: fc.constantFrom(0, 1, 0.5),
        group: fc.constantFrom("a", "b"),
        seed: fc.nat(1000),
      }), { minLength: 1, maxLength: 8 }),
      fc.double({ min: 0.01, max: 1, noNaN: true }),
      fc.integer({ min: 1, max: 5 }),
      (rs, tokenKeep, sampleKeep) => {
        const rows: PartialRow[] = rs.map((r) => ({
          tokens: seqTokens(r.len),
          reward: r.reward,
          group: r.group,
          mask: seqTokens(r.len).map((t) => ((r.seed + t) % 5 === 0 ? 0 : 1)),
          entropies: seqTokens(r.len).map((t) => ((r.seed * 7 + t * 3) % 4) / 2),
        }));
        const b = makeBatch(rows);
        const out = runMethod("d3s", b, { tokenKeep, sampleKeep });
        const grpo = runMethod("grpo", b).advantages;
        for (const g of ["a", "b"]) {
          const members = rs.map((r, i) => ({ r, i })).filter(({ r }) => r.group === g).map(({ i }) => i);
          const candidates: { score: number; k: number }[] = [];
          for (const i of members) {
            if (out.diag!.rollouts!.kept[i] !== 1) continue;
            for (let k = b.offsets[i]; k < b.offsets[i + 1]; k++) {
              if (b.mask[k] === 1) candidates.push({ score: Math.abs(seqAdvantage(b, grpo, i)) * b.entropies!.data[k], k });
            }
          }
          const quota = Math.min(roundHalfEven(tokenKeep * candidates.length), candidates.length);
          const expected = new Set(candidates.sort((x, y) => y.score - x.score || x.k - y.k).slice(0, quota).map((c) => c.k));
          for (const i of members) {
            for (let k = b.offsets[i]; k < b.offsets[i + 1]; k++) assert.equal(out.weights![k], expected.has(k) ? 1 : 0, `token ${k}`);
          }
          assert.equal(members.filter((i) => out.diag!.rollouts!.kept[i] === 1).length, Math.min(sampleKeep, members.length));
        }
      },
    ));
  });
});

/** A rollout's GRPO sequence advantage, read off any mask-1 token (0 when it has none). */
function seqAdvantage(b: ReturnType<typeof makeBatch>, tokenAdvantages: Float64Array, i: number): number {
  for (let k = b.offsets[i]; k < b.offsets[i + 1]; k++) if (b.mask[k] === 1) return tokenAdvantages[k];
  return 0;
}

describe("d3s: schedule", () => {
  it("N 4 -> 8 and K 0.2 -> 1.0 at p = 0.5 give N = 6, K = 0.6", () => {
    assert.equal(scheduledValue({ init: 4, final: 8 }, 0.5), 6);
    assertClose([scheduledValue({ init: 0.2, final: 1.0 }, 0.5)], [0.6], 1e-12, 0);
    assert.equal(scheduledValue(3, 0.9), 3);
  });

  it("through the method: a group of 8 keeps 6 rollouts and 60% of their tokens", () => {
    const rows: PartialRow[] = [0, 1, 2, 3, 4, 5, 6, 7].map((j) => ({ tokens: seqTokens(5), reward: j % 3, entropies: [0.1, 0.2, 0.3, 0.4, 0.5 + j] }));
    const b = makeBatch(rows);
    const out = runMethod("d3s", b, { sampleKeep: { init: 4, final: 8 }, tokenKeep: { init: 0.2, final: 1.0 }, progress: 0.5 });
    const kept = out.diag!.rollouts!.kept;
    assert.equal(kept.reduce((a, x) => a + x, 0), 6);
    assert.equal(out.weights!.reduce((a, x) => a + x, 0), 18); // round(0.6 * 30)
    // At p = 0 the schedule's init values apply: 4 rollouts, round(0.2 * 20) = 4 tokens.
    const early = runMethod("d3s", b, { sampleKeep: { init: 4, final: 8 }, tokenKeep: { init: 0.2, final: 1.0 } });
    assert.equal(early.diag!.rollouts!.kept.reduce((a, x) => a + x, 0), 4);
    assert.equal(early.weights!.reduce((a, x) => a + x, 0), 4);
  });
});

describe("d3s: keep everything", () => {
  it("property: default options (and N >= group size, K = 1) keep every mask-1 token; advantages are GRPO", () => {
    fc.assert(fc.property(
      fc.array(fc.record({
        len: fc.integer({ min: 0, max: 6 }),
        reward: fc.constantFrom(0, 1, 0.5, -1),
        group: fc.constantFrom("a", "b", "c"),
        maskSeed: fc.nat(1000),
      }), { minLength: 1, maxLength: 10 }),
      (rs) => {
        const b = makeBatch(rs.map((r) => ({
          tokens: seqTokens(r.len),
          reward: r.reward,
          group: r.group,
          mask: seqTokens(r.len).map((t) => ((r.maskSeed >> t) & 1)),
          entropies: seqTokens(r.len).map((t) => (t * 0.37) % 1),
        })));
        const grpo = runMethod("grpo", b);
        for (const opts of [{}, { sampleKeep: 10, tokenKeep: 1 }, { sampleKeep: { init: 10, final: 20 }, tokenKeep: { init: 1, final: 1 }, progress: 0.3 }]) {
          const out = runMethod("d3s", b, opts);
          assertClose(out.weights!, Array.from(b.mask), 0, 0);
          assertClose(out.advantages, grpo.advantages, 0, 0);
          assertClose(out.returns!, grpo.returns!, 0, 0);
          assertClose(out.diag!.rollouts!.kept, Array(b.n).fill(1), 0, 0);
        }
      },
    ));
  });

  it("singleton groups and empty responses are kept, and take part without error", () => {
    const b = makeBatch([{ tokens: [], entropies: [], reward: 1, group: "x" }, { tokens: [3], entropies: [0.2], reward: 1, group: "y" }]);
    const out = runMethod("d3s", b, { sampleKeep: 1 });
    assertClose(out.weights!, [1], 0, 0);
    assertClose(out.advantages, [1 / (1 + 1e-6)], 1e-15, 0);
    assertClose(out.diag!.rollouts!.kept, [1, 1], 0, 0);
  });
});

describe("d3s: input and option errors", () => {
  it("missing entropies are an input error", () => {
    const b = makeBatch([{ tokens: [1], reward: 1, entropies: [0.3] }, { tokens: [1], reward: 0 }]);
    assert.throws(() => runMethod("d3s", b), (e: unknown) => e instanceof InputError && e.line === 2 && e.field === "entropies");
  });

  it("bad sampleKeep / tokenKeep are config errors", () => {
    const b = makeBatch([{ tokens: [1], reward: 1, entropies: [0.3] }]);
    const bad: Record<string, unknown>[] = [
      { sampleKeep: 0 }, { sampleKeep: 2.5 }, { sampleKeep: "all" }, { sampleKeep: { init: 4 } }, { sampleKeep: { init: 4, final: 8, p: 1 } },
      { sampleKeep: { init: 0, final: 8 } }, { tokenKeep: 0 }, { tokenKeep: 1.5 }, { tokenKeep: null }, { tokenKeep: { init: 0.2, final: 1.2 } },
      { progress: 1.5 },
    ];
    for (const opts of bad) assert.throws(() => runMethod("d3s", b, opts), ConfigError, JSON.stringify(opts));
    assert.equal(getMethod("d3s").status, "secondary");
  });
});

describe("d3s: examples/plain.jsonl", () => {
  it("keeps everything by default and selects round(K n) tokens per group with options", () => {
    const rows = readFileSync("examples/plain.jsonl", "utf8").split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as PartialRow);
    const b = makeBatch(rows);
    assertClose(runMethod("d3s", b).weights!, Array.from(b.mask), 0, 0);
    const out = runMethod("d3s", b, { sampleKeep: 2, tokenKeep: 0.25 });
    for (let g = 0; g < b.groupNames.length; g++) {
      let candidates = 0, kept = 0;
      for (let m = b.groupOffsets[g]; m < b.groupOffsets[g + 1]; m++) {
        const i = b.groupMembers[m];
        for (let k = b.offsets[i]; k < b.offsets[i + 1]; k++) {
          if (out.diag!.rollouts!.kept[i] === 1) candidates += b.mask[k];
          kept += out.weights![k];
        }
      }
      assert.equal(kept, roundHalfEven(0.25 * candidates));
    }
  });
});

describe("d3s: token selection on large groups (histogram before selection)", () => {
  it("keeps exactly the sort-based top |A| H tokens (ties by position) for spread, tied and extreme entropies", () => {
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const kinds: ((t: number) => number)[] = [
      () => rnd() * 3,
      () => [0, 0.5, 1, 1.5][Math.floor(rnd() * 4)],
      (t) => (t % 3 === 0 ? 0 : t % 3 === 1 ? 1e-300 * rnd() : 1e300 * rnd()),
      (t) => (t % 50 === 0 ? 1e6 : rnd() * 1e-3), // one far outlier squeezes the rest into a bin
    ];
    for (const kind of kinds) {
      const rows: PartialRow[] = Array.from({ length: 8 }, (_, r) => ({
        tokens: seqTokens(400),
        reward: r % 3 === 0 ? 1 : r % 3 === 1 ? 0 : 0.5,
        mask: seqTokens(400).map((t) => ((t + r) % 9 === 0 ? 0 : 1)),
        entropies: seqTokens(400).map(kind),
      }));
      const b = makeBatch(rows);
      const tokenKeep = 0.23;
      const out = runMethod("d3s", b, { tokenKeep });
      const grpo = runMethod("grpo", b).advantages;
      const candidates: { score: number; k: number }[] = [];
      for (let i = 0; i < 8; i++) {
        for (let k = b.offsets[i]; k < b.offsets[i + 1]; k++) {
          if (b.mask[k] === 1) candidates.push({ score: Math.abs(seqAdvantage(b, grpo, i)) * b.entropies!.data[k], k });
        }
      }
      const quota = Math.min(roundHalfEven(tokenKeep * candidates.length), candidates.length);
      const expected = new Set(candidates.sort((x, y) => y.score - x.score || x.k - y.k).slice(0, quota).map((c) => c.k));
      for (let k = 0; k < b.nTokens; k++) if (out.weights![k] !== (expected.has(k) ? 1 : 0)) assert.fail(`token ${k}`);
    }
  });
});
