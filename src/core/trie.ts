/**
 * Prefix tries over the responses of each group, shared by the tree methods: TEMPO (token-level
 * prefix tree, descendant-mean values) and SPO-tree (segment-level tree, children-mean values).
 *
 * A response is a sequence of units: its tokens, or the segments of a `Segments` listing (two
 * segments are the same unit when their token ids are equal). A node is a unit prefix shared by
 * some responses of one group; identical prefixes of different responses are one node.
 *
 * The trie is path-compressed: it stores only the prefixes where something happens (the group's
 * root, where a response ends, where responses diverge); every other prefix lies inside an edge
 * and has exactly the responses of the node below it, so its descendant set, its descendant mean
 * and its children mean equal that node's. A prefix of length d of response i therefore belongs to
 * the first node on i's path whose depth is >= d, and values change along a path only at the unit
 * that leaves a stored node. Compression keeps the node count at most nGroups + 2n whatever the
 * response lengths, so the tree statistics cost O(n), and the build is one pass over the units:
 * a unit either walks along an existing edge (one comparison) or starts a new leaf edge (no work
 * for the rest of the response); child lookup is a hash probe, only at stored nodes.
 */
import type { RolloutBatch } from "./batch.js";
import type { Segments } from "./segments.js";
import type { StdKind } from "./stats.js";

export interface PrefixTrie {
  readonly unit: "token" | "segment";
  /** Nodes 0..nGroups-1 are the roots (empty prefix) of groups 0..nGroups-1. */
  readonly nNodes: number;
  readonly parent: Int32Array; // [nNodes] -1 for a root
  readonly depth: Int32Array; // [nNodes] prefix length in units
  readonly childCount: Int32Array; // [nNodes] stored children
  readonly endCount: Int32Array; // [nNodes] responses whose whole sequence is this prefix
  /** [nNodes] every parent before its children (walk it backwards for bottom-up sums). */
  readonly order: Int32Array;
  /** [n+1] rollout i's path is pathNodes[pathOffsets[i] .. pathOffsets[i+1]). */
  readonly pathOffsets: Int32Array;
  /** Stored nodes on each rollout's path: its group root first, the node where it ends last. */
  readonly pathNodes: Int32Array;
  /** [n+1] rollout i owns units [unitOffsets[i], unitOffsets[i+1]) (batch.offsets for tokens). */
  readonly unitOffsets: Int32Array;
  /**
   * Work done by the build: hash probes plus unit comparisons. It is what "linear in the number
   * of units" bounds, so tests and benchmarks can check scaling without timing.
   */
  readonly visits: number;
}

/** Token-level prefix trie of every group (TEMPO's prefix tree). */
export function buildTokenTrie(batch: RolloutBatch): PrefixTrie {
  return buildTrie(batch, batch.offsets, batch.tokens, null);
}

/**
 * Segment-level prefix trie of every group (SPO-tree's tree): units are the segments of `segs`
 * (e.g. `stepSegments(batch, true)`), equal when their token ids are equal.
 */
export function buildSegmentTrie(batch: RolloutBatch, segs: Segments): PrefixTrie {
  const nSegs = segs.start.length;
  const key = new Int32Array(nSegs);
  const { tokens } = batch;
  for (let s = 0; s < nSegs; s++) {
    // FNV-1a over the ids and the length; equality is always verified, so a collision only costs a comparison.
    let h = 0x811c9dc5 ^ (segs.end[s] - segs.start[s]);
    for (let k = segs.start[s]; k < segs.end[s]; k++) h = Math.imul(h ^ tokens[k], 0x01000193);
    key[s] = h;
  }
  return buildTrie(batch, segs.segOffsets, key, segs);
}

function slotOf(node: number, key: number, bits: number): number {
  let h = Math.imul(node, 0x9e3779b1) ^ Math.imul(key, 0x85ebca77);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 13;
  return h & bits;
}

/**
 * The builder behind both tries. `key[u]` identifies unit u exactly for tokens (the id) and up to
 * hash collisions for segments, where `segs` is then used to compare the token spans.
 */
