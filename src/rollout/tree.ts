/**
 * Tree sampling over any backend: responses that share prefixes, so SPO-tree's segment values
 * and TEMPO's prefix-tree values have siblings to compare. Three ways to choose where a tree
 * branches:
 *
 * - segments (SPO-tree): branching[0] segments of `segmentTokens` tokens from the prompt; every
 *   unfinished segment branches again (branching[d] children) until the last depth, whose
 *   segments run to the end. Same requests in the same order as src/train/rollouts.ts
 *   sampleTrees, so the same generator gives the same tree.
 * - cutpoints (SPO-chain's positions): `trunks` full responses; from each trunk's prefix of
 *   every `every`-th token, `branches` more continuations to the end.
 * - entropy: `trunks` full responses; from the `forks` positions of each trunk where the
 *   sampling distribution had the highest entropy, `branches` continuations that re-draw that
 *   token (entropy-guided forking, as in tree-search RL samplers).
 *
 * Every token is sampled once and counted once: a shared prefix belongs to one node. Paths are
 * the root-to-leaf rows; `segmentEnds` mark node boundaries (SPO-tree's segments), `owned`
 * marks the tokens a path is the first (depth-first) to carry, so a trainer that weights each
 * token's loss by it trains every tree edge once.
 */
import type { BatchSampler } from "../train/rollouts.js";
import type { Rng } from "../train/rng.js";
import { BackendError, type SampleOptions, type SampleRequest, type SampleResult } from "./backend.js";

export type TreePlan =
  | { kind: "segments"; branching: readonly number[]; segmentTokens: number }
  | { kind: "cutpoints"; trunks: number; every: number; branches: number }
  | { kind: "entropy"; trunks: number; forks: number; branches: number };

export interface TreePath {
  /** Index of the prompt (the tree) this path belongs to. */
  prompt: number;
  tokens: number[];
  logprobs: number[];
  entropies: number[];
  finished: boolean;
  /** Index of the last token of each node on the path. */
  segmentEnds: number[];
  /** 1 on the tokens this path owns (first to carry them), 0 on tokens an earlier path carries. */
  owned: number[];
}

export interface SampledTrees {
  paths: TreePath[];
  sampledTokens: number;
}

interface Node {
  tokens: number[];
  logprobs: number[];
  entropies: number[];
  finished: boolean;
  children: Node[];
}

const leafOf = (r: SampleResult): Node => ({ tokens: r.tokens, logprobs: r.logprobs, entropies: r.entropies, finished: r.finished, children: [] });

/** The response budget after `used` response tokens of a prompt of `promptLen` tokens. */
function room(maxResponse: number, maxSeqLen: number, promptLen: number, used: number): number {
  return Math.max(0, Math.min(maxResponse - used, maxSeqLen - promptLen - used));
}

export function checkPlan(plan: TreePlan): void {
  const pos = (x: number, what: string) => {
    if (!Number.isInteger(x) || x < 1) throw new BackendError(`tree: ${what} must be a positive integer, got ${x}`);
  };
  if (plan.kind === "segments") {
    if (plan.branching.length === 0) throw new BackendError("tree: branching needs at least one level");
    plan.branching.forEach((b, d) => pos(b, `branching[${d}]`));
    pos(plan.segmentTokens, "segmentTokens");
  } else {
    pos(plan.trunks, "trunks");
    pos(plan.branches, "branches");
    pos(plan.kind === "cutpoints" ? plan.every : plan.forks, plan.kind === "cutpoints" ? "every" : "forks");
  }
}

/** SPO-tree's level-by-level expansion; roots[p] receives the tree of prompt p. */
async function growSegments(sw: BatchSampler, prompts: readonly (readonly number[])[], plan: Extract<TreePlan, { kind: "segments" }>, maxResponse: number, opts: SampleOptions, rng: Rng, roots: Node[]): Promise<number> {
  const D = plan.branching.length;
  let sampled = 0;
  let frontier = roots.map((r, p) => ({ p, used: 0, path: [] as Node[], parent: r }));
  for (let depth = 0; depth < D && frontier.length > 0; depth++) {
    const reqs: SampleRequest[] = [];
    const owners: typeof frontier = [];
    for (const f of frontier) {
      const prefix = [...prompts[f.p], ...f.path.flatMap((n) => n.tokens)];
      const left = room(maxResponse, sw.maxSeqLen, prompts[f.p].length, f.used);
      const maxNew = depth === D - 1 ? left : Math.min(plan.segmentTokens, left);
      if (maxNew <= 0) continue;
      for (let b = 0; b < plan.branching[depth]; b++) {
        reqs.push({ prefix, maxNew });
        owners.push(f);
      }
    }
    const res = reqs.length ? await sw.sample(reqs, opts, rng) : [];
    const next: typeof frontier = [];
    res.forEach((r, k) => {
      sampled += r.tokens.length;
      const f = owners[k];
      const node = leafOf(r);
      f.parent.children.push(node);
      const used = f.used + r.tokens.length;
      if (!r.finished && depth < D - 1 && room(maxResponse, sw.maxSeqLen, prompts[f.p].length, used) > 0) next.push({ p: f.p, used, path: [...f.path, node], parent: node });
    });
    frontier = next;
  }
  return sampled;
}

