/**
 * The trainer's episodes: src/tasks/episodes.ts driven by the trainer's own sampler, for every
 * method whose inputs need more than G independent single-turn responses per prompt:
 *   - a task with an environment (the `tools` task: tool outputs enter the transcript at mask 0);
 *   - rows per policy turn (GiGPO's anchor states) or per budget (BRPO's step ends at budgets);
 *   - extra sampling: BRPO's budget summaries, LaSeR's self-reward score, R3L's retries.
 * Which of these a method needs comes from src/tasks/providers.ts (its row shape and extra
 * sampling), so nothing here is keyed on a method name. The rows are the contract rows of
 * src/tasks/rows.ts, carried on the rollouts into the trainer's credit and loss path; every
 * sampled token (turns, summaries, retries) is counted.
 */
import type { Task, TaskPrompt } from "../tasks/types.js";
import {
  addBudgetScores, addSelfRewards, budgetRow, episodeRow, extraSamplingOf, r3lRetries, rowShapeOf, runEpisodes, turnRows,
  type Episode, type Generate, type GenerateRequest, type Generation, type ScoreNext, type SelfRewardOptions,
} from "../tasks/index.js";
import type { RolloutRow } from "../core/rows.js";
import { tf } from "./policy/tf.js";
import type { Policy } from "./policy/model.js";
import { packPairs } from "./policy/batching.js";
import { selectLogProbs } from "./policy/ops.js";
import type { SampleOptions, SampleRequest, SampleResult } from "./policy/sampler.js";
import type { Rng } from "./rng.js";
import type { BatchSampler, Generated, Outcome, Rollout } from "./rollouts.js";

/** Whether `method` on `task` is collected through episodes rather than as plain single-turn groups. */
export function collectsEpisodes(method: string, task: Task): boolean {
  return task.environment !== undefined || rowShapeOf(method) !== "episode" || extraSamplingOf(method) !== null;
}

/**
 * A Generate over the trainer's sampler: each request continues its prefix until eos, one of its
 * stop tokens (kept as the last token) or maxTokens, at the run's sampling options, with the
 * sampler's log-probs and entropies. Row generators fork from `rng` in request order, so a call
 * is deterministic for (weights, requests, rng state). `count` receives every sampled token.
 */
export function samplerGenerate(sampler: BatchSampler, options: SampleOptions, rng: Rng, count: (tokens: number) => void): Generate {
  return async (requests) => {
    const res = await sampler.sample(toSampleRequests(requests, sampler.maxSeqLen), options, rng);
    for (const r of res) count(r.tokens.length);
    return res.map(asGeneration);
  };
}

/** A round of episode requests as sampler requests: room clamped to the model's context, stop tokens passed on. */
export function toSampleRequests(requests: readonly GenerateRequest[], maxSeqLen: number): SampleRequest[] {
  return requests.map((r) => ({
    prefix: r.prefix,
    maxNew: Math.max(0, Math.min(r.maxTokens, maxSeqLen - r.prefix.length)),
    ...(r.stopTokens.length > 0 ? { stop: r.stopTokens } : {}),
  }));
}

export function asGeneration(r: SampleResult): Generation {
  return { tokens: r.tokens, logprobs: r.logprobs, entropies: r.entropies };
}

/**
 * LaSeR's score of `token` after each prefix under `policy` (no gradient): log pi at `temperature`,
 * times the temperature, as the reference takes it (the same at temperature 1). One forward pass
 * per chunk, the scoring the self-reward loss uses ({@link selfRewardLogprobs}).
 */
export function policyScoreNext(policy: Policy, pad: number, temperature: number): ScoreNext {
  return (requests) => {
    const out: number[] = [];
    const chunk = 32;
    for (let a = 0; a < requests.length; a += chunk) {
      const qs = requests.slice(a, a + chunk);
      const lp = tf.tidy(() => selfRewardLogprobs(policy, qs, pad, temperature));
      out.push(...lp.dataSync());
      lp.dispose();
    }
    return out;
  };
}

/** [n] T log pi_T(token_i | prefix_i), differentiable (inside a tidy or gradient scope). */
export function selfRewardLogprobs(policy: Policy, queries: readonly { readonly prefix: readonly number[]; readonly token: number }[], pad: number, temperature: number): tf.Tensor1D {
  const pb = packPairs(queries.map((q) => ({ prompt: q.prefix, response: [q.token] })), pad);
  const lp = selectLogProbs(tf.div(policy.forward(pb.tokens, pb.B, pb.T), temperature) as tf.Tensor2D, pb.targets);
  // Each row's one scored position, picked by a 0/1 mask (a gather's gradient needs a kernel the wasm backend lacks).
  const pick = new Float32Array(pb.B * pb.T);
  queries.forEach((_, i) => (pick[i * pb.T + pb.start[i]] = 1));
  return tf.mul(tf.sum(tf.mul(tf.reshape(lp, [pb.B, pb.T]), tf.tensor2d(pick, [pb.B, pb.T])), 1), temperature) as tf.Tensor1D;
}

/**
 * LaSeR's self-reward settings on the character vocabulary: z_c is "z" (no task writes it); beta_v
 * 0.1 as the reference; c = -1 / beta_v = -10, so r_s runs from 0 at log pi(z_c) = -10 to 1 when
 * the policy is certain of z_c: the range of the verifier rewards L_SR regresses it on. (The
 * paper's c, -23 to -25, is set for 150k-token vocabularies, where an untrained token's log-prob
 * is about that, which puts r_s near 0 at the start as here.)
 */
