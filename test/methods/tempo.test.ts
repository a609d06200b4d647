import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { runMethod } from "../../src/core/registry.js";
import { tempoTemporalDifferences } from "../../src/methods/tempo.js";
import { assertClose, makeBatch, rowOf, type PartialRow } from "../helpers.js";

// Worked example (methods.md Part 2 section 2): A,B,C,D,E,F,G,H as token ids 1..8.
const WORKED: PartialRow[] = [
  { id: "y1", tokens: [1, 2, 3], reward: 1 },
  { id: "y2", tokens: [1, 2, 4], reward: 0 },
  { id: "y3", tokens: [1, 5, 6], reward: 1 },
  { id: "y4", tokens: [7, 8], reward: 0 },
];

test("worked example: deltas, unbiased and population sigma, eps 0", () => {
  const batch = makeBatch(WORKED);
  const delta = tempoTemporalDifferences(batch);
  const expectedDelta = [[1 / 6, -1 / 6, 1 / 2], [1 / 6, -1 / 6, -1 / 2], [1 / 6, 1 / 3, 0], [-1 / 2, 0]];
  expectedDelta.forEach((d, i) => assertClose(rowOf(batch, delta, i), d, 1e-12, 0, `delta y${i + 1}`));

  const unbiased = runMethod("tempo", batch, {});
  const expectedUnbiased = [
    [1.1546985, 0.5773493, 1.7320478],
    [-0.5773493, -1.1546985, -1.7320478],
    [1.1546985, 1.4433732, 0.8660239],
    [-1.7320478, -0.8660239],
  ];
  expectedUnbiased.forEach((a, i) => assertClose(rowOf(batch, unbiased.advantages, i), a, 1e-6, 0, `unbiased y${i + 1}`));
  assert.ok(unbiased.returns);
  assertClose(unbiased.returns, unbiased.advantages, 0, 0, "returns");

  const population = runMethod("tempo", batch, { std: "population" });
  const expectedPopulation = [
    [1.3333307, 0.6666653, 1.999996],
    [-0.6666653, -1.3333307, -1.999996],
    [1.3333307, 1.6666633, 0.999998],
    [-1.999996, -0.999998],
  ];
  expectedPopulation.forEach((a, i) => assertClose(rowOf(batch, population.advantages, i), a, 1e-6, 0, `population y${i + 1}`));

  const exact = runMethod("tempo", batch, { eps: 0 });
  const s3 = Math.sqrt(3);
  assertClose(rowOf(batch, exact.advantages, 0), [2 / s3, 1 / s3, s3], 1e-12, 1e-12, "eps 0");
});

/** Random groups over a tiny vocabulary (shared prefixes, duplicates, prefixes of others, empty responses). */
const groupArb = fc.array(
  fc.record({
    tokens: fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 5 }),
    reward: fc.integer({ min: -4, max: 4 }).map((x) => x / 2),
  }),
  { minLength: 1, maxLength: 6 },
);
const groupsArb = fc.array(groupArb, { minLength: 1, maxLength: 3 });

function rowsOf(groups: { tokens: number[]; reward: number }[][]): PartialRow[] {
  return groups.flatMap((g, gi) => g.map((r) => ({ group: `g${gi}`, tokens: r.tokens, reward: r.reward })));
}

/** Independent TEMPO: brute-force D(s) over token prefixes, verl GRPO statistics. */
function referenceTempo(groups: { tokens: number[]; reward: number }[][], eps: number, w: number, population = false): number[][] {
  const out: number[][] = [];
  for (const g of groups) {
    const G = g.length;
    const mu = G === 1 ? 0 : g.reduce((s, r) => s + r.reward, 0) / G;
    const ss = g.reduce((s, r) => s + (r.reward - mu) ** 2, 0);
    const sigma = G === 1 ? 1 : Math.sqrt(ss / (population ? G : G - 1));
    const value = (prefix: number[]) => {
      const through = g.filter((r) => prefix.every((x, k) => r.tokens[k] === x) && r.tokens.length >= prefix.length);
      return through.reduce((s, r) => s + r.reward, 0) / through.length;
    };
    for (const r of g) {
      const base = (r.reward - mu) / (sigma + eps);
      out.push(r.tokens.map((_, t) => base + (w * (value(r.tokens.slice(0, t + 1)) - value(r.tokens.slice(0, t)))) / (sigma + eps)));
    }
  }
  return out;
}

