/**
 * CALM: Credit Assignment with Language Models (Pignatelli et al., 2024, arXiv 2409.12798;
 * reference code epignatelli/lfrl, pre-release). An LLM decomposes the task into subgoals and
 * says at which transitions they are achieved; achieving one earns an auxiliary reward.
 *
 * Offline form (the code's LLMShaperWrapper): annotations count the reasons given for each
 * (observation, action) key; counts are min-max normalised over the keys present (QUIRK: the
 * least-frequent key gets 0 like an unannotated one; equal counts would divide by zero, here they
 * give 0), and r~_t = r_t + beta c~(key_t) (`calmTable`, `calmShaped`).
 *
 * Online form through assign (methods-part5.md's PROPOSAL, matching the abstract): the
 * transitions are the rollout's steps (`step_ends`), `signals.subgoals` lists for each step the
 * subgoals the judge says it achieves, and each subgoal pays beta once per rollout:
 *   r~_t = r_t + beta * |{g achieved at t, not before}|
 * with r_t the step reward (`step_rewards`, else the outcome score on the last step). Each step's
 * tokens get its discounted shaped return-to-go as `returns` and that minus the group's mean
 * return as the advantage (CALM trains PPO with a critic; this is the critic-free baseline).
 */
import type { RolloutBatch } from "../core/batch.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { outcomeScores } from "../core/rewards.js";
import { rawSignal, signalError } from "../core/signals.js";
import { broadcastSteps } from "../core/segments.js";
import { groupStats } from "../core/stats.js";

export interface CalmOptions {
  beta: number;
  gamma: number;
}

/** Key -> min-max normalised count of the reasons the annotations give for it. */
export function calmTable(annotations: readonly Record<string, number>[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const a of annotations) for (const [k, n] of Object.entries(a)) counts.set(k, (counts.get(k) ?? 0) + n);
  const values = [...counts.values()];
  const lo = Math.min(...values), hi = Math.max(...values);
  return new Map([...counts].map(([k, c]) => [k, hi > lo ? (c - lo) / (hi - lo) : 0]));
}

/** r~_t = r_t + beta c~(key_t); unknown keys get 0. */
export function calmShaped(keys: readonly string[], rewards: readonly number[], table: Map<string, number>, beta: number): number[] {
  return keys.map((k, t) => rewards[t] + beta * (table.get(k) ?? 0));
}

/**
 * Step returns-to-go G [nSteps] as `returns`, and G minus the group's mean return from the first
 * step as advantages: the critic-free baseline of calm and lare.
 */
export function stepReturnsAgainstGroup(batch: RolloutBatch, G: Float64Array, start: Float64Array): Assignment {
  const base = groupStats(batch, start, { singleton: "natural" }).mean;
  const centred = new Float64Array(G.length);
  for (let i = 0; i < batch.n; i++) for (let s = batch.stepOffsets[i]; s < batch.stepOffsets[i + 1]; s++) centred[s] = G[s] - base[batch.group[i]];
  return { advantages: broadcastSteps(batch, centred), returns: broadcastSteps(batch, G) };
}

export function calm(batch: RolloutBatch, o: CalmOptions): Assignment {
  const scores = outcomeScores(batch);
  const stepR = batch.stepRewards;
  const G = new Float64Array(batch.stepOffsets[batch.n]); // shaped return-to-go of every step
  const start = new Float64Array(batch.n); // each rollout's return from its first step
  for (let i = 0; i < batch.n; i++) {
    const s0 = batch.stepOffsets[i], d = batch.stepOffsets[i + 1] - s0;
    const sub = rawSignal(batch, i, "subgoals");
    if (!Array.isArray(sub) || sub.length !== d) throw signalError(batch, i, "subgoals", `required by method 'calm': one list of subgoal names per step (${d})`);
    const seen = new Set<string>();
    const r = new Float64Array(d);
    for (let t = 0; t < d; t++) {
      const names: unknown = sub[t];
      if (!Array.isArray(names) || names.some((x) => typeof x !== "string")) throw signalError(batch, i, "subgoals", `entry ${t} must be a list of subgoal names`);
      let fresh = 0;
      for (const g of names as string[]) if (!seen.has(g)) {
        seen.add(g);
        fresh++;
      }
      const env = stepR && stepR.present[i] ? stepR.data[s0 + t] : t === d - 1 ? scores[i] : 0;
      r[t] = env + o.beta * fresh;
    }
    let run = 0;
    for (let t = d - 1; t >= 0; t--) G[s0 + t] = run = r[t] + o.gamma * run;
    start[i] = d > 0 ? G[s0] : 0;
  }
  return stepReturnsAgainstGroup(batch, G, start);
}

export const calmSpec = registerMethod<CalmOptions>({
  name: "calm",
  locality: "group",
  summary: "Subgoal rewards: beta for each LLM-judged subgoal a step achieves (once per rollout), returns-to-go minus the group mean",
  paper: "CALM, Pignatelli et al. 2024, arXiv 2409.12798; epignatelli/lfrl (online rule: PROPOSAL)",
  status: "paper",
  example: "subgoals.jsonl",
  requires: ["step_ends"],
  signals: ["subgoals"],
  requiredSignals: ["subgoals"],
  options: {
    beta: { type: "number", default: 0.1, min: 0, doc: "reward per achieved subgoal (ppo_calm.py)" },
    gamma: { type: "number", default: 0.99, min: 0, max: 1, doc: "discount of the step returns" },
  },
  assign: calm,
});
