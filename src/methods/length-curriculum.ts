/**
 * Train Long, Think Short: curriculum length-controlled GRPO (Hammoud et al., arXiv 2508.08940,
 * section 3). PAPER; the reward constants are NOT FOUND and follow methods-part5.md's PROPOSAL.
 *
 *   r_i   = lambda_c R_cor c_i + lambda_l R_len(l_i; L) + lambda_f R_fmt
 *   R_len = R_max l/L (l <= L),  R_max (1 - (l - L)/L) (L < l <= 2L),  0 beyond   ("triangular")
 *           "band": R_max up to L, then the same ramp down
 *   R_fmt = alpha_think [think tags well formed] + alpha_answer [answer tags well formed]
 *   L     = B(t) = max(1, B_0 gamma^floor(t / T))           (the budget at training step t)
 *   A_i   = (r_i - mean_g) / sqrt(pop var_g + eps_stab)       (population variance, eps inside)
 *
 * c_i is `signals.solved` when given, else reward > 0. l is the number of mask-1 tokens, or
 * `signals.think_tokens` with `lengthOf: "think"` (the paper is ambiguous between the response
 * and the thinking trace). Format signals: `signals.has_think`, `signals.has_answer` (booleans,
 * required while formatWeight > 0). The budget is `budget` when given, else the schedule at `step`.
 */
import type { RolloutBatch } from "../core/batch.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { trainableCounts } from "../core/rewards.js";
import { signalBoolean, signalNumber } from "../core/signals.js";
import { broadcastToTokens, groupStats } from "../core/stats.js";

export interface LengthCurriculumOptions {
  budget: number | null;
  step: number;
  budget0: number;
  decay: number;
  interval: number;
  shape: "triangular" | "band";
  lengthOf: "response" | "think";
  correctWeight: number;
  lengthWeight: number;
  formatWeight: number;
  rCorrect: number;
  rMax: number;
  alphaThink: number;
  alphaAnswer: number;
  epsStab: number;
}

/** B(t) = max(1, B_0 gamma^floor(t / T)): the paper's step schedule of the length budget. */
export function budgetAt(step: number, budget0: number, decay: number, interval: number): number {
  return Math.max(1, budget0 * decay ** Math.floor(step / interval));
}

/** The equivalent stage form S_k = S_0 d^k with d = (S_final / S_0)^(1/n) (paper section 4.4). */
export function stageDecay(start: number, final: number, stages: number): number {
  return (final / start) ** (1 / stages);
}

/** R_len(l; L): the triangular reward peaking at the budget, or "band" (flat up to it). */
export function lengthReward(len: number, budget: number, rMax: number, shape: "triangular" | "band"): number {
  if (len <= budget) return shape === "band" ? rMax : (rMax * len) / budget;
  if (len <= 2 * budget) return rMax * (1 - (len - budget) / budget);
  return 0;
}

export function lengthCurriculum(batch: RolloutBatch, o: LengthCurriculumOptions): Assignment {
  const L = o.budget ?? budgetAt(o.step, o.budget0, o.decay, o.interval);
  const lengths = trainableCounts(batch);
  const r = new Float64Array(batch.n);
  for (let i = 0; i < batch.n; i++) {
    const solved = signalBoolean(batch, i, "solved", "length-curriculum", batch.reward[i] > 0);
    const len = o.lengthOf === "think" ? signalNumber(batch, i, "think_tokens", "length-curriculum") : lengths[i];
    let fmt = 0;
    if (o.formatWeight > 0) {
      fmt = (signalBoolean(batch, i, "has_think", "length-curriculum") ? o.alphaThink : 0) + (signalBoolean(batch, i, "has_answer", "length-curriculum") ? o.alphaAnswer : 0);
    }
    r[i] = o.correctWeight * o.rCorrect * (solved ? 1 : 0) + o.lengthWeight * lengthReward(len, L, o.rMax, o.shape) + o.formatWeight * fmt;
  }
  const st = groupStats(batch, r, { std: "population", singleton: "natural" });
  const a = new Float64Array(batch.n);
  for (let i = 0; i < batch.n; i++) {
    const g = batch.group[i];
    a[i] = (r[i] - st.mean[g]) / Math.sqrt(st.std[g] * st.std[g] + o.epsStab);
  }
  const advantages = broadcastToTokens(batch, a);
  return { advantages, returns: advantages, diag: { rollouts: { reward: r, budget: new Float64Array(batch.n).fill(L) } } };
}

export const lengthCurriculumSpec = registerMethod<LengthCurriculumOptions>({
  name: "length-curriculum",
  locality: "group",
  summary: "GRPO on correctness + a triangular length reward around a shrinking token budget + format",
  paper: "Train Long, Think Short, arXiv 2508.08940 (constants NOT FOUND: PROPOSAL)",
  status: "paper",
  example: "curriculum.jsonl",
  signals: ["solved", "think_tokens", "has_think", "has_answer"],
  options: {
    budget: { type: "number", default: null, nullable: true, min: 1, doc: "length budget L; null: the schedule B(step)" },
    step: { type: "number", default: 0, min: 0, integer: true, doc: "training step t of the schedule" },
    budget0: { type: "number", default: 256, min: 1, doc: "B_0, the first budget" },
    decay: { type: "number", default: 0.7, min: 0, max: 1, exclusiveMin: true, doc: "gamma, the budget's factor per interval" },
    interval: { type: "number", default: 150, min: 1, integer: true, doc: "T, steps per budget stage" },
    shape: { type: "enum", values: ["triangular", "band"], default: "triangular", doc: "length reward: triangular (the paper's) or band (flat then decay; ablation)" },
    lengthOf: { type: "enum", values: ["response", "think"], default: "response", doc: "what is counted: the response's mask-1 tokens or signals.think_tokens" },
    correctWeight: { type: "number", default: 0.6, min: 0, doc: "lambda_c (correctness-heavy setting)" },
    lengthWeight: { type: "number", default: 0.3, min: 0, doc: "lambda_l" },
    formatWeight: { type: "number", default: 0.1, min: 0, doc: "lambda_f (PROPOSAL)" },
    rCorrect: { type: "number", default: 1, doc: "R_cor (PROPOSAL)" },
    rMax: { type: "number", default: 1, doc: "R_max (PROPOSAL)" },
    alphaThink: { type: "number", default: 0.5, doc: "format reward for well-formed think tags (PROPOSAL)" },
    alphaAnswer: { type: "number", default: 0.5, doc: "format reward for well-formed answer tags (PROPOSAL)" },
    epsStab: { type: "number", default: 1e-6, min: 0, doc: "added to the population variance under the root" },
  },
  assign: lengthCurriculum,
});
