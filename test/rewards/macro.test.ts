import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  aggregateMacro,
  fixedNgramBoundaries,
  macroChunks,
  macroGae,
  positionWeights,
  pplBoundaries,
  randomNgramBoundaries,
  randomNgramLengths,
  seededRandom,
} from "../../src/rewards/macro.js";
import { assertClose } from "../helpers.js";

const chunksOf = (ma: number[], L: number, keepEmpty = true): [number, number][] => {
  const { start, end } = macroChunks(ma, L, keepEmpty);
  return Array.from(start, (s, k) => [s, end[k]]);
};

test("fixed n=2 on 6 tokens: ma=[0,2,4,5], splits [2,2,1,1] (methods.md §6 d)", () => {
  const ma = fixedNgramBoundaries(6, 2);
  assert.deepEqual(ma, [0, 2, 4, 5]);
  assert.deepEqual(chunksOf(ma, 6), [[0, 2], [2, 4], [4, 5], [5, 6]]);
});

test("fixed rule: empty macro when the last boundary is the sentinel (QUIRK), dropped on request", () => {
  // L = 5, n = 2: boundaries at 2 and 4 = L-1, then the sentinel 4 again.
  const ma = fixedNgramBoundaries(5, 2);
  assert.deepEqual(ma, [0, 2, 4, 4]);
  assert.deepEqual(chunksOf(ma, 5), [[0, 2], [2, 4], [4, 4], [4, 5]]);
  assert.deepEqual(chunksOf(ma, 5, false), [[0, 2], [2, 4], [4, 5]]);
  assert.deepEqual(fixedNgramBoundaries(1, 5), [0, 0]);
  assert.deepEqual(fixedNgramBoundaries(0, 5), []);
});

test("ppl=[2,1.5,3,2.5,2,4] gives ma=[0,1,4,5]: chunks {0},{1,2,3},{4},{5}", () => {
  const ppl = [2, 1.5, 3, 2.5, 2, 4];
  const ma = pplBoundaries(ppl.map((p) => -Math.log(p)));
  assert.deepEqual(ma, [0, 1, 4, 5]);
  assert.deepEqual(chunksOf(ma, 6), [[0, 1], [1, 4], [4, 5], [5, 6]]);
});

test("ppl rule: start is not duplicated when a boundary is at 0; extreme log-probs do not overflow", () => {
  // ppl rises at 0 -> 1, so 0 is already a boundary.
  assert.deepEqual(pplBoundaries([-1, -2, -0.5]), [0, 2]);
  assert.deepEqual(pplBoundaries([-1e308, -1.7e308, -1e300]), [0, 2]);
  assert.deepEqual(pplBoundaries([]), []);
});

test("randomized rule: lengths taken in order, rest is one macro up to the sentinel", () => {
  assert.deepEqual(randomNgramBoundaries(20, [3, 1, 2]), [0, 3, 4, 6, 19]);
  // the list is not used up: the tail [9, 11) ends at the sentinel
  assert.deepEqual(randomNgramBoundaries(12, [5, 4, 10]), [0, 5, 9, 11]);
  // boundary lands on L-1: the sentinel repeats (same QUIRK as the fixed rule)
  assert.deepEqual(randomNgramBoundaries(4, [3, 2]), [0, 3, 3]);
});

test("randomNgramLengths: a seeded permutation of [1,2,3,5,10] x repeatTimes", () => {
  const a = randomNgramLengths(seededRandom(7), 3);
  const b = randomNgramLengths(seededRandom(7), 3);
  assert.deepEqual(a, b);
  assert.deepEqual([...a].sort((x, y) => x - y), [1, 1, 1, 2, 2, 2, 3, 3, 3, 5, 5, 5, 10, 10, 10]);
  assert.notDeepEqual(randomNgramLengths(seededRandom(8), 3), [1, 1, 1, 2, 2, 2, 3, 3, 3, 5, 5, 5, 10, 10, 10]);
});

