/**
 * The shared entropy maths: Python rounding, quickselect, HAPO's compute_entropy_h (worked example
 * of methods.md Part 2 section 5, with the Part 0 rounding fix for h/std) and HICRA's per-response
 * top-k threshold (section 7).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  entropyHFromStandardised,
  entropyHStats,
  nearestQuantile,
  normalizedEntropy,
  roundHalfEven,
  rolloutEntropyThresholds,
  selectKth,
} from "../../src/core/entropy.js";
import { mulberry32 } from "../../src/core/random.js";
import { assertClose, makeBatch, rowOf, seqTokens } from "../helpers.js";

const finiteDouble = (min: number, max: number) => fc.double({ min, max, noNaN: true, noDefaultInfinity: true });

describe("roundHalfEven (Python round)", () => {
  it("sends exact halves to the even neighbour, everything else to the nearest integer", () => {
    const cases: [number, number][] = [[0.5, 0], [1.5, 2], [2.5, 2], [3.5, 4], [-0.5, 0], [-1.5, -2], [-2.5, -2], [3.2, 3], [2.6, 3], [-2.6, -3], [7, 7], [0.49999999999999994, 0]];
    for (const [x, want] of cases) assert.equal(roundHalfEven(x) + 0, want, `round(${x})`);
  });

  it("differs from Math.round exactly on odd-floor halves", () => {
    fc.assert(fc.property(fc.integer({ min: -1000, max: 1000 }), (k) => {
      const half = k + 0.5;
      assert.equal(roundHalfEven(half), k % 2 === 0 ? k : k + 1);
    }));
  });
});

describe("selectKth / nearestQuantile", () => {
  it("selectKth returns the k-th smallest, as sorting would", () => {
    fc.assert(fc.property(
      fc.array(fc.oneof(fc.integer({ min: -3, max: 3 }), finiteDouble(-1e6, 1e6)), { minLength: 1, maxLength: 60 }),
      fc.nat(),
      (xs, seed) => {
        const k = seed % xs.length;
        const sorted = [...xs].sort((a, b) => a - b);
        // As numbers: -0 and 0 tie, and which of them a stable sort puts k-th is not the question.
        assert.ok(selectKth(Float64Array.from(xs), k) === sorted[k], `k=${k}`);
      },
    ));
  });

  it("selectKth on large arrays (the sampling branch, > 600 entries), with many ties or none", () => {
    fc.assert(fc.property(
      fc.integer({ min: 601, max: 5000 }),
      fc.integer({ min: 1, max: 1_000_000 }),
      fc.nat(),
      fc.integer({ min: 1, max: 1 << 30 }),
      (n, distinct, kSeed, seed) => {
        let state = seed;
        const xs = Array.from({ length: n }, () => {
          state = (Math.imul(state, 1103515245) + 12345) >>> 0;
          return (state % distinct) / 7;
        });
        const sorted = [...xs].sort((a, b) => a - b);
        for (const k of [0, n - 1, kSeed % n, Math.floor(0.8 * (n - 1))]) assert.equal(selectKth(Float64Array.from(xs), k), sorted[k]);
      },
    ), { numRuns: 40 });
  });

  it("selectKth only looks at the first `length` entries and rejects k outside them", () => {
    const a = Float64Array.from([5, 1, 4, -100, -200]);
    assert.equal(selectKth(a, 0, 3), 1);
    assert.throws(() => selectKth(Float64Array.from([1, 2]), 2), RangeError);
  });

  it("nearest quantile indexes by round(q (n - 1)) with banker's rounding", () => {
    const xs = [10, 20, 30, 40, 50, 60];
    // q (n-1) = 0.5 * 5 = 2.5: Python round gives 2 (Math.round would give 3).
    assert.equal(nearestQuantile(Float64Array.from(xs), 0.5), 30);
    // 0.8 * 5 = 4 (exact): rank 4.
    assert.equal(nearestQuantile(Float64Array.from(xs), 0.8), 50);
    // 0.7 * 5 = 3.5: rank 4 (even).
    assert.equal(nearestQuantile(Float64Array.from(xs), 0.7), 50);
    assert.equal(nearestQuantile(Float64Array.from([3, 1, 2, 5, 4]), 0.8), 4); // round(3.2) = 3
    assert.equal(nearestQuantile(Float64Array.from([7]), 0.8), 7);
  });
});

describe("compute_entropy_h (HAPO section 5 worked example)", () => {
  const H = [0.1, 0.5, 1.0, 2.0, 4.0];
  const codeHat = [1.0, 0.4627564, 0.2313782, -0.0, 1.0];
  const paperHat = [-1.0, -0.4627564, -0.2313782, 0, 1.0];

  it("statistics: med = ln 2, std = 1.5399435, scales 2.2216689 / -0.5140458", () => {
    const s = entropyHStats(H, 0.8);
    assert.ok(s !== null);
    assertClose([s.med, s.std, s.scalePos, s.scaleNeg], [Math.log(2), 1.5399435, 2.2216689, -0.5140458], 1e-6, 0);
    // Part 0: the intermediate h/std is [-1.9453521, -0.9002242, -0.4501121, 0, 0.4501121].
    const h = H.map((x) => (Math.log(x) - s.med) / s.std);
    assertClose(h, [-1.9453521, -0.9002242, -0.4501121, 0, 0.4501121], 1e-6, 0);
    assertClose(h.map((x) => entropyHFromStandardised(x, s, "code")), codeHat, 1e-6, 0);
    assertClose(h.map((x) => entropyHFromStandardised(x, s, "paper")), paperHat, 1e-6, 0);
  });

  it("normalizedEntropy over a batch gives the code and paper ĥ; h = 0 is -0 in code, +0 in paper", () => {
    const b = makeBatch([{ tokens: seqTokens(5), entropies: H }]);
    const code = normalizedEntropy(b, { pivot: 0.8, sign: "code", scope: "batch" });
    assertClose(code.hHat, codeHat, 1e-6, 0);
    assert.ok(Object.is(code.hHat[3], -0));
    const paper = normalizedEntropy(b, { pivot: 0.8, sign: "paper", scope: "batch" });
    assertClose(paper.hHat, paperHat, 1e-6, 0);
    assert.ok(Object.is(paper.hHat[3], 0));
  });

  it("mask-0 tokens take no part in the statistics and get ĥ = 0", () => {
    const b = makeBatch([
      { tokens: seqTokens(4), entropies: [0.1, 0.5, 1e6, 1.0], mask: [1, 1, 0, 1] },
      { tokens: seqTokens(3), entropies: [2.0, 0, 4.0], mask: [1, 0, 1], group: "other" },
    ]);
    const out = normalizedEntropy(b, { pivot: 0.8, sign: "code", scope: "batch" });
    assertClose(rowOf(b, out.hHat, 0), [1.0, 0.4627564, 0, 0.2313782], 1e-6, 0);
    assertClose(rowOf(b, out.hHat, 1), [0, 0, 1.0], 1e-6, 0);
  });

  it("entropies below 1e-8 are clamped before the log", () => {
    const s = entropyHStats([0, 1e-12, 1e-8, 1], 0.8);
    const t = entropyHStats([1e-8, 1e-8, 1e-8, 1], 0.8);
    assert.deepEqual(s, t);
  });

  it("no positive (or no negative) h: the scale falls back to 1/1e-8 and every output stays finite", () => {
    const s = entropyHStats([1, 1, 1], 0.8);
    assert.ok(s !== null);
    assert.equal(s.std, 1e-4);
    assert.equal(s.scalePos, 1e8);
    assert.equal(s.scaleNeg, -1e8);
    assert.equal(entropyHStats([], 0.8), null);
    assert.equal(entropyHStats([1, 2], 0.8, [0, 0]), null);
  });

  it("group scope normalises each group on its own", () => {
    const rows = [
      { tokens: seqTokens(3), entropies: [0.2, 0.9, 1.7], group: "a" },
      { tokens: seqTokens(2), entropies: [3.0, 0.01], group: "b" },
      { tokens: seqTokens(2), entropies: [0.6, 0.3], group: "a" },
    ];
    const together = normalizedEntropy(makeBatch(rows), { pivot: 0.8, sign: "paper", scope: "group" });
    const a = normalizedEntropy(makeBatch([rows[0], rows[2]]), { pivot: 0.8, sign: "paper", scope: "batch" });
    const b = normalizedEntropy(makeBatch([rows[1]]), { pivot: 0.8, sign: "paper", scope: "batch" });
    assert.equal(together.stats.length, 2);
    assertClose(together.hHat, [...a.hHat.subarray(0, 3), ...b.hHat, ...a.hHat.subarray(3)], 0, 0);
  });

  it("property: ĥ lies in [-1, 1]; code and paper differ only in the sign of h <= 0 tokens; the largest h maps to 1", () => {
    fc.assert(fc.property(fc.array(finiteDouble(0, 50), { minLength: 1, maxLength: 40 }), fc.double({ min: 0, max: 1, noNaN: true }), (H, pivot) => {
      const b = makeBatch([{ tokens: seqTokens(H.length), entropies: H }]);
      const code = normalizedEntropy(b, { pivot, sign: "code", scope: "batch" }).hHat;
      const paper = normalizedEntropy(b, { pivot, sign: "paper", scope: "batch" }).hHat;
      let anyPositive = false;
      for (let k = 0; k < H.length; k++) {
        assert.ok(code[k] >= -1e-12 && code[k] <= 1 + 1e-12 && paper[k] >= -1 - 1e-12 && paper[k] <= 1 + 1e-12);
        if (paper[k] > 0) {
          anyPositive = true;
          assert.equal(code[k], paper[k]);
        } else {
          assert.equal(code[k], -paper[k]);
        }
      }
      // The largest h maps to exactly 1 unless it is below the 1e-8 floor of pos_max.
      const stats = entropyHStats(H, pivot);
      if (anyPositive && stats !== null && stats.scalePos < 1e8) assert.ok(Math.abs(Math.max(...paper) - 1) < 1e-12);
    }));
  });
});

describe("compute_entropy_h on large units (sampled bracket before selection)", () => {
  // A sort-based reference of the statistics, written out independently of the library.
  const reference = (H: number[], mask: number[], pivot: number) => {
    const vals: number[] = [];
    for (let k = 0; k < H.length; k++) if (mask[k] === 1) vals.push(Math.max(H[k], 1e-8));
    const sorted = [...vals].sort((a, b) => a - b);
    const med = Math.log(sorted[roundHalfEven(pivot * (sorted.length - 1))]);
    let sumSq = 0, maxDev = -Infinity, minDev = Infinity;
    for (const v of vals) {
      const d = Math.log(v) - med;
      sumSq += d * d;
      maxDev = Math.max(maxDev, d);
      minDev = Math.min(minDev, d);
    }
    const std = Math.sqrt(Math.max(sumSq / vals.length, 1e-8));
    return { med, std, scalePos: 1 / Math.max(maxDev / std, 1e-8), scaleNeg: 1 / Math.min(minDev / std, -1e-8) };
  };
  const N = 40000; // above the 32768-token threshold of the sampled path
  const rng = mulberry32(7);
  const random = Array.from({ length: N }, () => -Math.log(rng()) * (0.5 + rng()));
  const ties = Array.from({ length: N }, () => [0.25, 0.5, 1, 2][Math.floor(rng() * 4)]);
  const ascending = [...random].sort((a, b) => a - b);
  const descending = [...ascending].reverse();
  // The sample reads the tokens at floor(j N / 4096): giving exactly those a value of their own
  // makes the bracket miss the rank, so the exact fallback runs.
  const decoy = Array.from({ length: N }, () => 2 + rng());
  for (let j = 0; j < 4096; j++) decoy[Math.floor((j * N) / 4096)] = 1;
  const allOnes = new Array<number>(N).fill(1);
  const someMasked = Array.from({ length: N }, () => (rng() < 0.2 ? 0 : 1));

  it("gives exactly the statistics of a full sort, for every pivot, with ties, sorted data, a decoy sample and mask-0 tokens", () => {
    for (const H of [random, ties, ascending, descending, decoy]) {
      for (const mask of [allOnes, someMasked]) {
        for (const pivot of [0, 0.001, 0.2, 0.5, 0.8, 0.999, 1]) {
          assert.deepEqual(entropyHStats(H, pivot, mask), reference(H, mask, pivot));
        }
      }
    }
  });

  it("normalizedEntropy over a large batch equals the small-unit computation token by token", () => {
    // Four rollouts of 10000 tokens: one unit in batch scope (sampled path), and the same
    // statistics from the reference give the same ĥ.
    const rows = [0, 1, 2, 3].map((r) => ({ tokens: seqTokens(10000), entropies: random.slice(r * 10000, (r + 1) * 10000), mask: someMasked.slice(r * 10000, (r + 1) * 10000) }));
    const b = makeBatch(rows);
    const out = normalizedEntropy(b, { pivot: 0.8, sign: "code", scope: "batch" });
    const s = reference(random, someMasked, 0.8);
    assert.deepEqual(out.stats[0], s);
    for (let k = 0; k < N; k++) {
      const expected = someMasked[k] === 1 ? entropyHFromStandardised((Math.log(Math.max(random[k], 1e-8)) - s.med) / s.std, s, "code") : 0;
      if (!Object.is(out.hHat[k], expected)) assert.fail(`token ${k}: ${out.hHat[k]} != ${expected}`);
    }
  });
});

describe("rolloutEntropyThresholds (HICRA section 7)", () => {
  it("θ = sorted entropies at floor((1 - k) n): the worked example gives [0.5, 0.8, 0.7]", () => {
    const b = makeBatch([
      { tokens: seqTokens(4), entropies: [0.1, 0.9, 0.3, 0.5] },
      { tokens: seqTokens(3), entropies: [0.2, 0.8, 0.4] },
      { tokens: seqTokens(2), entropies: [0.7, 0.6] },
    ]);
    assertClose(rolloutEntropyThresholds(b, 0.3), [0.5, 0.8, 0.7], 0, 0);
    assertClose(rolloutEntropyThresholds(b, 0.3, [0, 1, 0]), [0, 0.8, 0], 0, 0);
  });

  it("counts mask-1 tokens only, evaluates (1 - k) n in floating point, clips the index", () => {
    // n = 10: (1 - 0.3) * 10 = 7.000000000000001, floor 7.
    const H = [9, 0, 8, 1, 7, 2, 6, 3, 5, 4];
    const b = makeBatch([
      { tokens: seqTokens(10), entropies: H },
      { tokens: seqTokens(4), entropies: [100, 0.5, 0.2, 100], mask: [0, 1, 1, 0] },
      { tokens: [], entropies: [] },
    ]);
    assertClose(rolloutEntropyThresholds(b, 0.3), [7, 0.5, 0], 0, 0);
    // topK 0: index n clips to n - 1 (the largest); topK 1: index 0.
    assertClose(rolloutEntropyThresholds(b, 0), [9, 0.5, 0], 0, 0);
    assertClose(rolloutEntropyThresholds(b, 1), [0, 0.2, 0], 0, 0);
  });
});
