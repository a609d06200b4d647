import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import type { RolloutBatch } from "../../src/core/batch.js";
import { stepSegments } from "../../src/core/segments.js";
import { buildSegmentTrie, buildTokenTrie, childrenMeans, descendantMeans, type PrefixTrie } from "../../src/core/trie.js";
import { assertClose, makeBatch, type PartialRow } from "../helpers.js";

/** Stored nodes on rollout i's path. */
function pathOf(trie: PrefixTrie, i: number): number[] {
  return Array.from(trie.pathNodes.subarray(trie.pathOffsets[i], trie.pathOffsets[i + 1]));
}

/** The node holding the prefix of length d of rollout i: the first node on its path at depth >= d. */
function nodeOfPrefix(trie: PrefixTrie, i: number, d: number): number {
  for (const v of pathOf(trie, i)) if (trie.depth[v] >= d) return v;
  throw new Error(`prefix ${d} beyond rollout ${i}`);
}

/** Rollouts whose path passes through each node. */
function throughSets(trie: PrefixTrie, n: number): Set<number>[] {
  const sets = Array.from({ length: trie.nNodes }, () => new Set<number>());
  for (let i = 0; i < n; i++) for (const v of pathOf(trie, i)) sets[v].add(i);
  return sets;
}

function tokensOf(batch: RolloutBatch, i: number): number[] {
  return Array.from(batch.tokens.subarray(batch.offsets[i], batch.offsets[i + 1]));
}

function isPrefix(p: number[], s: number[]): boolean {
  return p.length <= s.length && p.every((x, k) => s[k] === x);
}

/** Groups of token sequences over a tiny vocabulary, so prefixes, duplicates and empty responses are common. */
const groupsArb = fc.array(
  fc.array(fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 6 }), { minLength: 1, maxLength: 6 }),
  { minLength: 1, maxLength: 3 },
);

function batchOfGroups(groups: number[][][], rewards?: number[][]): RolloutBatch {
  const rows: PartialRow[] = [];
  groups.forEach((g, gi) => g.forEach((tokens, k) => rows.push({ group: `g${gi}`, tokens, reward: rewards ? rewards[gi][k] : 0 })));
  return makeBatch(rows);
}

function checkStructure(trie: PrefixTrie, batch: RolloutBatch, units: (i: number) => number): void {
  const nGroups = batch.groupNames.length;
  for (let v = 0; v < trie.nNodes; v++) {
    if (v < nGroups) {
      assert.equal(trie.parent[v], -1);
      assert.equal(trie.depth[v], 0);
      continue;
    }
    // Path compression: a stored non-root node is an end or a divergence.
    assert.ok(trie.endCount[v] > 0 || trie.childCount[v] >= 2, `node ${v} has one child and no end`);
    assert.ok(trie.depth[v] > trie.depth[trie.parent[v]]);
  }
  const seen = new Uint8Array(trie.nNodes);
  for (const v of trie.order) {
    const p = trie.parent[v];
    if (p >= 0) assert.equal(seen[p], 1, `order: node ${v} before its parent ${p}`);
    seen[v] = 1;
  }
  for (let i = 0; i < batch.n; i++) {
    const path = pathOf(trie, i);
    assert.equal(path[0], batch.group[i], "path starts at the group root");
    assert.equal(trie.depth[path[path.length - 1]], units(i), "path ends at the full response");
    for (let k = 1; k < path.length; k++) assert.equal(trie.parent[path[k]], path[k - 1]);
  }
  let ends = 0;
  for (let v = 0; v < trie.nNodes; v++) ends += trie.endCount[v];
  assert.equal(ends, batch.n);
  assert.ok(trie.nNodes <= nGroups + 2 * batch.n);
}

test("token trie: every prefix maps to a node whose responses are exactly D(prefix)", () => {
  fc.assert(
    fc.property(groupsArb, (groups) => {
      const batch = batchOfGroups(groups);
      const trie = buildTokenTrie(batch);
      checkStructure(trie, batch, (i) => batch.offsets[i + 1] - batch.offsets[i]);
      const through = throughSets(trie, batch.n);
      for (let i = 0; i < batch.n; i++) {
        const yi = tokensOf(batch, i);
        for (let d = 0; d <= yi.length; d++) {
          const prefix = yi.slice(0, d);
          const expected = new Set<number>();
          for (let j = 0; j < batch.n; j++) if (batch.group[j] === batch.group[i] && isPrefix(prefix, tokensOf(batch, j))) expected.add(j);
          assert.deepEqual(through[nodeOfPrefix(trie, i, d)], expected, `rollout ${i}, prefix ${d}`);
        }
      }
    }),
    { numRuns: 300 },
  );
});

