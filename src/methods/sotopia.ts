/**
 * Sotopia-RL: utterance-level, multi-dimensional reward attribution (Yu et al., 2025; reference
 * code sotopia-lab/sotopia-rl, `calc_reward` and merge_rewards.ipynb).
 *
 * A judge attributes an episode's per-dimension score S_d (goal 0-10, relationship -5..5,
 * knowledge 0-10, ...) to the agent's utterances with integer attributions a_u on a scale of
 * 0..den (den 3 "default", 5, 10). Then
 *
 *   r_d(u) = a_u / den * S_d          (a_u = -1 gives -1)
 *   n_d(u) = (r_d(u) - min_d) / (max_d - min_d)     min/max over every utterance of the batch
 *   R(u)   = mean_d n_d(u) * 10                      (goal + relationship + knowledge by default)
 *
 * QUIRK (reference): the min-max normalisation runs over the whole data set, so this method
 * needs the whole batch; a dimension whose values are all equal normalises to 0 (the notebook
 * would divide by zero). In the reference R(u) trains a reward model whose score drives
 * single-turn GRPO; through assign each utterance (a step of `step_ends`) gets R(u) as its
 * `returns` and R(u) minus the batch mean as its advantage (option `center`), tokens after the
 * last utterance none. Inputs: `signals.attributions` {dimension: [a_u per step]} and
 * `signals.episode_scores` {dimension: S_d}.
 */
import type { RolloutBatch } from "../core/batch.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { broadcastSteps } from "../core/segments.js";
import { rawSignal, signalError } from "../core/signals.js";

export interface SotopiaOptions {
  dimensions: string[];
  scale: "default" | "5_scale" | "10_scale";
  center: boolean;
}

const DENOMINATOR = { default: 3, "5_scale": 5, "10_scale": 10 } as const;

/** r_d(u) = a/den * S (a = -1 gives -1). */
export function utteranceReward(a: number, den: number, score: number): number {
  return a === -1 ? -1 : (a / den) * score;
}

/** Min-max normalises each dimension's column of rewards, then averages them times 10. */
export function combineDimensions(perDim: readonly Float64Array[]): Float64Array {
  const n = perDim.length ? perDim[0].length : 0;
  const out = new Float64Array(n);
  for (const col of perDim) {
    let lo = Infinity, hi = -Infinity;
    for (const x of col) {
      lo = Math.min(lo, x);
      hi = Math.max(hi, x);
    }
    for (let u = 0; u < n; u++) out[u] += hi > lo ? (col[u] - lo) / (hi - lo) : 0;
  }
  for (let u = 0; u < n; u++) out[u] = (out[u] / Math.max(1, perDim.length)) * 10;
  return out;
}

function record(batch: RolloutBatch, i: number, key: string, dims: readonly string[]): Record<string, unknown> {
  const v = rawSignal(batch, i, key);
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw signalError(batch, i, key, `required by method 'sotopia' as an object {dimension: ...}`);
  for (const d of dims) if (!(d in v)) throw signalError(batch, i, key, `no entry for dimension '${d}'`);
  return v as Record<string, unknown>;
}

export function sotopia(batch: RolloutBatch, o: SotopiaOptions): Assignment {
  const den = DENOMINATOR[o.scale];
  const nSteps = batch.stepOffsets[batch.n];
  const perDim = o.dimensions.map(() => new Float64Array(nSteps));
  for (let i = 0; i < batch.n; i++) {
    const att = record(batch, i, "attributions", o.dimensions);
    const sc = record(batch, i, "episode_scores", o.dimensions);
    const s0 = batch.stepOffsets[i], count = batch.stepOffsets[i + 1] - s0;
    o.dimensions.forEach((d, di) => {
      const a = att[d], S = sc[d];
      if (typeof S !== "number" || !Number.isFinite(S)) throw signalError(batch, i, "episode_scores", `'${d}' must be a finite number`);
      if (!Array.isArray(a) || a.length !== count) throw signalError(batch, i, "attributions", `'${d}' must list one attribution per step (${count})`);
      a.forEach((x: unknown, u: number) => {
        if (typeof x !== "number" || !Number.isInteger(x) || x < -1 || x > den) throw signalError(batch, i, "attributions", `'${d}' entry ${u} is ${JSON.stringify(x)}; expected an integer in 0..${den} or -1`);
        perDim[di][s0 + u] = utteranceReward(x, den, S);
      });
    });
  }
  const R = combineDimensions(perDim);
  let mean = 0;
  for (const x of R) mean += x / Math.max(1, nSteps);
  const returns = broadcastSteps(batch, R);
  return { advantages: o.center ? broadcastSteps(batch, R.map((x) => x - mean)) : returns, returns };
}

export const sotopiaSpec = registerMethod<SotopiaOptions>({
  name: "sotopia",
  summary: "Utterance rewards from judge attributions of episode scores, min-max normalised per dimension and combined",
  paper: "Sotopia-RL, Yu et al. 2025; sotopia-lab/sotopia-rl calc_reward + merge_rewards",
  status: "reference-code",
  example: "sotopia.jsonl",
  requires: ["step_ends"],
  signals: ["attributions", "episode_scores"],
  requiredSignals: ["attributions", "episode_scores"],
  options: {
    dimensions: {
      type: "json", typeText: "string[]", default: ["goal", "relationship", "knowledge"], doc: "dimensions combined (goal_w_relationship_knowledge)",
      check: (v) => (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "string") ? null : "expected a non-empty array of dimension names"),
    },
    scale: { type: "enum", values: ["default", "5_scale", "10_scale"], default: "default", doc: "attribution scale: 0-3, 0-5 or 0-10" },
    center: { type: "boolean", default: true, doc: "advantage = R(u) minus the batch mean (false: R(u) itself)" },
  },
  assign: sotopia,
});
