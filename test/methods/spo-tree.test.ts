import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { InputError } from "../../src/core/errors.js";
import { runMethod } from "../../src/core/registry.js";
import { assertClose, makeBatch, rowOf, type PartialRow } from "../helpers.js";

// Worked example (methods.md Part 2 section 1.2) as root-to-leaf paths; segments A=[10,11],
// A1=[12,13,14], A2=[15,16], A2a=[17,18], A2b=[19,20,21], B=[22,23,24].
const WORKED: PartialRow[] = [
  { tokens: [10, 11, 12, 13, 14], step_ends: [1, 4], reward: 1 },
  { tokens: [10, 11, 15, 16, 17, 18], step_ends: [1, 3, 5], reward: 1 },
  { tokens: [10, 11, 15, 16, 19, 20, 21], step_ends: [1, 3, 6], reward: 0 },
  { tokens: [22, 23, 24], step_ends: [2], reward: 0 },
];

test("worked example: rloo and grpo edge advantages, merged sibling segment A", () => {
  const batch = makeBatch(WORKED);
  const rloo = runMethod("spo-tree", batch, {});
  assertClose(rowOf(batch, rloo.advantages, 0), [0.375, 0.375, 0.25, 0.25, 0.25], 1e-12, 0, "A, A1");
  assertClose(rowOf(batch, rloo.advantages, 1), [0.375, 0.375, -0.25, -0.25, 0.5, 0.5], 1e-12, 0, "A, A2, A2a");
  assertClose(rowOf(batch, rloo.advantages, 2), [0.375, 0.375, -0.25, -0.25, -0.5, -0.5, -0.5], 1e-12, 0, "A, A2, A2b");
  assertClose(rowOf(batch, rloo.advantages, 3), [-0.375, -0.375, -0.375], 1e-12, 0, "B");
  assert.equal(rloo.returns, undefined);
  assert.equal(rloo.weights, undefined);

  const grpo = runMethod("spo-tree", batch, { mode: "grpo" });
  const [a, a1, a2, a2a] = [0.99999997, 0.99999996, -0.99999996, 0.99999998];
  assertClose(rowOf(batch, grpo.advantages, 0), [a, a, a1, a1, a1], 1e-8, 0, "grpo A, A1");
  assertClose(rowOf(batch, grpo.advantages, 1), [a, a, a2, a2, a2a, a2a], 1e-8, 0, "grpo A, A2, A2a");
  assertClose(rowOf(batch, grpo.advantages, 2), [a, a, a2, a2, -a2a, -a2a, -a2a], 1e-8, 0, "grpo A, A2, A2b");
  assertClose(rowOf(batch, grpo.advantages, 3), [-a, -a, -a], 1e-8, 0, "grpo B");
  // Not the leaf average: V(A) = 0.75 (children mean), not 2/3.
  assertClose([0.375 / (0.375 + 1e-8)], [a], 1e-8, 0);
});

test("a rollout ending at an inner node is one more child; tails are segments; mask-0 tokens get 0 (examples/tree.jsonl)", () => {
  const lines = readFileSync("examples/tree.jsonl", "utf8").trim().split("\n");
  const batch = makeBatch(lines.map((l) => JSON.parse(l) as PartialRow));
  const out = runMethod("spo-tree", batch, {});
  // Group t2: P = [30,31,32] has children {t2-p ends (1), Q = [40,41] (V 0.5 = mean of tail [42,43] 0 and [44] 1), R (1)}:
  // V(P) = 5/6 = V(root) (single child), so P's segment gets 0.
  assertClose(rowOf(batch, out.advantages, 4), [0, 0, 0], 0, 0, "t2-p");
  assertClose(rowOf(batch, out.advantages, 5), [0, 0, 0, -1 / 3, 0, -0.5, -0.5], 1e-12, 0, "t2-p-q-tail");
  assertClose(rowOf(batch, out.advantages, 6), [0, 0, 0, -1 / 3, 0, 0.5], 1e-12, 0, "t2-p-q-s");
  assertClose(rowOf(batch, out.advantages, 7), [0, 0, 0, 1 / 6, 1 / 6, 1 / 6], 1e-12, 0, "t2-p-r");
  const grpo = runMethod("spo-tree", batch, { mode: "grpo", eps: 0 });
  // std(P) = population std of [1, 0.5, 1] = sqrt(1/18); std(Q) = 0.5.
  const sp = Math.sqrt(1 / 18);
  assertClose(rowOf(batch, grpo.advantages, 5), [0, 0, 0, -1 / 3 / sp, 0, -1, -1], 1e-12, 1e-12, "grpo t2-p-q-tail");
});

interface TreeRow {
  tokens: number[];
  ends: number[];
  mask: number[];
  reward: number;
}