test("matches a brute-force prefix-tree reference on random groups", () => {
  fc.assert(
    fc.property(groupsArb, fc.constantFrom(0, 0.5, 1, 2), fc.boolean(), (groups, w, population) => {
      const batch = makeBatch(rowsOf(groups));
      const out = runMethod("tempo", batch, { tdWeight: w, std: population ? "population" : "unbiased" });
      const expected = referenceTempo(groups, 1e-6, w, population);
      expected.forEach((a, i) => assertClose(rowOf(batch, out.advantages, i), a, 1e-6, 1e-9, `rollout ${i}`));
    }),
    { numRuns: 300 },
  );
});

test("invariant: tdWeight 0 is GRPO exactly", () => {
  fc.assert(
    fc.property(groupsArb, (groups) => {
      const batch = makeBatch(rowsOf(groups));
      assert.deepEqual(runMethod("tempo", batch, { tdWeight: 0 }).advantages, runMethod("grpo", batch, {}).advantages);
    }),
    { numRuns: 100 },
  );
});

test("invariant: no two responses share a first token => GRPO on every token but the first, whose root TD term is (r - mu)/(sigma + eps)", () => {
  // The root is a branch node whenever the first tokens differ, so methods.md's own worked example
  // (y4 = [G, H]: A = [-1.732, -0.866]) carries a TD term on token 0; every later token is a non-branch token.
  const distinctFirst = fc
    .uniqueArray(fc.integer({ min: 0, max: 20 }), { minLength: 2, maxLength: 6 })
    .chain((firsts) =>
      fc.tuple(
        ...firsts.map((f) =>
          fc.record({ tokens: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 0, maxLength: 4 }).map((rest) => [f, ...rest]), reward: fc.integer({ min: 0, max: 4 }).map((x) => x / 4) }),
        ),
      ),
    );
  fc.assert(
    fc.property(fc.array(distinctFirst, { minLength: 1, maxLength: 3 }), fc.constantFrom(0.5, 1, 3), (groups, w) => {
      const batch = makeBatch(rowsOf(groups));
      const grpo = runMethod("grpo", batch, {}).advantages;
      const tempo = runMethod("tempo", batch, { tdWeight: w }).advantages;
      for (let i = 0; i < batch.n; i++) {
        const a = batch.offsets[i];
        assertClose([tempo[a]], [(1 + w) * grpo[a]], 1e-9, 1e-9, `first token of ${i}`);
        assertClose(tempo.subarray(a + 1, batch.offsets[i + 1]), grpo.subarray(a + 1, batch.offsets[i + 1]), 1e-12, 1e-12, `rest of ${i}`);
      }
    }),
    { numRuns: 200 },
  );
});

test("invariant: TD terms telescope to V(y_i) - mu, which is r_i - mu when y_i is no other response's prefix", () => {
  fc.assert(
    fc.property(fc.array(groupArb.filter((g) => g.length >= 2), { minLength: 1, maxLength: 3 }), (groups) => {
      const batch = makeBatch(rowsOf(groups));
      const delta = tempoTemporalDifferences(batch);
      let i = 0;
      for (const g of groups) {
        const mu = g.reduce((s, r) => s + r.reward, 0) / g.length;
        for (const r of g) {
          const sum = rowOf(batch, delta, i).reduce((s, x) => s + x, 0);
          const through = g.filter((o) => o.tokens.length >= r.tokens.length && r.tokens.every((x, k) => o.tokens[k] === x));
          const vEnd = through.reduce((s, o) => s + o.reward, 0) / through.length;
          assert.ok(Math.abs(sum - (vEnd - mu)) <= 1e-9, `sum ${sum} != V(y) - mu ${vEnd - mu}`);
          if (through.length === 1) assert.ok(Math.abs(sum - (r.reward - mu)) <= 1e-9, `sum ${sum} != r - mu ${r.reward - mu}`);
          i++;
        }
      }
    }),
    { numRuns: 300 },
  );
});

