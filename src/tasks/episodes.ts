/**
 * Episodes: sampling a task's responses through any backend, multi-turn tasks included, and the
 * extra sampling some methods' inputs need (BRPO's budget summaries, LaSeR's self-reward, R3L's
 * retries). The backend is a callback, so the built-in tfjs sampler, a llama.cpp server or a
 * scripted test drive it alike:
 *
 *   generate([{prefix, maxTokens, stopTokens}, ...]) -> [{tokens, logprobs, entropies?}, ...]
 *
 * one result per request, sampled from `prefix` (prompt tokens and the transcript so far) until
 * eos, a stop token or maxTokens. Requests are batched: every live episode's next turn goes in one
 * call. A backend that cannot stop on stopTokens may run on; the runner cuts each result after its
 * first stop token or eos (the kept tokens are distributed exactly as if it had stopped there).
 * Browser-safe: no Node built-in.
 */
import type { Task, TaskPrompt, Verdict } from "./types.js";
// Every method first, so the registry keeps its canonical order whichever module loads it (laser
// below would otherwise register itself, and grpo, ahead of the others).
import "../methods/index.js";
import { selfRewardScore } from "../methods/laser.js";

export interface GenerateRequest {
  readonly prefix: readonly number[];
  readonly maxTokens: number;
  readonly stopTokens: readonly number[];
}

export interface Generation {
  readonly tokens: readonly number[];
  /** log pi(token) of the sampling policy, one per token. */
  readonly logprobs: readonly number[];
  /** Entropy of the sampling distribution at each token, when the backend reports it. */
  readonly entropies?: readonly number[];
}

export type Generate = (requests: readonly GenerateRequest[]) => Promise<readonly Generation[]> | readonly Generation[];

/** A backend that samples one prefix at a time, as a batched Generate. */
export function oneAtATime(generate: (prefix: readonly number[], opts: { maxTokens: number; stopTokens: readonly number[] }) => Promise<Generation> | Generation): Generate {
  return async (requests) => {
    const out: Generation[] = [];
    for (const r of requests) out.push(await generate(r.prefix, { maxTokens: r.maxTokens, stopTokens: r.stopTokens }));
    return out;
  };
}

/** A policy turn: transcript tokens [start, end), all sampled by the policy. */
export interface PolicyTurn {
  readonly start: number;
  readonly end: number;
}

export interface Episode {
  readonly prompt: TaskPrompt;
  /** The transcript: policy turns and environment outputs, in order. */
  readonly tokens: number[];
  /** 1 on policy tokens, 0 on environment tokens. */
  readonly mask: number[];
  /** Sampling log-probs on policy tokens, 0 on environment tokens. */
  readonly logprobs: number[];
  /** Entropies likewise, or null when the backend reported none. */
  entropies: number[] | null;
  readonly turns: PolicyTurn[];
  /** True iff the episode ended with eos (not at the token budget or the turn limit). */
  finished: boolean;
  verdict: Verdict;
  /** Signals added after sampling (budget_scores, self_reward, pivot), merged over the verdict's. */
  readonly extraSignals: Record<string, unknown>;
}

export interface EpisodeStart {
  readonly prompt: TaskPrompt;
  /** Replay the first `turns` policy turns of this episode verbatim (with the outputs that followed them). */
  readonly replay?: { readonly episode: Episode; readonly turns: number };
}

function checkGeneration(g: Generation | undefined, k: number): Generation {
  if (g === undefined) throw new Error(`generate returned no result for request ${k}`);
  if (g.logprobs.length !== g.tokens.length) throw new Error(`generate: request ${k} has ${g.tokens.length} tokens but ${g.logprobs.length} logprobs`);
  if (g.entropies !== undefined && g.entropies.length !== g.tokens.length) throw new Error(`generate: request ${k} has ${g.tokens.length} tokens but ${g.entropies.length} entropies`);
  for (let t = 0; t < g.tokens.length; t++) {
    if (!Number.isInteger(g.tokens[t]) || g.tokens[t] < 0) throw new Error(`generate: request ${k} token ${t} is ${g.tokens[t]}, not a token id`);
    if (!Number.isFinite(g.logprobs[t])) throw new Error(`generate: request ${k} logprob ${t} is ${g.logprobs[t]}`);
  }
  return g;
}

