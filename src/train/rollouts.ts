/**
 * Rollout generation: groups of G responses per prompt, SPO-tree's segment-level trees, and
 * extra continuations from prefixes (Monte Carlo values). Every sampled token is counted, the
 * extra ones included, so methods are compared at equal sampling cost.
 */
import type { Task, TaskPrompt, Verdict } from "../tasks/types.js";
import type { RolloutRow } from "../core/rows.js";
import type { Rng } from "./rng.js";
import type { SampleOptions, SampleRequest, SampleResult } from "./policy/sampler.js";

/**
 * Whatever samples a batch: the in-thread sampler or the worker pool (both fork one generator
 * per row from `rng` in row order, so they return the same results).
 */
export interface BatchSampler {
  readonly maxSeqLen: number;
  sample(requests: readonly SampleRequest[], opts: SampleOptions, rng: Rng): Promise<SampleResult[]>;
}

export interface Rollout {
  id: string;
  group: string;
  prompt: TaskPrompt;
  tokens: number[];
  logprobs: number[];
  entropies: number[];
  finished: boolean;
  verdict: Verdict;
  /** Segment boundaries for tree rollouts (token index of each segment's last token). */
  segmentEnds?: number[];
  /**
   * Tree rollouts: 1 on the tokens this path owns, 0 on segments an earlier path (in depth-first
   * order) already carries, so each tree edge is trained once, as in SPO's edge episodes.
   */
  trainMask?: number[];
  signals?: Record<string, unknown>;
  /**
   * Multi-turn transcripts: 1 on the policy's tokens, 0 on the environment's (tool outputs), which
   * get no credit and take no part in the loss (absent: every token is the policy's).
   */
  mask?: number[];
  /**
   * The contract row the episode runner built for this rollout (src/tasks/rows.ts: a whole
   * transcript, one policy turn, or a budget-cut response); `toRows` passes it on as it is. For a
   * turn row, `prompt.tokens` is the context the turn was sampled from (prompt and transcript before it).
   */
  row?: RolloutRow;
}

/** What one sampled response (an episode) came to: its verdict and length, for the step's metrics. */
export interface Outcome {
  reward: number;
  correct: boolean;
  tokens: number;
}

export interface Generated {
  rollouts: Rollout[];
  sampledTokens: number;
  /**
   * The step's sampled episodes, when rollouts are not one per episode (turn rows, retries): the
   * reward and accuracy metrics count each sampled episode once.
   */
  outcomes?: Outcome[];
}

/** Room for a response after `prefixLen` tokens. */
export function roomFor(task: Task, maxSeqLen: number, prefixLen: number): number {
  return Math.max(0, Math.min(task.maxResponseTokens, maxSeqLen - prefixLen));
}

/** G independent responses per prompt. */
export async function sampleGroups(task: Task, sw: BatchSampler, prompts: readonly TaskPrompt[], G: number, opts: SampleOptions, rng: Rng, step: number): Promise<Generated> {
  const reqs: SampleRequest[] = [];
  for (const p of prompts) for (let j = 0; j < G; j++) reqs.push({ prefix: p.tokens, maxNew: roomFor(task, sw.maxSeqLen, p.tokens.length) });
  const res = await sw.sample(reqs, opts, rng);
  const rollouts: Rollout[] = [];
  let sampledTokens = 0;
  prompts.forEach((p, pi) => {
    for (let j = 0; j < G; j++) {
      const r = res[pi * G + j];
      sampledTokens += r.tokens.length;
      rollouts.push({
        id: `s${step}-p${pi}-r${j}`, group: `s${step}-p${pi}`, prompt: p, tokens: r.tokens, logprobs: r.logprobs, entropies: r.entropies,
        finished: r.finished, verdict: task.verify(p, r.tokens),
      });
    }
  });
  return { rollouts, sampledTokens };
}

export interface PrefixQuery {
  prompt: TaskPrompt;
  prefix: readonly number[];
}

/**
 * Sampler calls are split so the KV caches of one call stay small. Chunking does not change any
 * result: every sampler forks one generator per row, in row order.
 */
const CONTINUATION_CHUNK = 1024;

/**
 * Rewards of `samples` continuations of each distinct (prompt, prefix) state: the sampling under
 * every Monte Carlo value (SPO's cutpoint values, CreditBench's oracle). Identical states are
 * sampled once (as SPO's reference code de-duplicates them); `stateOf[q]` is query q's state.
 * Unfinished continuations score their verifier's reward (0 for a cut-off answer on these tasks,
 * SPO's unfinished_response_penalty of 0). Every continuation token is counted.
 */