/** Independent SPO-tree: explicit uncompressed segment tree keyed by the path text. */
function referenceSpoTree(rows: TreeRow[], mode: "rloo" | "grpo", eps: number): number[][] {
  const segsOf = (r: TreeRow) => {
    const out: { key: string; start: number; end: number }[] = [];
    let prev = -1;
    for (const e of r.ends) {
      out.push({ key: r.tokens.slice(prev + 1, e + 1).join(","), start: prev + 1, end: e + 1 });
      prev = e;
    }
    if (prev < r.tokens.length - 1) out.push({ key: r.tokens.slice(prev + 1).join(","), start: prev + 1, end: r.tokens.length });
    return out;
  };
  const paths = rows.map((r) => segsOf(r).map((s) => s.key));
  const keyOf = (p: string[]) => JSON.stringify(p);
  const memo = new Map<string, { v: number; std: number }>();
  const stat = (prefix: string[]): { v: number; std: number } => {
    const k = keyOf(prefix);
    const hit = memo.get(k);
    if (hit) return hit;
    const childVals: number[] = [];
    const nextSegs = new Set<string>();
    paths.forEach((p, i) => {
      if (p.length < prefix.length || !prefix.every((x, d) => p[d] === x)) return;
      if (p.length === prefix.length) childVals.push(rows[i].reward);
      else nextSegs.add(p[prefix.length]);
    });
    for (const s of nextSegs) childVals.push(stat([...prefix, s]).v);
    const v = childVals.reduce((a, b) => a + b, 0) / childVals.length;
    const std = Math.sqrt(childVals.reduce((a, b) => a + (b - v) ** 2, 0) / childVals.length);
    const res = { v, std };
    memo.set(k, res);
    return res;
  };
  return rows.map((r, i) => {
    const adv = new Array<number>(r.tokens.length).fill(0);
    segsOf(r).forEach((s, d) => {
      const parent = stat(paths[i].slice(0, d));
      let a = stat(paths[i].slice(0, d + 1)).v - parent.v;
      if (mode === "grpo") a /= parent.std + eps;
      for (let t = s.start; t < s.end; t++) adv[t] = r.mask[t] === 1 ? a : 0;
    });
    return adv;
  });
}

const treeRowArb: fc.Arbitrary<TreeRow> = fc.array(fc.integer({ min: 0, max: 1 }), { maxLength: 6 }).chain((tokens) =>
  fc.record({
    tokens: fc.constant(tokens),
    ends: fc.subarray(tokens.map((_, k) => k)),
    mask: fc.array(fc.constantFrom(0, 1, 1), { minLength: tokens.length, maxLength: tokens.length }),
    reward: fc.integer({ min: 0, max: 4 }).map((x) => x / 4),
  }),
);

test("matches an uncompressed brute-force segment tree on random groups", () => {
  fc.assert(
    fc.property(fc.array(treeRowArb, { minLength: 1, maxLength: 7 }), fc.constantFrom("rloo" as const, "grpo" as const), (rows, mode) => {
      const batch = makeBatch(rows.map((r) => ({ tokens: r.tokens, step_ends: r.ends, mask: r.mask, reward: r.reward })));
      const out = runMethod("spo-tree", batch, { mode });
      const expected = referenceSpoTree(rows, mode, 1e-8);
      expected.forEach((a, i) => assertClose(rowOf(batch, out.advantages, i), a, 1e-7, 1e-7, `rollout ${i} (${mode})`));
    }),
    { numRuns: 400 },
  );
});

test("invariant: a tree with one child per node gives zero advantage", () => {
  // Every rollout of a group follows the same segment path (any rewards, any masks): each node
  // has a single child, so V is constant along the path.
  const chainArb = treeRowArb.chain((r) =>
    fc.tuple(fc.constant(r), fc.array(fc.tuple(fc.integer({ min: -3, max: 3 }), fc.array(fc.constantFrom(0, 1), { minLength: r.tokens.length, maxLength: r.tokens.length })), { minLength: 1, maxLength: 5 })),
  );
  fc.assert(
    fc.property(fc.array(chainArb, { minLength: 1, maxLength: 3 }), fc.constantFrom("rloo", "grpo"), (groups, mode) => {
      const rows: PartialRow[] = [];
      groups.forEach(([r, members], g) => members.forEach(([reward, mask]) => rows.push({ group: `g${g}`, tokens: r.tokens, step_ends: r.ends, mask, reward })));
      const out = runMethod("spo-tree", makeBatch(rows), { mode });
      assert.ok(out.advantages.every((x) => x === 0), `non-zero: ${Array.from(out.advantages).join(", ")}`);
    }),
    { numRuns: 200 },
  );
});

test("edge cases: singleton group, empty step_ends, empty response, token rewards, missing step_ends", () => {
  assertClose(runMethod("spo-tree", makeBatch([{ tokens: [1, 2, 3], step_ends: [0], reward: 1 }]), {}).advantages, [0, 0, 0], 0, 0, "singleton");

  // step_ends [] makes the whole response one (tail) segment; the empty response ends at the root.
  const batch = makeBatch([
    { tokens: [1, 2], step_ends: [], reward: 1 },
    { tokens: [1, 3], step_ends: [], reward: 0, token_rewards: [0.5, 0] },
    { tokens: [], step_ends: [], reward: 0 },
  ]);
  // Root children: [1,2] (1), [1,3] (0.5 with its token reward), the empty response (0): V(root) = 0.5.
  assertClose(runMethod("spo-tree", batch, {}).advantages, [0.5, 0.5, 0, 0], 1e-12, 0);

  assert.throws(
    () => runMethod("spo-tree", makeBatch([{ tokens: [1], step_ends: [0] }, { tokens: [2] }]), {}),
    (e: unknown) => e instanceof InputError && e.field === "step_ends" && e.line === 2,
  );
});
