/**
 * `rank`: order the given items by a hidden score, a ranked list whose every rank is judged.
 *
 * Items are the letters a..p; each has a fixed hidden score (a permutation of the 16 letters drawn
 * once from a constant seed: the task's "catalogue", which the policy learns from demonstrations
 * and reward, never sees). Prompt: `count` distinct items in random order, then ":". Response: the
 * same items, best first, separated by ",", then eos:
 *   "dkaq:"  ->  "q,a,d,k$"            (if q scores highest, then a, d, k)
 * Items are the ","-separated pieces before the eos; item k ends at its "," (the last item at its
 * last token; the eos belongs to no item, as Rank-GRPO's EOS). Relevance of rank k (the step
 * reward of item k, Rank-GRPO's rel_k): 1 iff item k is exactly the item the hidden order puts at
 * rank k, else 0 (a wrong, repeated, unknown or malformed item, or one past `count`). Outcome
 * reward 1 iff there are exactly `count` items and every one is relevant; else 0.
 * Rank-GRPO runs with `ranks` = `count` (Task.methodOptions).
 * Eval split: hash of the item set (the order they are given in does not matter).
 */
import { drawEval, drawTrain, isEvalKey, makePrompt, mulberry32, randInt } from "./common.js";
import type { Rng, Task, TaskPrompt, Verdict } from "./types.js";
import { VOCAB } from "./vocab.js";

export interface RankOptions {
  /** Items per prompt (2..8). Default 4. */
  count?: number;
  /** Registry name; defaults to "rank" for the default count, "rank-<count>" otherwise. */
  name?: string;
}

export interface RankAnswer {
  /** The items as given in the prompt. */
  readonly items: readonly string[];
}

const FAMILY = "rank";
export const RANK_ITEMS = "abcdefghijklmnop";
const SEPARATOR = VOCAB.encode(",")[0];

/** The hidden score of every item: a fixed permutation of 0..15 (higher ranks first). */
export const RANK_SCORES: Readonly<Record<string, number>> = (() => {
  const rng = mulberry32(0x7a5c0de);
  const order = [...RANK_ITEMS];
  for (let k = order.length - 1; k > 0; k--) {
    const j = randInt(rng, 0, k);
    [order[k], order[j]] = [order[j], order[k]];
  }
  const scores: Record<string, number> = {};
  order.forEach((c, k) => (scores[c] = order.length - k));
  return scores;
})();

function answerOf(prompt: TaskPrompt): RankAnswer {
  const ans = prompt.answer as Partial<RankAnswer> | null;
  if (!ans || !Array.isArray(ans.items) || ans.items.some((c) => typeof c !== "string" || !(c in RANK_SCORES))) throw new Error(`rank: prompt '${prompt.id}' is not a rank prompt`);
  return { items: ans.items };
}

/** The items best first. */
export function rankOrder(items: readonly string[]): string[] {
  return [...items].sort((p, q) => RANK_SCORES[q] - RANK_SCORES[p]);
}

/** Item ends and per-rank relevance of a response (the rules of the module comment). */
export function judgeRanking(items: readonly string[], response: readonly number[]): { stepEnds: number[]; relevance: number[] } {
  const truth = rankOrder(items);
  let end = response.indexOf(VOCAB.eos);
  if (end < 0) end = response.length;
  const stepEnds: number[] = [];
  const relevance: number[] = [];
  let start = 0;
  const close = (last: number, stop: number): void => {
    const k = relevance.length;
    const piece = response.slice(start, stop);
    const ok = piece.length === 1 && VOCAB.isId(piece[0]) && k < truth.length && VOCAB.decode(piece) === truth[k];
    stepEnds.push(last);
    relevance.push(ok ? 1 : 0);
  };
  for (let k = 0; k < end; k++) {
    if (response[k] !== SEPARATOR) continue;
    close(k, k);
    start = k + 1;
  }
  if (start < end) close(end - 1, end);
  return { stepEnds, relevance };
}

export function makeRankTask(opts: RankOptions = {}): Task {
  const count = opts.count ?? 4;
  if (!Number.isInteger(count) || count < 2 || count > 8) throw new Error(`rank: count must be an integer in [2, 8], got ${count}`);
  const name = opts.name ?? (count === 4 ? FAMILY : `${FAMILY}-${count}`);

  const draw = (rng: Rng): TaskPrompt => {
    const pool = [...RANK_ITEMS];
    const items: string[] = [];
    for (let k = 0; k < count; k++) items.push(pool.splice(randInt(rng, 0, pool.length - 1), 1)[0]);
    const answer: RankAnswer = { items };
    return makePrompt(`${FAMILY}:${items.join("")}`, `${items.join("")}:`, answer);
  };
  const isEval = (p: TaskPrompt): boolean => isEvalKey(FAMILY, [...answerOf(p).items].sort().join(""));

  return {
    name,
    description: `order ${count} of the items a..p by a hidden score, best first ("dkaq:" -> "q,a,d,k"); relevance 1 per rank holding the right item, reward 1 iff all are`,
    vocab: VOCAB,
    maxResponseTokens: 2 * count,
    samplePrompt: (rng) => drawTrain(rng, draw, isEval, name),
    evalSet: (n, seed) => drawEval(n, seed, draw, isEval, name),
    verify(prompt: TaskPrompt, response: readonly number[]): Verdict {
      const { stepEnds, relevance } = judgeRanking(answerOf(prompt).items, response);
      const correct = relevance.length === count && relevance.every((r) => r === 1);
      return { reward: correct ? 1 : 0, correct, stepEnds, stepRewards: relevance, signals: { solved: correct } };
    },
    demonstration(prompt: TaskPrompt, _rng: Rng): number[] {
      return [...VOCAB.encode(rankOrder(answerOf(prompt).items).join(",")), VOCAB.eos];
    },
    provides: ["step_ends", "step_rewards", "signals.solved"],
    methodOptions: { "rank-grpo": { ranks: count } },
  };
}

/** The registered default: 4 items of 16. */
export const rank: Task = makeRankTask();