interface Live {
  ep: Episode;
  done: boolean;
}

/**
 * Runs one episode per start, all turns of all episodes batched: single-turn tasks take one call,
 * multi-turn tasks (task.environment) one call per turn round. Each response is kept within
 * task.maxResponseTokens; an episode that reaches that budget or the turn limit before its eos is
 * unfinished. Verdicts come from task.verify on the whole transcript.
 */
export async function runEpisodes(task: Task, starts: readonly (TaskPrompt | EpisodeStart)[], generate: Generate): Promise<Episode[]> {
  const rounds = episodeRounds(task, starts);
  let r = rounds.next();
  while (!r.done) r = rounds.next(await generate(r.value));
  return r.value;
}

/** runEpisodes over a backend that answers synchronously (held-out evaluation inside a synchronous loop). */
export function runEpisodesSync(task: Task, starts: readonly (TaskPrompt | EpisodeStart)[], generate: (requests: readonly GenerateRequest[]) => readonly Generation[]): Episode[] {
  const rounds = episodeRounds(task, starts);
  let r = rounds.next();
  while (!r.done) r = rounds.next(generate(r.value));
  return r.value;
}

/** The episode loop, one yield per turn round (its requests in, the backend's generations back), whatever the backend. */
function* episodeRounds(task: Task, starts: readonly (TaskPrompt | EpisodeStart)[]): Generator<GenerateRequest[], Episode[], readonly Generation[]> {
  const env = task.environment;
  const stopTokens = env ? env.stopTokens : [];
  const eos = task.vocab.eos;
  const live: Live[] = starts.map((s) => {
    const start: EpisodeStart = "prompt" in s && !("tokens" in s) ? s : { prompt: s as TaskPrompt };
    const ep: Episode = { prompt: start.prompt, tokens: [], mask: [], logprobs: [], entropies: [], turns: [], finished: false, verdict: { reward: 0, correct: false }, extraSignals: {} };
    if (start.replay) {
      const { episode, turns } = start.replay;
      if (!Number.isInteger(turns) || turns < 0 || turns > episode.turns.length) throw new Error(`replay: turns must be in [0, ${episode.turns.length}], got ${turns}`);
      const upTo = turns < episode.turns.length ? episode.turns[turns].start : episode.tokens.length;
      ep.tokens.push(...episode.tokens.slice(0, upTo));
      ep.mask.push(...episode.mask.slice(0, upTo));
      ep.logprobs.push(...episode.logprobs.slice(0, upTo));
      if (episode.entropies) ep.entropies!.push(...episode.entropies.slice(0, upTo));
      else ep.entropies = null;
      ep.turns.push(...episode.turns.slice(0, turns));
    }
    return { ep, done: false };
  });

  while (true) {
    const active: Live[] = [];
    for (const l of live) {
      if (l.done) continue;
      if (l.ep.tokens.length >= task.maxResponseTokens || (env && l.ep.turns.length >= env.maxTurns)) l.done = true;
      else active.push(l);
    }
    if (active.length === 0) break;
    const requests = active.map((l) => ({ prefix: [...l.ep.prompt.tokens, ...l.ep.tokens], maxTokens: task.maxResponseTokens - l.ep.tokens.length, stopTokens }));
    const results = yield requests;
    for (let k = 0; k < active.length; k++) {
      const { ep } = active[k];
      const g = checkGeneration(results[k], k);
      // Cut after the first stop token or eos, and at the budget.
      let n = Math.min(g.tokens.length, requests[k].maxTokens);
      for (let t = 0; t < n; t++) {
        if (g.tokens[t] === eos || stopTokens.includes(g.tokens[t])) {
          n = t + 1;
          break;
        }
      }
      if (n === 0) {
        active[k].done = true; // nothing sampled: the episode cannot go on
        continue;
      }
      const start = ep.tokens.length;
      for (let t = 0; t < n; t++) {
        ep.tokens.push(g.tokens[t]);
        ep.mask.push(1);
        ep.logprobs.push(g.logprobs[t]);
      }
      if (g.entropies === undefined) ep.entropies = null;
      else if (ep.entropies !== null) ep.entropies.push(...g.entropies.slice(0, n));
      ep.turns.push({ start, end: start + n });
      const lastToken = g.tokens[n - 1];
      if (lastToken === eos) {
        ep.finished = true;
        active[k].done = true;
      } else if (env && stopTokens.includes(lastToken)) {
        const out = env.respond(ep.prompt, ep.tokens.slice(start));
        const room = task.maxResponseTokens - ep.tokens.length;
        for (const id of out.slice(0, room)) {
          ep.tokens.push(id);
          ep.mask.push(0);
          ep.logprobs.push(0);
          ep.entropies?.push(0);
        }
      } else active[k].done = true; // cut at the budget
    }
  }
  for (const { ep } of live) ep.verdict = task.verify(ep.prompt, ep.tokens);
  return live.map((l) => l.ep);
}