export function selfRewardOptions(task: Task): (SelfRewardOptions & { betaV: number }) | null {
  let token: number | undefined;
  try {
    [token] = task.vocab.encode("z");
  } catch {
    return null;
  }
  const betaV = 0.1;
  return token === undefined ? null : { token, c: -1 / betaV, betaV };
}

/**
 * The task as the sampler can run it: responses kept within the model's context after the longest
 * of `prompts` (and `reserve` tokens more, for the self-reward token after eos). Everything else is
 * the task's own (the view delegates to it).
 */
export function fitted(task: Task, maxSeqLen: number, prompts: readonly TaskPrompt[], reserve: number): Task {
  const longest = Math.max(0, ...prompts.map((p) => p.tokens.length));
  const room = Math.max(1, Math.min(task.maxResponseTokens, maxSeqLen - longest - reserve));
  return room === task.maxResponseTokens ? task : Object.create(task, { maxResponseTokens: { value: room } }) as Task;
}

/** The rollout that carries `row` (whose tokens start at transcript index `start` of `ep`). */
function rolloutOf(row: RolloutRow, ep: Episode, start: number): Rollout {
  const prompt: TaskPrompt = start === 0 ? ep.prompt : { ...ep.prompt, tokens: [...ep.prompt.tokens, ...ep.tokens.slice(0, start)] };
  const T = row.tokens.length;
  return {
    id: row.id, group: row.group, prompt, tokens: row.tokens, logprobs: row.logprobs ?? new Array<number>(T).fill(0),
    entropies: row.entropies ?? new Array<number>(T).fill(0), finished: row.finished ?? false,
    // The row's own reward (a turn row's is 0 before the last turn); correctness is the episode's.
    verdict: { ...ep.verdict, reward: row.reward, stepEnds: row.step_ends, stepRewards: row.step_rewards },
    ...(row.mask ? { mask: row.mask } : {}),
    row,
  };
}

export interface EpisodeContext {
  readonly method: string;
  readonly task: Task;
  readonly group: number;
  readonly sampler: BatchSampler;
  readonly options: SampleOptions;
  readonly rng: Rng;
  readonly step: number;
  /** The policy being trained, for scoring (LaSeR's self-reward). */
  readonly policy?: Policy;
}

/**
 * One step's rollouts through episodes: G episodes per prompt (prompt-major, as sampleGroups),
 * the method's extra sampling, then its rows. Episode e of prompt p has id `s<step>-p<p>-r<j>` in
 * group `s<step>-p<p>`; R3L's retry of it is `...-retry` in the same group; turn rows add `-t<t>`.
 */
export async function collectEpisodes(ctx: EpisodeContext, prompts: readonly TaskPrompt[]): Promise<Generated & { note: string }> {
  const { method, group: G, step } = ctx;
  const extra = extraSamplingOf(method);
  const selfReward = extra === "self_reward" ? selfRewardOptions(ctx.task) : null;
  if (extra === "self_reward" && selfReward === null) throw new Error(`task '${ctx.task.name}' has no token "z" for the self-reward`);
  const task = fitted(ctx.task, ctx.sampler.maxSeqLen, prompts, selfReward ? 1 : 0);
  let sampledTokens = 0;
  const generate = samplerGenerate(ctx.sampler, ctx.options, ctx.rng, (n) => (sampledTokens += n));
  const episodes = await runEpisodes(task, prompts.flatMap((p) => Array.from({ length: G }, () => p)), generate);
  const ids = episodes.map((_, e) => `s${step}-p${Math.floor(e / G)}-r${e % G}`);
  const groups = episodes.map((_, e) => `s${step}-p${Math.floor(e / G)}`);
  const outcomes: Outcome[] = episodes.map((ep) => ({ reward: ep.verdict.reward, correct: ep.verdict.correct, tokens: ep.tokens.length }));
  const sampledBefore = sampledTokens;
  let note = "";
  if (extra === "budget_scores") {
    await addBudgetScores(task, episodes, generate);
    note = `budget summaries: ${sampledTokens - sampledBefore} tokens`;
  } else if (extra === "self_reward" && selfReward) {
    if (!ctx.policy) throw new Error("the self-reward needs the policy to score its token");
    await addSelfRewards(episodes, policyScoreNext(ctx.policy, task.vocab.pad, ctx.options.temperature), selfReward);
    note = `self-reward scored on ${episodes.filter((ep) => ep.finished).length} finished episodes`;
  } else if (extra === "retries") {
    // r3lRetries retries the failed episodes in order; the same filter names them.
    const failed = episodes.map((ep, e) => [ep, e] as const).filter(([ep]) => !ep.verdict.correct && ep.turns.length > 0);
    const retries = await r3lRetries(task, episodes, generate);
    retries.forEach((ep, k) => {
      const e = failed[k][1];
      episodes.push(ep);
      ids.push(`${ids[e]}-retry`);
      groups.push(groups[e]);
    });
    note = `${retries.length} retries: ${sampledTokens - sampledBefore} tokens`;
  }
  const shape = rowShapeOf(method);
  const rollouts: Rollout[] = [];
  episodes.forEach((ep, e) => {
    if (shape === "turns") turnRows(ep, ids[e], groups[e]).forEach((row, t) => rollouts.push(rolloutOf(row, ep, ep.turns[t].start)));
    else rollouts.push(rolloutOf(shape === "budget" ? budgetRow(task, ep, ids[e], groups[e]) : episodeRow(ep, ids[e], groups[e]), ep, 0));
  });
  return { rollouts, sampledTokens, outcomes, note };
}