test("position weights for a 3-token macro: [0.545455, 0.272727, 0.181818]", () => {
  assertClose(positionWeights(3), [6 / 11, 3 / 11, 2 / 11], 1e-12);
  assertClose(positionWeights(3), [0.545455, 0.272727, 0.181818], 1e-6);
  assertClose([aggregateMacro([1, 2, 3], 0, 3, "position")], [(6 + 6 + 6) / 11], 1e-12);
  assertClose([aggregateMacro([9, 1, 2, 3, 9], 1, 4, "equal")], [2], 1e-12);
  assert.equal(aggregateMacro([1, 2], 1, 1, "equal"), 0);
  assertClose([aggregateMacro([5, 7, 11], 0, 2, "equal", [2, 0])], [8], 1e-12);
});

test("macro aggregation and GAE: methods.md §6 (d) vector", () => {
  const V = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
  const r = [-0.01, -0.02, 0, -0.01, -0.03, 1.0];
  const { start, end } = macroChunks(fixedNgramBoundaries(6, 2), 6);
  const mV = Array.from(start, (s, k) => aggregateMacro(V, s, end[k], "equal"));
  const mR = Array.from(start, (s, k) => aggregateMacro(r, s, end[k], "equal"));
  assertClose(mV, [0.15, 0.35, 0.5, 0.6], 1e-12);
  assertClose(mR, [-0.015, -0.005, -0.03, 1.0], 1e-12);
  const g = macroGae(mR, mV, 1, 0.95);
  assertClose(g.advantages, [0.728875, 0.5725, 0.45, 0.4], 1e-9);
  assertClose(g.returns, [0.878875, 0.9225, 0.95, 1.0], 1e-9);
});

const boundaryProps = (ma: number[], L: number): void => {
  assert.equal(ma[0], 0);
  assert.equal(ma[ma.length - 1], L - 1);
  for (let k = 1; k < ma.length; k++) assert.ok(ma[k] >= ma[k - 1]);
  // the chunks tile [0, L) exactly, the sentinel chunk last and alone
  const { start, end } = macroChunks(ma, L);
  let covered = 0;
  for (let c = 0; c < start.length; c++) {
    assert.equal(start[c], covered);
    covered = end[c];
  }
  assert.equal(covered, L);
  assert.equal(start[start.length - 1], L - 1);
  assert.equal(end[end.length - 1], L);
};

test("property: every rule's boundaries tile [0, L) with the sentinel alone at the end", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 8 }), fc.integer(), fc.array(fc.double({ min: -20, max: 0, noNaN: true }), { minLength: 1, maxLength: 60 }), (L, n, seed, lps) => {
      boundaryProps(fixedNgramBoundaries(L, n), L);
      boundaryProps(randomNgramBoundaries(L, randomNgramLengths(seededRandom(seed), 1 + (seed & 1))), L);
      boundaryProps(pplBoundaries(lps), lps.length);
      // fixed macros (other than the sentinel and the tail) have exactly n tokens
      const { start, end } = macroChunks(fixedNgramBoundaries(L, n), L, false);
      for (let c = 0; c < start.length - 2; c++) assert.equal(end[c] - start[c], n);
    }),
  );
});

test("property: macro GAE with one-token macros equals token-level GAE (gamma, lambda arbitrary)", () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.double({ min: -2, max: 2, noNaN: true }), fc.double({ min: -2, max: 2, noNaN: true })), { minLength: 1, maxLength: 30 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (rv, gamma, lambda) => {
      const r = rv.map((x) => x[0]);
      const V = rv.map((x) => x[1]);
      const g = macroGae(r, V, gamma, lambda);
      // independent recursion
      let next = 0, last = 0;
      const A = new Array<number>(r.length);
      for (let t = r.length - 1; t >= 0; t--) {
        last = r[t] + gamma * next - V[t] + gamma * lambda * last;
        next = V[t];
        A[t] = last;
      }
      assertClose(g.advantages, A, 1e-9, 1e-9);
      assertClose(g.returns, A.map((a, t) => a + V[t]), 1e-9, 1e-9);
    }),
  );
});

test("property: equal aggregation is the mean, position aggregation lies within [min, max]", () => {
  fc.assert(
    fc.property(fc.array(fc.double({ min: -1e3, max: 1e3, noNaN: true }), { minLength: 1, maxLength: 20 }), (xs) => {
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      assertClose([aggregateMacro(xs, 0, xs.length, "equal")], [mean], 1e-9, 1e-9);
      const p = aggregateMacro(xs, 0, xs.length, "position");
      assert.ok(p >= Math.min(...xs) - 1e-9 && p <= Math.max(...xs) + 1e-9);
    }),
  );
});