function buildTrie(batch: RolloutBatch, unitOffsets: Int32Array, key: Int32Array, segs: Segments | null): PrefixTrie {
  const n = batch.n;
  const nGroups = batch.groupNames.length;
  const { tokens, group } = batch;
  const segStart = segs ? segs.start : null;
  const segEnd = segs ? segs.end : null;
  const sameUnit = (a: number, b: number): boolean => {
    if (segStart === null || segEnd === null) return key[a] === key[b];
    if (key[a] !== key[b]) return false;
    const len = segEnd[a] - segStart[a];
    if (segEnd[b] - segStart[b] !== len) return false;
    const sa = segStart[a], sb = segStart[b];
    for (let k = 0; k < len; k++) if (tokens[sa + k] !== tokens[sb + k]) return false;
    return true;
  };

  // Each inserted response adds at most a leaf and the node that splits an edge for it.
  const maxNodes = nGroups + 2 * n;
  const parent = new Int32Array(maxNodes);
  const depth = new Int32Array(maxNodes);
  const childCount = new Int32Array(maxNodes);
  const endCount = new Int32Array(maxNodes);
  // The edge into a node is units [depth[parent], depth[node]) of rollout edgeSrc[node]; firstKey is its first unit's key.
  const edgeSrc = new Int32Array(maxNodes);
  const firstKey = new Int32Array(maxNodes);
  let cap = 16;
  while (cap < 2 * maxNodes) cap *= 2;
  const bits = cap - 1;
  const table = new Int32Array(cap).fill(-1); // child node by (parent, first unit), linear probing
  for (let g = 0; g < nGroups; g++) {
    parent[g] = -1;
    edgeSrc[g] = -1;
  }
  let nNodes = nGroups;
  let visits = 0;
  const endNode = new Int32Array(n);

  for (let i = 0; i < n; i++) {
    const base = unitOffsets[i];
    const m = unitOffsets[i + 1] - base;
    let node = group[i];
    let d = 0;
    while (d < m) {
      const k = key[base + d];
      let s = slotOf(node, k, bits);
      let child = -1;
      while (true) {
        visits++;
        const c = table[s];
        if (c < 0) break;
        if (parent[c] === node && firstKey[c] === k && sameUnit(unitOffsets[edgeSrc[c]] + depth[node], base + d)) {
          child = c;
          break;
        }
        s = (s + 1) & bits;
      }
      if (child < 0) {
        // Nothing in the group continues this way: the rest of the response is one new edge.
        const leaf = nNodes++;
        parent[leaf] = node;
        depth[leaf] = m;
        edgeSrc[leaf] = i;
        firstKey[leaf] = k;
        table[s] = leaf;
        childCount[node]++;
        node = leaf;
        break;
      }
      const src = edgeSrc[child];
      const srcBase = unitOffsets[src];
      const childDepth = depth[child];
      const stop = childDepth < m ? childDepth : m;
      let j = d + 1;
      while (j < stop && sameUnit(base + j, srcBase + j)) j++;
      visits += j - d;
      if (j === childDepth) {
        node = child;
        d = j;
        continue;
      }
      // The response leaves (or ends inside) the edge at depth j: split it there.
      const mid = nNodes++;
      parent[mid] = node;
      depth[mid] = j;
      edgeSrc[mid] = src;
      firstKey[mid] = k;
      childCount[mid] = 1;
      table[s] = mid; // same parent and same first unit as the edge it replaces
      parent[child] = mid;
      firstKey[child] = key[srcBase + j];
      let t = slotOf(mid, firstKey[child], bits);
      while (table[t] >= 0) {
        visits++;
        t = (t + 1) & bits;
      }
      table[t] = child;
      node = mid;
      d = j;
    }
    endCount[node]++;
    endNode[i] = node;
  }

  const pathOffsets = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    let len = 0;
    for (let v = endNode[i]; v >= 0; v = parent[v]) len++;
    pathOffsets[i + 1] = pathOffsets[i] + len;
  }
  const pathNodes = new Int32Array(pathOffsets[n]);
  for (let i = 0; i < n; i++) {
    let k = pathOffsets[i + 1];
    for (let v = endNode[i]; v >= 0; v = parent[v]) pathNodes[--k] = v;
  }

  // Parent-before-child order: peel leaves (Kahn's algorithm upwards), then reverse.
  const pending = childCount.slice(0, nNodes);
  const order = new Int32Array(nNodes);
  let tail = nNodes;
  for (let v = 0; v < nNodes; v++) if (pending[v] === 0) order[--tail] = v;
  for (let head = nNodes - 1; head >= tail; head--) {
    const p = parent[order[head]];
    if (p >= 0 && --pending[p] === 0) order[--tail] = p;
  }

  return {
    unit: segs ? "segment" : "token",
    nNodes,
    parent: parent.subarray(0, nNodes),
    depth: depth.subarray(0, nNodes),
    childCount: childCount.subarray(0, nNodes),
    endCount: endCount.subarray(0, nNodes),
    order,
    pathOffsets,
    pathNodes,
    unitOffsets,
    visits,
  };
}

