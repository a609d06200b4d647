/**
 * Oracle credit: the true advantage of every response token under the sampling policy,
 *   A*(s_t, a_t) = Q(s_t, a_t) - V(s_t) = V(s_{t+1}) - V(s_t),
 * because the environment is deterministic (appending a_t to s_t gives s_{t+1}) and the only
 * reward is the outcome. V(s_t) is the mean reward of K continuations sampled from the prompt
 * plus the first t response tokens, batched through the trainer's sampler; V(s_T) after the
 * whole response is its verified reward, exactly. Each V carries the Monte Carlo standard error
 * sqrt(var / K), and A*_t the 95% interval 1.96 sqrt(se_t^2 + se_{t+1}^2) (the two prefixes are
 * estimated from independent continuations).
 *
 * Exact values where the task allows enumeration: on the `decisive` task the reward after the
 * gt letter is fixed by the response so far, so the value of the state just before that letter
 * is exactly 1[max digit right, no early eos] * pi(right letter | state), read from one forward
 * pass over the full next-token distribution. That value replaces the Monte Carlo one (se 0)
 * and also audits it: the share of exact values inside the MC 95% interval is reported.
 */
import type { Task } from "../tasks/types.js";
import { decisivePositions, gtLetter, maxDigit } from "../tasks/decisive.js";
import { continuationRewards, type BatchSampler, type PrefixQuery, type Rollout } from "../train/rollouts.js";
import type { SampleOptions } from "../train/policy/sampler.js";
import type { Rng } from "../train/rng.js";
import { tf } from "../train/policy/tf.js";
import type { Policy } from "../train/policy/model.js";
import { pearson } from "./stats.js";

export type { PrefixQuery };

export interface McValue {
  mean: number;
  /** Standard error of the mean over the K continuations. */
  se: number;
  /** Means of the first and second halves of the continuations (independent estimates, for the split-half reliability). */
  halves: [number, number];
}

/**
 * Monte Carlo values of (prompt, prefix) states with their standard errors, from the trainer's
 * continuation sampling (identical states estimated once, every continuation token counted).
 */
export async function mcValues(task: Task, sw: BatchSampler, queries: readonly PrefixQuery[], K: number, opts: SampleOptions, rng: Rng): Promise<{ values: McValue[]; sampledTokens: number; states: number }> {
  const { rewards, stateOf, sampledTokens } = await continuationRewards(task, sw, queries, K, opts, rng);
  const uVal: McValue[] = rewards.map((r) => {
    const m = r.reduce((x, y) => x + y, 0) / K;
    const v = K > 1 ? r.reduce((x, y) => x + (y - m) * (y - m), 0) / (K - 1) : 0;
    const h = Math.max(1, Math.floor(K / 2));
    const avg = (xs: number[]) => (xs.length ? xs.reduce((x, y) => x + y, 0) / xs.length : m);
    return { mean: m, se: Math.sqrt(v / K), halves: [avg(r.slice(0, h)), avg(r.slice(h))] };
  });
  return { values: stateOf.map((u) => uVal[u]), sampledTokens, states: rewards.length };
}

export interface OracleRow {
  /** V(s_0..s_T): T + 1 values. */
  values: number[];
  valueSe: number[];
  /** A*_t for t < T. */
  advantages: number[];
  /** Half-width of the 95% interval of A*_t. */
  ci: number[];
  /** Indices t whose V(s_t) is exact (not Monte Carlo). */
  exact: number[];
}

export interface OracleResult {
  rows: OracleRow[];
  /** Continuation tokens sampled for the oracle (not charged to any method). */
  sampledTokens: number;
  /** Distinct prefixes valued by Monte Carlo. */
  states: number;
  K: number;
  /** Exact-value audit of the MC estimates, when the task allows it. */
  exactAudit: { n: number; covered: number; meanAbsError: number } | null;
  /**
   * Split-half reliability of A*: Pearson of the A* built from the first K/2 continuations with
   * the A* built from the other K/2, over every token, stepped up to K with Spearman-Brown. Its
   * square root bounds the Pearson any credit can reach against this noisy oracle.
   */
  reliability: number;
}

/**
 * Exact V at the state before the decisive task's gt letter, for every rollout long enough to
 * have one: null for other tasks. `temperature` is the sampling temperature the values are under.
 */