/** Every signal of an episode: the verdict's, then those added after sampling. */
export function episodeSignals(ep: Episode): Record<string, unknown> {
  return { ...(ep.verdict.signals ?? {}), ...ep.extraSignals };
}

/**
 * BRPO's budget scores (AnytimeReasoner): for each budget b_j shorter than the episode's thinking,
 * the thinking is cut at b_j, the task's cue appended, and `summaries` answers sampled and scored
 * (c_j = their mean score); at budgets the whole thinking fits in, c_j is the score of the
 * response's own answer. Written to extraSignals.budget_scores (S = number of budgets entries).
 * Summaries of all episodes and budgets are sampled in one call.
 */
export async function addBudgetScores(task: Task, episodes: readonly Episode[], generate: Generate, summaries = 1): Promise<void> {
  const budget = task.budget;
  if (!budget) throw new Error(`task '${task.name}' defines no budgets (BRPO needs a task with a budget)`);
  if (!Number.isInteger(summaries) || summaries < 1) throw new Error(`summaries must be a positive integer, got ${summaries}`);
  const requests: GenerateRequest[] = [];
  const owner: [number, number][] = [];
  const scores = episodes.map(() => new Array<number>(budget.budgets.length).fill(0));
  episodes.forEach((ep, e) => {
    const think = budget.thinkingLength(ep.tokens);
    const cueAt = ep.tokens.slice(think, think + budget.cue.length);
    const hasCue = cueAt.length === budget.cue.length && cueAt.every((id, k) => id === budget.cue[k]);
    const own = hasCue ? budget.scoreAnswer(ep.prompt, ep.tokens.slice(think + budget.cue.length)) : 0;
    budget.budgets.forEach((b, j) => {
      if (b >= think) {
        scores[e][j] = own;
        return;
      }
      const prefix = [...ep.prompt.tokens, ...ep.tokens.slice(0, b), ...budget.cue];
      for (let s = 0; s < summaries; s++) {
        requests.push({ prefix, maxTokens: Math.max(1, task.maxResponseTokens - b - budget.cue.length), stopTokens: [] });
        owner.push([e, j]);
      }
    });
  });
  const results = requests.length ? await generate(requests) : [];
  results.forEach((g, k) => {
    const [e, j] = owner[k];
    const gen = checkGeneration(g, k);
    scores[e][j] += budget.scoreAnswer(episodes[e].prompt, gen.tokens) / summaries;
  });
  episodes.forEach((ep, e) => (ep.extraSignals.budget_scores = scores[e]));
}

/** The step ends BRPO reads: each budget shorter than the thinking ends a segment; the rest of the response is the last. */
export function budgetStepEnds(task: Task, ep: Episode): number[] {
  const budget = task.budget;
  if (!budget) throw new Error(`task '${task.name}' defines no budgets`);
  const T = ep.tokens.length;
  const think = budget.thinkingLength(ep.tokens);
  const ends = budget.budgets.filter((b) => b < think).map((b) => b - 1);
  if (T > 0) ends.push(T - 1);
  return ends;
}