/** Fork positions of a trunk (numbers of leading tokens kept), increasing, each in [1, T). */
function forkPositions(trunk: SampleResult, plan: Exclude<TreePlan, { kind: "segments" }>): number[] {
  const T = trunk.tokens.length;
  if (plan.kind === "cutpoints") {
    const out: number[] = [];
    for (let t = plan.every; t < T; t += plan.every) out.push(t);
    return out;
  }
  if (trunk.entropies.length !== T) throw new BackendError("tree: entropy forks need a backend that reports entropies (builtin or gguf)");
  const cand = Array.from({ length: Math.max(0, T - 1) }, (_, k) => k + 1);
  // highest entropy first, earlier position on ties; then back in order
  cand.sort((a, b) => trunk.entropies[b] - trunk.entropies[a] || a - b);
  return cand.slice(0, plan.forks).sort((a, b) => a - b);
}

/** Splits a trunk into a chain of nodes at `cuts`; returns the chain (first node = whole-prefix start). */
function chainAt(trunk: SampleResult, cuts: readonly number[]): Node[] {
  const bounds = [0, ...cuts, trunk.tokens.length];
  const chain: Node[] = [];
  for (let k = 0; k + 1 < bounds.length; k++) {
    const [a, b] = [bounds[k], bounds[k + 1]];
    const node: Node = { tokens: trunk.tokens.slice(a, b), logprobs: trunk.logprobs.slice(a, b), entropies: trunk.entropies.slice(a, b), finished: k + 2 === bounds.length && trunk.finished, children: [] };
    if (chain.length) chain[chain.length - 1].children.push(node);
    chain.push(node);
  }
  return chain;
}

/** Trunks, then `branches` continuations from chosen positions of each trunk. */
async function growForks(sw: BatchSampler, prompts: readonly (readonly number[])[], plan: Exclude<TreePlan, { kind: "segments" }>, maxResponse: number, opts: SampleOptions, rng: Rng, roots: Node[]): Promise<number> {
  const trunkReqs: SampleRequest[] = [];
  prompts.forEach((p) => {
    for (let j = 0; j < plan.trunks; j++) trunkReqs.push({ prefix: p, maxNew: room(maxResponse, sw.maxSeqLen, p.length, 0) });
  });
  const trunks = await sw.sample(trunkReqs, opts, rng);
  let sampled = trunks.reduce((s, r) => s + r.tokens.length, 0);
  const reqs: SampleRequest[] = [];
  const attach: Node[] = [];
  trunks.forEach((trunk, k) => {
    const p = Math.floor(k / plan.trunks);
    const cuts = forkPositions(trunk, plan);
    const chain = chainAt(trunk, cuts);
    roots[p].children.push(chain[0]);
    cuts.forEach((t, c) => {
      const maxNew = room(maxResponse, sw.maxSeqLen, prompts[p].length, t);
      if (maxNew <= 0) return;
      for (let b = 0; b < plan.branches; b++) {
        reqs.push({ prefix: [...prompts[p], ...trunk.tokens.slice(0, t)], maxNew });
        attach.push(chain[c]); // the node that ends at position t
      }
    });
  });
  const conts = reqs.length ? await sw.sample(reqs, opts, rng) : [];
  conts.forEach((r, k) => {
    sampled += r.tokens.length;
    attach[k].children.push(leafOf(r));
  });
  return sampled;
}

/** Root-to-leaf paths of every tree, depth first, children in sampling order. */
function pathsOf(roots: readonly Node[]): TreePath[] {
  const out: TreePath[] = [];
  const owned = new Set<Node>();
  roots.forEach((root, p) => {
    const walk = (node: Node, path: Node[]) => {
      if (node.children.length === 0) {
        if (path.length === 0) return;
        const segmentEnds: number[] = [];
        let acc = 0;
        for (const n of path) {
          acc += n.tokens.length;
          if (n.tokens.length > 0) segmentEnds.push(acc - 1);
        }
        out.push({
          prompt: p, tokens: path.flatMap((n) => n.tokens), logprobs: path.flatMap((n) => n.logprobs), entropies: path.flatMap((n) => n.entropies),
          finished: path[path.length - 1].finished, segmentEnds,
          owned: path.flatMap((n) => {
            const mine = !owned.has(n);
            owned.add(n);
            return n.tokens.map(() => (mine ? 1 : 0));
          }),
        });
        return;
      }
      for (const ch of node.children) walk(ch, [...path, ch]);
    };
    walk(root, []);
  });
  return out;
}

/** Samples one tree per prompt (token-id prompts) on any backend. */
export async function sampleTree(sw: BatchSampler, prompts: readonly (readonly number[])[], plan: TreePlan, maxResponseTokens: number, opts: SampleOptions, rng: Rng): Promise<SampledTrees> {
  checkPlan(plan);
  const roots: Node[] = prompts.map(() => ({ tokens: [], logprobs: [], entropies: [], finished: false, children: [] }));
  const sampledTokens = plan.kind === "segments"
    ? await growSegments(sw, prompts, plan, maxResponseTokens, opts, rng, roots)
    : await growForks(sw, prompts, plan, maxResponseTokens, opts, rng, roots);
  return { paths: pathsOf(roots), sampledTokens };
}