test("token trie: duplicates share their end node, prefixes end inside the longer path, groups never mix", () => {
  const batch = makeBatch([
    { tokens: [1, 2, 3] },
    { tokens: [1, 2, 3] },
    { tokens: [1, 2] },
    { tokens: [1, 2, 3, 4] },
    { tokens: [] },
    { group: "h", tokens: [1, 2, 3] },
  ]);
  const trie = buildTokenTrie(batch);
  const end = (i: number) => trie.pathNodes[trie.pathOffsets[i + 1] - 1];
  assert.equal(end(0), end(1));
  assert.equal(trie.endCount[end(0)], 2);
  assert.equal(trie.depth[end(2)], 2);
  assert.equal(trie.parent[end(0)], end(2));
  assert.equal(trie.parent[end(3)], end(0));
  assert.equal(end(4), 0, "an empty response ends at its group root");
  assert.deepEqual(pathOf(trie, 5), [1, end(5)]);
  assert.notEqual(end(5), end(0));
  // Stored: 2 roots, [1,2], [1,2,3], [1,2,3,4], group h's [1,2,3].
  assert.equal(trie.nNodes, 6);
});

test("segment trie: identical segment sequences merge; the same tokens cut differently do not", () => {
  const batch = makeBatch([
    { tokens: [1, 2, 3, 4], step_ends: [1, 3] },
    { tokens: [1, 2, 3, 4], step_ends: [1, 3] },
    { tokens: [1, 2, 3, 4], step_ends: [0, 3] },
    { tokens: [1, 2, 5], step_ends: [1] }, // tail [5] is a segment
    { tokens: [1, 2, 3, 4, 6], step_ends: [1, 3] },
  ]);
  const segs = stepSegments(batch, true);
  const trie = buildSegmentTrie(batch, segs);
  checkStructure(trie, batch, (i) => segs.segOffsets[i + 1] - segs.segOffsets[i]);
  const end = (i: number) => trie.pathNodes[trie.pathOffsets[i + 1] - 1];
  assert.equal(end(0), end(1));
  assert.notEqual(end(2), end(0));
  assert.equal(trie.parent[end(2)], 0, "[1][2,3] shares no first segment with [1,2][3,4]");
  // [1,2] is shared by rollouts 0, 1, 3 and 4: a stored branch node at depth 1.
  const ab = trie.parent[end(3)];
  assert.equal(trie.depth[ab], 1);
  assert.equal(trie.parent[end(0)], ab);
  assert.equal(trie.parent[end(4)], end(0));
  assert.equal(trie.childCount[ab], 2);
});

test("segment trie matches D(prefix) in segment units on random segmentations", () => {
  const rowArb = fc.array(fc.integer({ min: 0, max: 1 }), { maxLength: 6 }).chain((tokens) =>
    fc.subarray(tokens.map((_, k) => k)).map((ends) => ({ tokens, ends })),
  );
  fc.assert(
    fc.property(fc.array(rowArb, { minLength: 1, maxLength: 6 }), (rows) => {
      const batch = makeBatch(rows.map((r) => ({ tokens: r.tokens, step_ends: r.ends })));
      const segs = stepSegments(batch, true);
      const trie = buildSegmentTrie(batch, segs);
      const nSeg = (i: number) => segs.segOffsets[i + 1] - segs.segOffsets[i];
      checkStructure(trie, batch, nSeg);
      const segList = (i: number) => {
        const out: string[] = [];
        for (let s = segs.segOffsets[i]; s < segs.segOffsets[i + 1]; s++) out.push(Array.from(batch.tokens.subarray(segs.start[s], segs.end[s])).join(","));
        return out;
      };
      const through = throughSets(trie, batch.n);
      for (let i = 0; i < batch.n; i++) {
        const si = segList(i);
        for (let d = 0; d <= si.length; d++) {
          const expected = new Set<number>();
          for (let j = 0; j < batch.n; j++) {
            const sj = segList(j);
            if (d <= sj.length && si.slice(0, d).every((x, k) => sj[k] === x)) expected.add(j);
          }
          assert.deepEqual(through[nodeOfPrefix(trie, i, d)], expected);
        }
      }
    }),
    { numRuns: 300 },
  );
});