export async function continuationRewards(task: Task, sw: BatchSampler, queries: readonly PrefixQuery[], samples: number, opts: SampleOptions, rng: Rng): Promise<{ states: PrefixQuery[]; rewards: number[][]; stateOf: number[]; sampledTokens: number }> {
  const index = new Map<string, number>();
  const states: PrefixQuery[] = [];
  const stateOf = queries.map((q) => {
    const key = `${q.prompt.id}|${q.prefix.join(",")}`;
    let u = index.get(key);
    if (u === undefined) {
      u = states.length;
      index.set(key, u);
      states.push(q);
    }
    return u;
  });
  const reqs: SampleRequest[] = [];
  for (const q of states) {
    const full = [...q.prompt.tokens, ...q.prefix];
    const room = Math.max(0, Math.min(task.maxResponseTokens - q.prefix.length, sw.maxSeqLen - full.length));
    for (let s = 0; s < samples; s++) reqs.push({ prefix: full, maxNew: room });
  }
  const res: SampleResult[] = [];
  for (let a = 0; a < reqs.length; a += CONTINUATION_CHUNK) res.push(...(await sw.sample(reqs.slice(a, a + CONTINUATION_CHUNK), opts, rng)));
  let sampledTokens = 0;
  const rewards = states.map((q, u) => {
    const r: number[] = [];
    for (let s = 0; s < samples; s++) {
      const cont = res[u * samples + s];
      sampledTokens += cont.tokens.length;
      r.push(task.verify(q.prompt, [...q.prefix, ...cont.tokens]).reward);
    }
    return r;
  });
  return { states, rewards, stateOf, sampledTokens };
}

/** Monte Carlo values of response prefixes: the mean reward of `samples` continuations of each. */
export async function monteCarloValues(task: Task, sw: BatchSampler, queries: readonly PrefixQuery[], samples: number, opts: SampleOptions, rng: Rng): Promise<{ values: number[]; sampledTokens: number }> {
  const { rewards, stateOf, sampledTokens } = await continuationRewards(task, sw, queries, samples, opts, rng);
  const means = rewards.map((r) => r.reduce((x, y) => x + y, 0) / samples);
  return { values: stateOf.map((u) => means[u]), sampledTokens };
}

interface TreeNode {
  tokens: number[]; // this segment
  logprobs: number[];
  entropies: number[];
  finished: boolean;
  children: TreeNode[];
}

/**
 * SPO-tree sampling: from each prompt, branching[0] segments of at most `segmentTokens`
 * tokens; every segment that did not finish branches again (branching[d] children) until the
 * last depth, whose segments run to the end of the response. Rows are the root-to-leaf paths
 * with `segmentEnds` at segment boundaries; the group is the prompt's tree. Tokens shared by
 * several paths were sampled once and are counted once.
 */
export async function sampleTrees(task: Task, sw: BatchSampler, prompts: readonly TaskPrompt[], branching: readonly number[], segmentTokens: number, opts: SampleOptions, rng: Rng, step: number): Promise<Generated> {
  const D = branching.length;
  let sampledTokens = 0;
  const roots: TreeNode[] = prompts.map(() => ({ tokens: [], logprobs: [], entropies: [], finished: false, children: [] }));
  // frontier: (prompt index, path of nodes from the root's first child)
  let frontier: { pi: number; path: TreeNode[]; parent: TreeNode }[] = roots.map((r, pi) => ({ pi, path: [], parent: r }));
  for (let depth = 0; depth < D && frontier.length > 0; depth++) {
    const reqs: SampleRequest[] = [];
    const owners: { pi: number; path: TreeNode[]; parent: TreeNode }[] = [];
    for (const f of frontier) {
      const prefix = [...prompts[f.pi].tokens, ...f.path.flatMap((n) => n.tokens)];
      const used = prefix.length - prompts[f.pi].tokens.length;
      const room = Math.max(0, Math.min(task.maxResponseTokens - used, sw.maxSeqLen - prefix.length));
      const maxNew = depth === D - 1 ? room : Math.min(segmentTokens, room);
      if (maxNew <= 0) continue;
      for (let b = 0; b < branching[depth]; b++) {
        reqs.push({ prefix, maxNew });
        owners.push(f);
      }
    }
    const res = reqs.length ? await sw.sample(reqs, opts, rng) : [];
    const next: typeof frontier = [];
    res.forEach((r, k) => {
      sampledTokens += r.tokens.length;
      const f = owners[k];
      const node: TreeNode = { tokens: r.tokens, logprobs: r.logprobs, entropies: r.entropies, finished: r.finished, children: [] };
      f.parent.children.push(node);
      const used = f.path.reduce((s, n) => s + n.tokens.length, 0) + r.tokens.length;
      const room = Math.min(task.maxResponseTokens - used, sw.maxSeqLen - prompts[f.pi].tokens.length - used);
      if (!r.finished && depth < D - 1 && room > 0) next.push({ pi: f.pi, path: [...f.path, node], parent: node });
    });
    frontier = next;
  }
  const rollouts: Rollout[] = [];
  const owned = new Set<TreeNode>();
  roots.forEach((root, pi) => {
    let leaf = 0;
    const walk = (node: TreeNode, path: TreeNode[]) => {
      if (node.children.length === 0) {
        if (path.length === 0) return;
        const tokens = path.flatMap((n) => n.tokens);
        const trainMask = path.flatMap((n) => {
          const mine = !owned.has(n);
          owned.add(n);
          return n.tokens.map(() => (mine ? 1 : 0));
        });
        const segmentEnds: number[] = [];
        let acc = 0;
        for (const n of path) {
          acc += n.tokens.length;
          if (n.tokens.length > 0) segmentEnds.push(acc - 1);
        }
        rollouts.push({
          id: `s${step}-p${pi}-l${leaf++}`, group: `s${step}-p${pi}`, prompt: prompts[pi], tokens,
          logprobs: path.flatMap((n) => n.logprobs), entropies: path.flatMap((n) => n.entropies),
          finished: path[path.length - 1].finished, verdict: task.verify(prompts[pi], tokens), segmentEnds, trainMask,
        });
        return;
      }
      for (const ch of node.children) walk(ch, [...path, ch]);
    };
    walk(root, []);
  });
  return { rollouts, sampledTokens };
}

