/**
 * Contract rows (docs/rollouts.md section 1) from episodes, in the three shapes the methods read:
 *   - one row per episode: the whole transcript, environment tokens mask 0, the verdict's steps
 *     (step_ends, step_rewards) and signals (every step- and turn-level method);
 *   - one row per policy turn (GiGPO): episode, t and the anchor state the turn acted from, the
 *     outcome reward on the last turn's row and 0 on the others;
 *   - one row per episode cut at budgets (BRPO): step_ends at the budgets, signals.budget_scores.
 */
import type { RolloutRow } from "../core/rows.js";
import { budgetStepEnds, episodeSignals, type Episode } from "./episodes.js";
import type { Task } from "./types.js";

export type RowShape = "episode" | "turns" | "budget";

function sampled(ep: Episode, a: number, b: number): Pick<RolloutRow, "logprobs" | "entropies"> {
  const out: Pick<RolloutRow, "logprobs" | "entropies"> = { logprobs: ep.logprobs.slice(a, b) };
  if (ep.entropies !== null) out.entropies = ep.entropies.slice(a, b);
  return out;
}

/** The episode as one row: transcript, mask (when some token is the environment's), steps, signals. */
export function episodeRow(ep: Episode, id: string, group: string): RolloutRow {
  const T = ep.tokens.length;
  const row: RolloutRow = { id, group, tokens: ep.tokens.slice(), reward: ep.verdict.reward, finished: ep.finished, ...sampled(ep, 0, T) };
  if (ep.mask.includes(0)) row.mask = ep.mask.slice();
  const ends = ep.verdict.stepEnds ?? [];
  if (ends.length > 0 || T === 0) {
    row.step_ends = ends.slice();
    const rewards = ep.verdict.stepRewards;
    if (rewards !== undefined) {
      if (rewards.length !== ends.length) throw new Error(`task verdict for '${ep.prompt.id}' has ${ends.length} step ends but ${rewards.length} step rewards`);
      row.step_rewards = rewards.slice();
    }
  } else row.step_ends = [T - 1];
  const signals = episodeSignals(ep);
  if (Object.keys(signals).length > 0) row.signals = signals;
  return row;
}

/**
 * One row per policy turn (GiGPO's one row per environment step). The anchor is the state the
 * turn acted from: the prompt (its id, which names any hidden state) and the transcript before
 * the turn, so rollouts of a group that took the same earlier turns share it.
 */
export function turnRows(ep: Episode, episode: string, group: string): RolloutRow[] {
  const last = ep.turns.length - 1;
  return ep.turns.map((turn, t) => ({
    id: `${episode}-t${t}`,
    group,
    tokens: ep.tokens.slice(turn.start, turn.end),
    reward: t === last ? ep.verdict.reward : 0,
    finished: t < last || ep.finished,
    ...sampled(ep, turn.start, turn.end),
    episode,
    t,
    anchor: `${ep.prompt.id}|${ep.tokens.slice(0, turn.start).join(",")}`,
  }));
}

/** The episode cut at the task's budgets, with its budget scores (run addBudgetScores first). */
export function budgetRow(task: Task, ep: Episode, id: string, group: string): RolloutRow {
  const scores = ep.extraSignals.budget_scores;
  if (!Array.isArray(scores)) throw new Error(`episode '${id}' has no budget scores (run addBudgetScores first)`);
  const row: RolloutRow = { id, group, tokens: ep.tokens.slice(), reward: ep.verdict.reward, finished: ep.finished, ...sampled(ep, 0, ep.tokens.length) };
  if (ep.mask.includes(0)) row.mask = ep.mask.slice();
  row.step_ends = budgetStepEnds(task, ep);
  row.signals = { budget_scores: scores.slice() };
  return row;
}

/**
 * Rows of a batch of episodes in one shape. Episode e gets id `${ids[e]}` (its turn rows
 * `${ids[e]}-t<t>`) and group `groups[e]`.
 */
export function buildRows(shape: RowShape, task: Task, episodes: readonly Episode[], ids: readonly string[], groups: readonly string[]): RolloutRow[] {
  if (ids.length !== episodes.length || groups.length !== episodes.length) throw new Error("buildRows: one id and one group per episode");
  if (shape === "turns") return episodes.flatMap((ep, e) => turnRows(ep, ids[e], groups[e]));
  if (shape === "budget") return episodes.map((ep, e) => budgetRow(task, ep, ids[e], groups[e]));
  return episodes.map((ep, e) => episodeRow(ep, ids[e], groups[e]));
}