export interface SelfRewardOptions {
  /** The self-reward token z_c, scored after the response's eos. */
  readonly token: number;
  /** LaSeR's c: the reference log-prob of z_c (the paper scripts use a constant). */
  readonly c: number;
  /** LaSeR's beta_v. Default 0.1 (the reference). */
  readonly betaV?: number;
}

/** Log-prob of `token` after `prefix` under the current policy, for each request. */
export type ScoreNext = (requests: readonly { readonly prefix: readonly number[]; readonly token: number }[]) => Promise<readonly number[]> | readonly number[];

/**
 * LaSeR's last-token self-reward: r_s = beta_v (log pi(z_c | prompt, response, eos) - c) on every
 * finished episode (extraSignals.self_reward); unfinished ones get none (the method counts them as 0).
 */
export async function addSelfRewards(episodes: readonly Episode[], scoreNext: ScoreNext, opts: SelfRewardOptions): Promise<void> {
  const done = episodes.filter((ep) => ep.finished);
  if (done.length === 0) return;
  const lps = await scoreNext(done.map((ep) => ({ prefix: [...ep.prompt.tokens, ...ep.tokens], token: opts.token })));
  done.forEach((ep, k) => {
    const lp = lps[k];
    if (typeof lp !== "number" || !Number.isFinite(lp)) throw new Error(`scoreNext returned ${lp} for request ${k}`);
    ep.extraSignals.self_reward = selfRewardScore(lp, opts.c, opts.betaV ?? 0.1);
  });
}

/**
 * R3L's pivot from an exact reflection: the first policy turn whose step reward is below 1 (the
 * first imperfect turn), clamped to the last turn. Needs one step reward per policy turn.
 */
export function firstImperfectTurn(ep: Episode): number {
  const r = ep.verdict.stepRewards ?? [];
  let p = 0;
  while (p < ep.turns.length - 1 && p < r.length && r[p] >= 1) p++;
  return p;
}

/**
 * R3L's reflect-then-retry for every failed episode: replay its turns before the pivot verbatim and
 * sample the rest again. Both the failed attempt and its retry get signals.pivot = the pivot, so
 * R3L masks the shared prefix in both. Returns the retries (in the order of the failed episodes).
 */
export async function r3lRetries(task: Task, episodes: readonly Episode[], generate: Generate): Promise<Episode[]> {
  const failed = episodes.filter((ep) => !ep.verdict.correct && ep.turns.length > 0);
  const pivots = failed.map(firstImperfectTurn);
  const retries = await runEpisodes(task, failed.map((ep, k) => ({ prompt: ep.prompt, replay: { episode: ep, turns: pivots[k] } })), generate);
  failed.forEach((ep, k) => {
    // A retry that sampled nothing new has only the replayed turns: nothing of it may be masked beyond its last.
    const pivot = Math.min(pivots[k], retries[k].turns.length - 1);
    ep.extraSignals.pivot = Math.max(0, pivot);
    retries[k].extraSignals.pivot = Math.max(0, pivot);
  });
  return retries;
}

/**
 * [T] 1 on the tokens of a transcript the policy writes, 0 on those the environment writes, found
 * by replaying the environment (all 1 for a task without one). For a supervised warm start on
 * multi-turn demonstrations: tool outputs are context, not targets (a policy cannot predict a
 * hidden value, and should not learn to try).
 */
export function policyMask(task: Task, prompt: TaskPrompt, response: readonly number[]): number[] {
  const mask = new Array<number>(response.length).fill(1);
  const env = task.environment;
  if (!env) return mask;
  let k = 0;
  while (k < response.length) {
    const start = k;
    while (k < response.length && response[k] !== task.vocab.eos && !env.stopTokens.includes(response[k])) k++;
    if (k >= response.length || response[k] === task.vocab.eos) break;
    const out = env.respond(prompt, response.slice(start, k + 1));
    k++;
    for (let j = 0; j < out.length && k < response.length; j++, k++) mask[k] = 0;
  }
  return mask;
}