export function exactDecisiveValues(task: Task, policy: Policy, rollouts: readonly Rollout[], temperature: number): (number | null)[] {
  if (!/^decisive(-\d+)?$/.test(task.name)) return rollouts.map(() => null);
  const out: (number | null)[] = rollouts.map(() => null);
  const todo: { i: number; seq: number[]; right: number; gate: boolean }[] = [];
  rollouts.forEach((r, i) => {
    const key = (r.prompt.answer as { key: string }).key;
    const [maxAt, gtAt] = decisivePositions(key.length);
    if (r.tokens.length <= gtAt) return;
    const prefix = r.tokens.slice(0, gtAt);
    // The reward needs no eos before the gt letter and the right max digit; otherwise V is 0 whatever comes next.
    const gate = !prefix.includes(task.vocab.eos) && prefix[maxAt] === task.vocab.encode(maxDigit(key))[0];
    todo.push({ i, seq: [...r.prompt.tokens, ...prefix], right: task.vocab.encode(gtLetter(key))[0], gate });
  });
  const chunk = 64;
  for (let a = 0; a < todo.length; a += chunk) {
    const part = todo.slice(a, a + chunk);
    const T = Math.max(...part.map((p) => p.seq.length));
    const toks = new Int32Array(part.length * T).fill(task.vocab.pad);
    part.forEach((p, b) => toks.set(p.seq, b * T));
    const V = task.vocab.size;
    const lsm = tf.tidy(() => tf.logSoftmax(tf.div(policy.forward(toks, part.length, T), temperature)).dataSync() as Float32Array);
    part.forEach((p, b) => {
      const pos = b * T + p.seq.length - 1;
      out[p.i] = p.gate ? Math.exp(lsm[pos * V + p.right]) : 0;
    });
  }
  return out;
}

/** The oracle for every rollout: Monte Carlo values at every prefix, exact where available. */
export async function computeOracle(task: Task, sw: BatchSampler, rollouts: readonly Rollout[], K: number, opts: SampleOptions, rng: Rng, exact: readonly (number | null)[] | null): Promise<OracleResult> {
  const queries: PrefixQuery[] = [];
  for (const r of rollouts) for (let t = 0; t < r.tokens.length; t++) queries.push({ prompt: r.prompt, prefix: r.tokens.slice(0, t) });
  const mc = await mcValues(task, sw, queries, K, opts, rng);
  const h1: number[] = [], h2: number[] = [];
  {
    let p = 0;
    for (const r of rollouts) {
      const T = r.tokens.length;
      for (let t = 0; t < T; t++) {
        const next = t + 1 < T ? mc.values[p + 1].halves : [r.verdict.reward, r.verdict.reward];
        h1.push(next[0] - mc.values[p].halves[0]);
        h2.push(next[1] - mc.values[p].halves[1]);
        p++;
      }
    }
  }
  const rHalf = pearson(h1, h2);
  const reliability = Number.isFinite(rHalf) ? (2 * rHalf) / (1 + rHalf) : NaN;
  let q = 0;
  let n = 0, covered = 0, absErr = 0;
  const rows: OracleRow[] = rollouts.map((r, i) => {
    const T = r.tokens.length;
    const values: number[] = [], valueSe: number[] = [];
    for (let t = 0; t < T; t++) {
      values.push(mc.values[q].mean);
      valueSe.push(mc.values[q].se);
      q++;
    }
    values.push(r.verdict.reward);
    valueSe.push(0);
    const ex: number[] = [T];
    const e = exact ? exact[i] : null;
    if (e !== null && e !== undefined) {
      const key = (r.prompt.answer as { key: string }).key;
      const gtAt = decisivePositions(key.length)[1];
      n++;
      absErr += Math.abs(values[gtAt] - e);
      if (Math.abs(values[gtAt] - e) <= 1.96 * valueSe[gtAt] + 1e-12) covered++;
      values[gtAt] = e;
      valueSe[gtAt] = 0;
      ex.unshift(gtAt);
    }
    const advantages: number[] = [], ci: number[] = [];
    for (let t = 0; t < T; t++) {
      advantages.push(values[t + 1] - values[t]);
      ci.push(1.96 * Math.sqrt(valueSe[t] ** 2 + valueSe[t + 1] ** 2));
    }
    return { values, valueSe, advantages, ci, exact: ex };
  });
  return { rows, sampledTokens: mc.sampledTokens, states: mc.states, K, exactAudit: exact && n > 0 ? { n, covered, meanAbsError: absErr / n } : null, reliability };
}