test("edge cases: singleton group, empty response, zero variance", () => {
  const single = makeBatch([{ tokens: [1, 2, 3], reward: 0.7 }]);
  assertClose(runMethod("tempo", single, {}).advantages, [0.7 / (1 + 1e-6), 0.7 / (1 + 1e-6), 0.7 / (1 + 1e-6)], 1e-12, 1e-12, "singleton");

  // The empty response counts at the root only: mu = 0.5 over {1, 0, 1, 0}.
  const withEmpty = makeBatch([{ tokens: [1, 2], reward: 1 }, { tokens: [1, 3], reward: 0 }, { tokens: [], reward: 1 }, { tokens: [4], reward: 0 }]);
  const out = runMethod("tempo", withEmpty, {});
  const sigma = Math.sqrt(1 / 3);
  const e = 1e-6;
  // V(root) = 0.5, V([1]) = 0.5, V([1,2]) = 1, V([1,3]) = 0, V([4]) = 0.
  assertClose(rowOf(withEmpty, out.advantages, 0), [0.5 / (sigma + e), 1 / (sigma + e)], 1e-9, 1e-9, "y0");
  assertClose(rowOf(withEmpty, out.advantages, 1), [-0.5 / (sigma + e), -1 / (sigma + e)], 1e-9, 1e-9, "y1");
  assertClose(rowOf(withEmpty, out.advantages, 3), [-1 / (sigma + e)], 1e-9, 1e-9, "y3");

  const flat = makeBatch([{ tokens: [1, 2], reward: 1 }, { tokens: [1, 3], reward: 1 }, { tokens: [5], reward: 1 }]);
  assertClose(runMethod("tempo", flat, {}).advantages, [0, 0, 0, 0, 0], 0, 0, "zero variance");
});

test("mask-0 tokens get 0 and their TD term is dropped; the tree still tells them apart", () => {
  // y0 and y1 share [1, 2]; they diverge at a tool token (mask 0) at index 2, then both continue with 9.
  const batch = makeBatch([
    { tokens: [1, 2, 7, 9], mask: [1, 1, 0, 1], reward: 1 },
    { tokens: [1, 2, 8, 9], mask: [1, 1, 0, 1], reward: 0 },
    { tokens: [3], reward: 0 },
    { tokens: [3], reward: 1 },
  ]);
  const out = runMethod("tempo", batch, {});
  const sigma = Math.sqrt(1 / 3);
  const g = 0.5 / (sigma + 1e-6);
  // Root -> [1] and [3] both have value 0.5 = mu: no TD on token 0. [1,2] -> [1,2,7] branches on a masked token.
  assertClose(rowOf(batch, out.advantages, 0), [g, g, 0, g], 1e-9, 1e-9, "y0");
  assertClose(rowOf(batch, out.advantages, 1), [-g, -g, 0, -g], 1e-9, 1e-9, "y1");
  // Duplicates [3] with rewards 0 and 1: V([3]) = 0.5, so only their GRPO parts differ.
  assertClose(rowOf(batch, out.advantages, 2), [-g], 1e-9, 1e-9, "y2");
  assertClose(rowOf(batch, out.advantages, 3), [g], 1e-9, 1e-9, "y3");
});

test("token rewards enter the score, and the bundled example runs", () => {
  const batch = makeBatch([{ tokens: [1, 2], reward: 0, token_rewards: [0, 1] }, { tokens: [1, 3], reward: 0 }]);
  const out = runMethod("tempo", batch, { eps: 0 });
  // s = [1, 0], mu 0.5, sigma sqrt(0.5); delta on token 1: +-0.5.
  const s = Math.SQRT1_2;
  assertClose(out.advantages, [0.5 / s, 1 / s, -0.5 / s, -1 / s], 1e-12, 1e-12);

  // npm runs the tests from the package root.
  const lines = readFileSync("examples/plain.jsonl", "utf8").trim().split("\n");
  const plain = makeBatch(lines.map((l) => JSON.parse(l) as PartialRow));
  const res = runMethod("tempo", plain, {});
  assert.ok(res.advantages.some((x) => x !== 0));
});