/**
 * [nNodes] mean of x [n] over the responses through each node: V(s) = mean of x_i over
 * D(s) = { i : s is a prefix of response i } (a response ending at s counts). TEMPO's value.
 */
export function descendantMeans(trie: PrefixTrie, x: ArrayLike<number>): Float64Array {
  const { nNodes, parent, order, pathOffsets, pathNodes } = trie;
  const sum = new Float64Array(nNodes);
  const count = new Float64Array(nNodes);
  const n = pathOffsets.length - 1;
  for (let i = 0; i < n; i++) {
    const end = pathNodes[pathOffsets[i + 1] - 1];
    sum[end] += x[i];
    count[end]++;
  }
  for (let k = nNodes - 1; k >= 0; k--) {
    const v = order[k];
    const p = parent[v];
    if (p >= 0) {
      sum[p] += sum[v];
      count[p] += count[v];
    }
  }
  // Every node lies on some response's path, so count >= 1.
  for (let v = 0; v < nNodes; v++) sum[v] /= count[v];
  return sum;
}

export interface ChildrenMeans {
  /** [nNodes] V(node) = mean of its children's V; a response ending at the node is one more child of value x_i. */
  readonly value: Float64Array;
  /** [nNodes] std of those children's values (0 with a single child). */
  readonly std: Float64Array;
}

/**
 * SPO-tree's recursive values: V(leaf response) = x_i, V(node) = mean over its children (not over
 * its descendant leaves), and the std of the children's values around it. A stored node's
 * child edge stands for a chain of one-child prefixes, whose value is the child's, so the
 * compression changes nothing.
 */
export function childrenMeans(trie: PrefixTrie, x: ArrayLike<number>, kind: StdKind = "population"): ChildrenMeans {
  const { nNodes, parent, order, pathOffsets, pathNodes, childCount, endCount } = trie;
  const n = pathOffsets.length - 1;
  const value = new Float64Array(nNodes);
  const std = new Float64Array(nNodes);
  for (let i = 0; i < n; i++) value[pathNodes[pathOffsets[i + 1] - 1]] += x[i];
  // Children are finished before their parent: walk the parent-first order backwards.
  for (let k = nNodes - 1; k >= 0; k--) {
    const v = order[k];
    value[v] /= childCount[v] + endCount[v];
    const p = parent[v];
    if (p >= 0) value[p] += value[v];
  }
  for (let v = 0; v < nNodes; v++) {
    const p = parent[v];
    if (p >= 0) {
      const dv = value[v] - value[p];
      std[p] += dv * dv;
    }
  }
  for (let i = 0; i < n; i++) {
    const end = pathNodes[pathOffsets[i + 1] - 1];
    const dv = x[i] - value[end];
    std[end] += dv * dv;
  }
  for (let v = 0; v < nNodes; v++) {
    const c = childCount[v] + endCount[v];
    const denom = kind === "unbiased" ? c - 1 : c;
    std[v] = denom > 0 ? Math.sqrt(std[v] / denom) : 0;
  }
  return { value, std };
}

/**
 * [nTokens] the descendant mean of x over the responses that share each response's prefix up to
 * and including each token: V(y_{1..t+1}) (TVM's empirical value label; TEMPO's V(s_{t+1})).
 */
export function tokenPrefixValues(batch: RolloutBatch, x: ArrayLike<number>): Float64Array {
  const trie = buildTokenTrie(batch);
  const value = descendantMeans(trie, x);
  const { pathOffsets, pathNodes, depth } = trie;
  const out = new Float64Array(batch.nTokens);
  for (let i = 0; i < batch.n; i++) {
    // Prefixes of length L in (depth[a], depth[b]] share node b's responses, so tokens
    // depth[a] .. depth[b] - 1 (0-based) take value[b].
    for (let k = pathOffsets[i]; k < pathOffsets[i + 1] - 1; k++) {
      const a = pathNodes[k], b = pathNodes[k + 1];
      out.fill(value[b], batch.offsets[i] + depth[a], batch.offsets[i] + depth[b]);
    }
  }
  return out;
}
