/**
 * The group view: the prefix tree of the selected rollout's group, built by the core's tries
 * (src/core/trie.ts): token-level with TEMPO's node value V(s) = mean outcome score of the
 * responses through s (descendantMeans), or segment-level (segments from step_ends) with SPO-tree's
 * V(s) = mean of its children (childrenMeans). Stored nodes are drawn: the root, branch points
 * (two or more children, drawn larger) and ends; a node's colour is V(s) - V(root) on the credit
 * scale. Segment boundaries inside an edge are ticks: every unit boundary of the segment tree, and
 * in the token tree the step ends of a response through the edge.
 */
import { batchFromObjects, buildSegmentTrie, buildTokenTrie, childrenMeans, descendantMeans, outcomeScores, stepSegments, type PrefixTrie } from "../../src/index.js";
import { css, heatRgb, scaleOf } from "./colour.js";
import { fmt, h, svg } from "./dom.js";
import type { Model, RolloutSet } from "./model.js";
import { isDark } from "./scheme.js";

export function renderTree(model: Model, set: RolloutSet, rollout: number, unit: "token" | "segment"): HTMLElement {
  const { batch } = set;
  const g = batch.group[rollout];
  const members = Array.from(batch.groupMembers.subarray(batch.groupOffsets[g], batch.groupOffsets[g + 1]));
  const sub = batchFromObjects(members.map((m) => set.rows[m]), `${set.name} group ${batch.groupNames[g]}`);
  const bySegments = unit === "segment";
  if (bySegments && !sub.hasSteps.some((x) => x === 1)) {
    return h("p", { class: "note", text: "This group has no step_ends: the segment tree needs them (SPO-tree's segments)." });
  }
  const segs = bySegments ? stepSegments(sub, true) : null;
  const trie: PrefixTrie = segs ? buildSegmentTrie(sub, segs) : buildTokenTrie(sub);
  // The methods' own x: outcome scores (reward plus any token rewards), as tempo.ts and spo-tree.ts use.
  const scores = outcomeScores(sub);
  const value = segs ? childrenMeans(trie, scores).value : descendantMeans(trie, scores);
  const { nNodes, parent, depth, childCount, endCount, pathOffsets, pathNodes, unitOffsets } = trie;

  // Children lists, and one rollout through each node (to read its edge's tokens).
  const children: number[][] = Array.from({ length: nNodes }, () => []);
  for (let v = 0; v < nNodes; v++) if (parent[v] >= 0) children[parent[v]].push(v);
  const through = new Int32Array(nNodes).fill(-1);
  const endsHere: number[][] = Array.from({ length: nNodes }, () => []);
  for (let i = 0; i < sub.n; i++) {
    for (let p = pathOffsets[i]; p < pathOffsets[i + 1]; p++) if (through[pathNodes[p]] < 0) through[pathNodes[p]] = i;
    endsHere[pathNodes[pathOffsets[i + 1] - 1]].push(i);
  }
  // Layout: leaves (and ends) one per line in depth-first order, parents centred on their children.
  const ROW = 32, LEFT = 70, RIGHT = 180, TOP = 24;
  const y = new Float64Array(nNodes);
  const endY = new Float64Array(sub.n);
  let line = 0;
  const place = (v: number): void => {
    if (children[v].length === 0) {
      for (const i of endsHere[v]) endY[i] = line++ * ROW;
      y[v] = endY[endsHere[v][0]];
      return;
    }
    const ys: number[] = [];
    for (const i of endsHere[v]) ys.push((endY[i] = line++ * ROW));
    for (const c of children[v]) {
      place(c);
      ys.push(y[c]);
    }
    y[v] = (Math.min(...ys) + Math.max(...ys)) / 2;
  };
  place(0);
  let maxDepth = 1;
  for (let v = 0; v < nNodes; v++) maxDepth = Math.max(maxDepth, depth[v]);
  const width = 1000;
  const dx = (width - LEFT - RIGHT) / maxDepth;
  const X = (d: number) => LEFT + d * dx;
  const height = Math.max(1, line) * ROW + TOP * 2;
  const root = value[0];
  const rel = Float64Array.from(value, (v) => v - root);
  const scale = scaleOf(rel, null);
  const dark = isDark();

  const unitText = (i: number, u: number): string => {
    if (!segs) return model.tokenText(sub.tokens[u]);
    let s = "";
    for (let k = segs.start[u]; k < segs.end[u]; k++) s += model.tokenText(sub.tokens[k]);
    return s;
  };
  const el = svg("svg", { class: "tree", width, height, viewBox: `0 0 ${width} ${height}`, role: "tree", "aria-label": `prefix tree of group ${batch.groupNames[g]} (${unit}s)` });
  const edges = svg("g", { class: "edges" });
  const nodes = svg("g", { class: "nodes" });
  el.append(edges, nodes);
  for (let v = 0; v < nNodes; v++) {
    const p = parent[v];
    const yv = y[v] + TOP;
    if (p >= 0) {
      const i = through[v];
      const from = unitOffsets[i] + depth[p], to = unitOffsets[i] + depth[v];
      edges.append(svg("path", { d: `M${X(depth[p])},${y[p] + TOP} V${yv} H${X(depth[v])}`, class: "edge" }));
      let text = "";
      for (let u = from; u < to && text.length < 40; u++) text += unitText(i, u);
      const room = Math.max(0, Math.floor((X(depth[v]) - X(depth[p])) / 7) - 1);
      if (room >= 2) {
        const shown = text.length > room ? `${text.slice(0, room - 1)}\u2026` : text;
        const t = svg("text", { x: X(depth[p]) + 10, y: yv - 5, class: "edge-label" });
        t.textContent = shown.replace(/\n/g, "\u23ce");
        edges.append(t);
      }
      // Segment boundaries inside the edge: every unit boundary of the segment tree, or in the
      // token tree the step ends (step_ends) of a response through the edge.
      if (segs) for (let d = depth[p] + 1; d < depth[v]; d++) edges.append(svg("line", { x1: X(d), x2: X(d), y1: yv - 4, y2: yv + 4, class: "seg-tick" }));
      else if (sub.hasSteps[i]) {
        for (let j = sub.stepOffsets[i]; j < sub.stepOffsets[i + 1]; j++) {
          const d = sub.stepEnds[j] + 1;
          if (d > depth[p] && d < depth[v]) edges.append(svg("line", { x1: X(d), x2: X(d), y1: yv - 4, y2: yv + 4, class: "seg-tick" }));
        }
      }
    }
    const branch = childCount[v] + (endCount[v] > 0 && childCount[v] > 0 ? 1 : 0) > 1;
    const node = svg("g", {
      class: `node${branch ? " branch" : ""}${p < 0 ? " root" : ""}`, tabindex: 0, role: "treeitem",
      "data-node": v, "data-depth": depth[v], "data-value": value[v], "data-children": childCount[v], "data-ends": endCount[v],
      "aria-label": `${p < 0 ? "root" : branch ? "branch point" : "node"} at ${unit} ${depth[v]}, V = ${fmt(value[v])}, ${childCount[v]} children, ${endCount[v]} responses end here`,
    });
    const title = svg("title");
    title.textContent = `${unit} depth ${depth[v]}\nV = ${fmt(value[v])} (V - V(root) = ${fmt(rel[v])})\n${childCount[v]} children, ${endCount[v]} end here`;
    node.append(title, svg("circle", { cx: X(depth[v]), cy: yv, r: branch || p < 0 ? 7 : 4.5, fill: css(heatRgb(rel[v], scale, dark)) }));
    if (branch || p < 0) {
      const t = svg("text", { x: X(depth[v]) - 9, y: yv - 9, "text-anchor": "end", class: "node-value" });
      t.textContent = `V=${fmt(value[v], 3)}`;
      node.append(t);
    }
    nodes.append(node);
    for (const i of endsHere[v]) {
      const ly = endY[i] + TOP;
      if (ly !== yv) nodes.append(svg("path", { d: `M${X(depth[v])},${yv} V${ly} h8`, class: "edge end-stub" }));
      const t = svg("text", { x: X(depth[v]) + 10, y: ly + 4, class: "leaf-label" });
      t.textContent = `${sub.ids[i]}  r=${fmt(sub.reward[i], 3)}`;
      nodes.append(t);
    }
  }
  const wrap = h("div", { class: "treewrap" }, el);
  return wrap;
}