/** Groups of 8 sharing prefixes up to T/8, T/4, T/2 (as bench/synth.ts), plus one all-duplicate group. */
function scaledBatch(T: number, groups: number): RolloutBatch {
  const rows: PartialRow[] = [];
  for (let g = 0; g < groups; g++) {
    for (let j = 0; j < 8; j++) {
      const tokens = new Array<number>(T);
      for (let t = 0; t < T; t++) {
        let key = g * 7919;
        if (g % 4 !== 0) {
          if (t >= T >> 3) key += (j & 1) * 104729;
          if (t >= T >> 2) key += (j & 2) * 1299709;
          if (t >= T >> 1) key += (j + 1) * 15485863;
        }
        tokens[t] = (Math.imul(key + t * 2654435761, 1597334677) >>> 0) % 50000;
      }
      const ends: number[] = [];
      for (let e = 15; e < T; e += 16) ends.push(e);
      rows.push({ group: `q${g}`, tokens, step_ends: ends });
    }
  }
  return makeBatch(rows);
}

test("trie build work is linear in the number of units (1x, 4x, 16x)", () => {
  const perUnit: number[] = [];
  for (const scale of [1, 4, 16]) {
    const batch = scaledBatch(32 * scale, 16);
    const tokenTrie = buildTokenTrie(batch);
    // Every unit is compared at most once, plus O(1) expected probes per stored node on a path.
    assert.ok(tokenTrie.visits <= batch.nTokens + 8 * (batch.n + tokenTrie.nNodes), `token visits ${tokenTrie.visits} for ${batch.nTokens} tokens`);
    const segs = stepSegments(batch, true);
    const segTrie = buildSegmentTrie(batch, segs);
    const nSegs = segs.start.length;
    assert.ok(segTrie.visits <= nSegs + 8 * (batch.n + segTrie.nNodes), `segment visits ${segTrie.visits} for ${nSegs} segments`);
    perUnit.push(tokenTrie.visits / batch.nTokens);
    // Path compression: the node count does not grow with response length.
    assert.ok(tokenTrie.nNodes <= batch.groupNames.length + 2 * batch.n);
  }
  assert.ok(perUnit[2] <= perUnit[0] * 1.5, `visits per token grew: ${perUnit.join(", ")}`);
});

test("descendantMeans is the mean over D(prefix); childrenMeans recurses over children (SPO worked tree)", () => {
  fc.assert(
    fc.property(groupsArb.chain((groups) => fc.tuple(fc.constant(groups), fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { minLength: 36, maxLength: 36 }))), ([groups, xs]) => {
      const batch = batchOfGroups(groups);
      const trie = buildTokenTrie(batch);
      const v = descendantMeans(trie, xs);
      const through = throughSets(trie, batch.n);
      for (let node = 0; node < trie.nNodes; node++) {
        const members = [...through[node]];
        const mean = members.reduce((s, i) => s + xs[i], 0) / members.length;
        assert.ok(Math.abs(v[node] - mean) <= 1e-9, `node ${node}: ${v[node]} vs ${mean}`);
      }
    }),
    { numRuns: 200 },
  );
  // root - A - A1 (1); A - A2 - {A2a (1), A2b (0)}; root - B (0), one token per segment.
  const batch = makeBatch([
    { tokens: [1, 2], step_ends: [0, 1] },
    { tokens: [1, 3, 4], step_ends: [0, 1, 2] },
    { tokens: [1, 3, 5], step_ends: [0, 1, 2] },
    { tokens: [6], step_ends: [0] },
  ]);
  const trie = buildSegmentTrie(batch, stepSegments(batch, true));
  const { value, std } = childrenMeans(trie, [1, 1, 0, 0]);
  const nodeAt = (i: number, d: number) => nodeOfPrefix(trie, i, d);
  assertClose([value[0], value[nodeAt(0, 1)], value[nodeAt(1, 2)], value[nodeAt(3, 1)]], [0.375, 0.75, 0.5, 0], 1e-12);
  assertClose([std[0], std[nodeAt(0, 1)], std[nodeAt(1, 2)]], [0.375, 0.25, 0.5], 1e-12);
  const unbiased = childrenMeans(trie, [1, 1, 0, 0], "unbiased");
  assertClose([unbiased.std[nodeAt(1, 2)]], [Math.SQRT1_2], 1e-12);
});