/** Valid step ends for a row: strictly increasing indices inside the response. */
export function cleanStepEnds(ends: readonly number[] | undefined, T: number): number[] {
  const out: number[] = [];
  for (const e of ends ?? []) if (Number.isInteger(e) && e >= 0 && e < T && (out.length === 0 || e > out[out.length - 1])) out.push(e);
  return out;
}

export interface RowExtras {
  stepEnds: boolean;
  episodes: boolean;
  refLogprobs?: number[][];
  tokenRewards?: number[][];
  /** Critic values V(s_t) per rollout. */
  values?: number[][];
}

/** The rollout rows `runMethod` takes (rollouts.md): response tokens only, mask all 1. */
export function toRows(rollouts: readonly Rollout[], x: RowExtras): RolloutRow[] {
  return rollouts.map((r, i) => {
    if (r.row) return { ...r.row, ...trainerFields(r, i, x) };
    const row: RolloutRow = {
      id: r.id, group: r.group, tokens: r.tokens, reward: r.verdict.reward,
      logprobs: r.logprobs, entropies: r.entropies, finished: r.finished,
    };
    if (x.stepEnds) {
      let ends = cleanStepEnds(r.segmentEnds ?? r.verdict.stepEnds, r.tokens.length);
      if (ends.length === 0 && r.tokens.length > 0) ends = [r.tokens.length - 1];
      row.step_ends = ends;
      // A task that scores each step (src/tasks) gives one reward per step end.
      const sr = r.segmentEnds ? undefined : r.verdict.stepRewards;
      if (sr && r.verdict.stepEnds && sr.length === ends.length && ends.every((e, k) => e === r.verdict.stepEnds?.[k])) row.step_rewards = sr;
    }
    if (x.episodes) {
      // One-step episodes: the state is the prompt, so GiGPO's anchor groups are the prompt groups.
      row.episode = r.id;
      row.t = 0;
      row.anchor = r.prompt.id;
    }
    Object.assign(row, trainerFields(r, i, x));
    // Signals the task's verdict determines (planning tokens, critiques, ...), then the trainer's own.
    if (r.verdict.signals || r.signals) row.signals = { ...(r.verdict.signals ?? {}), ...(r.signals ?? {}) };
    return row;
  });
}

/** What the trainer adds to rollout i's row: reference log-probs, token rewards, values, and its own signals over the row's. */
function trainerFields(r: Rollout, i: number, x: RowExtras): Partial<RolloutRow> {
  const out: Partial<RolloutRow> = {};
  if (x.refLogprobs) out.ref_logprobs = x.refLogprobs[i];
  if (x.tokenRewards) out.token_rewards = x.tokenRewards[i];
  if (x.values) out.values = x.values[i];
  if (r.row && r.signals) out.signals = { ...(r.row.signals ?? {}), ...r.signals };
  return out;
}
