/**
 * BRPO (budget-relative policy optimisation) from AnytimeReasoner (Qi et al., 2025, "Optimizing
 * Anytime Reasoning via Budget Relative Policy Optimization", arXiv 2505.13438; reference code
 * sail-sg/AnytimeReasoner @7e3f5bb3e061, `verl/verl/trainer/ppo/brpo.py::compute_cot_advantage`,
 * `compute_summary_advantage`). Status: reference code.
 *
 * The thinking tokens of a rollout are cut at budgets b_1 < ... < b_S; `step_ends[j]` is the last
 * token of budget segment j (b_j = step_ends[j] + 1), and `signals.budget_scores[j]` = c_j is the
 * mean score of the summaries sampled after truncating at b_j. With a prior p over budgets
 * (`linear` p_j ∝ b_j, `uniform` 1/S, `base` all mass on b_S), s 0-indexed:
 *
 *   R_{g,s}  = sum_{j >= s} p_j c_{g,j}                          return of thinking segment s
 *   V2_s     = mean over the group of R_{g,s}                      (0 for a one-member group)
 *   V1_{g,s} = [sum_{j<s} 2^j c_{g,j} / sum_{j<s} 2^j] * sum_{j>=s} p_j     (0 at s = 0)
 *   baseline = (s V1 + (S - s) V2) / S       ("brpo"; "v1only": V1, "v2only": V2, "none": 0)
 *   A_{g,s}  = R_{g,s} - baseline            on every mask-1 token of segment s
 *
 * No std normalisation. Tokens after the last step end get 0. `reward` is not used. The reference
 * computes in float32; here everything is float64 (differences ~1e-7). Its debugging variance
 * "notrain" (baseline = R) is not offered.
 *
 * Budgets and the prior: every rollout of a group has the same number S of budget scores; a
 * rollout whose chain of thought ended before the last budget has fewer step ends (its last segment
 * ends at its last thinking token) but still S scores, as the reference scores a finished CoT at
 * every later budget. The `linear` prior needs the budgets b_j: they come from option `budgets`
 * when given, else from the step ends of the group's first rollout that has S of them.
 *
 * Summary tokens are separate sequences; their advantages (`A^sum = score - mean of the A
 * summaries at the same response and budget`, or the group mean at that budget when A = 1) are
 * computed by the exported `summaryAdvantages`.
 */
import type { RolloutBatch } from "../core/batch.js";
import { InputError } from "../core/errors.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { stepSegments } from "../core/segments.js";

export type BudgetPrior = "linear" | "uniform" | "base";
export type BrpoVariance = "brpo" | "v1only" | "v2only" | "none";

export interface BrpoOptions {
  prior: BudgetPrior;
  variance: BrpoVariance;
  budgets: number[] | null;
}

/** The normalised prior p over S budgets (budgets needed for `linear` only). */
export function budgetPrior(kind: BudgetPrior, S: number, budgets: ArrayLike<number> | null): Float64Array {
  const p = new Float64Array(S);
  if (kind === "uniform") p.fill(1 / S);
  else if (kind === "base") p[S - 1] = 1;
  else {
    if (budgets === null) throw new Error("budgetPrior: the linear prior needs the budgets");
    let sum = 0;
    for (let j = 0; j < S; j++) sum += budgets[j];
    for (let j = 0; j < S; j++) p[j] = budgets[j] / sum;
  }
  // The reference normalises again (`budget_probs /= budget_probs.sum()`).
  let total = 0;
  for (let j = 0; j < S; j++) total += p[j];
  for (let j = 0; j < S; j++) p[j] /= total;
  return p;
}

/**
 * Per-segment CoT advantages of one group: `scores` is [G * S] (member-major budget scores c),
 * returns [G * S] advantages A_{g,s}.
 */
export function cotAdvantages(scores: ArrayLike<number>, G: number, S: number, p: ArrayLike<number>, variance: BrpoVariance): Float64Array {
  const R = new Float64Array(G * S);
  for (let g = 0; g < G; g++) {
    let acc = 0;
    for (let s = S - 1; s >= 0; s--) {
      acc += p[s] * scores[g * S + s];
      R[g * S + s] = acc;
    }
  }
  const tailMass = new Float64Array(S);
  {
    let acc = 0;
    for (let s = S - 1; s >= 0; s--) {
      acc += p[s];
      tailMass[s] = acc;
    }
  }
  const adv = new Float64Array(G * S);
  for (let s = 0; s < S; s++) {
    let v2 = 0;
    if (G > 1) {
      for (let g = 0; g < G; g++) v2 += R[g * S + s];
      v2 /= G;
    }
    for (let g = 0; g < G; g++) {
      let v1 = 0;
      if (s > 0) {
        // Discounted mean with weights 2^j, scaled by 2^-(s-1) so large S cannot overflow.
        let num = 0, den = 0;
        for (let j = 0; j < s; j++) {
          const w = Math.pow(2, j - (s - 1));
          num += w * scores[g * S + j];
          den += w;
        }
        v1 = (num / den) * tailMass[s];
      }
      let baseline: number;
      switch (variance) {
        case "brpo":
          baseline = (s * v1 + (S - s) * v2) / S;
          break;
        case "v1only":
          baseline = v1;
          break;
        case "v2only":
          baseline = v2;
          break;
        case "none":
          baseline = 0;
          break;
      }
      adv[g * S + s] = R[g * S + s] - baseline;
    }
  }
  return adv;
}

/**
 * Summary advantages of one group, `scores[g][s][a]` (G responses x S budgets x A summaries):
 * A > 1: score - mean of the A summaries of the same response and budget; A = 1: score - mean over
 * the G responses at that budget. `method: "grpo"` trains only the last summary of each response
 * (the reference's `summary_method=grpo`: the flat last entry), others get 0.
 */
export function summaryAdvantages(scores: readonly (readonly (readonly number[])[])[], method: "brpo" | "grpo" = "brpo"): number[][][] {
  const G = scores.length;
  const out: number[][][] = [];
  for (let g = 0; g < G; g++) {
    const perBudget = scores[g];
    const rows: number[][] = [];
    for (let s = 0; s < perBudget.length; s++) {
      const sums = perBudget[s];
      const A = sums.length;
      let baseline = 0;
      if (A === 1) {
        for (let h = 0; h < G; h++) baseline += scores[h][s][0];
        baseline /= G;
      } else {
        for (const x of sums) baseline += x;
        baseline /= Math.max(A, 1);
      }
      const lastBudget = s === perBudget.length - 1;
      rows.push(sums.map((x, a) => (method === "grpo" && !(lastBudget && a === A - 1) ? 0 : x - baseline)));
    }
    out.push(rows);
  }
  return out;
}

/** Validates every rollout's signals.budget_scores and packs them: rollout i owns [off[i], off[i+1]). */
function packScores(batch: RolloutBatch): { off: Int32Array; data: Float64Array } {
  const { n } = batch;
  const off = new Int32Array(n + 1);
  const arrays: unknown[][] = new Array(n);
  for (let i = 0; i < n; i++) {
    const fail = (what: string): never => {
      throw new InputError(batch.source, batch.lines[i], "signals.budget_scores", what);
    };
    const sig = batch.signals[i];
    const v = sig === undefined ? undefined : sig.budget_scores;
    if (v === undefined) fail("required by method 'brpo' but missing (one mean summary score per budget)");
    if (!Array.isArray(v)) fail("expected an array of finite numbers (one per budget)");
    const arr = v as unknown[];
    if (arr.length === 0) fail("expected at least one budget score");
    for (let k = 0; k < arr.length; k++) {
      const x = arr[k];
      if (typeof x !== "number" || !Number.isFinite(x)) fail(`entry ${k} is not a finite number`);
    }
    const nSteps = batch.stepOffsets[i + 1] - batch.stepOffsets[i];
    if (nSteps > arr.length) fail(`has ${arr.length} entries but the rollout has ${nSteps} step_ends (at most one segment per budget)`);
    arrays[i] = arr;
    off[i + 1] = off[i] + arr.length;
  }
  const data = new Float64Array(off[n]);
  for (let i = 0; i < n; i++) data.set(arrays[i] as number[], off[i]);
  return { off, data };
}

export function brpo(batch: RolloutBatch, opts: BrpoOptions): Assignment {
  const { n, mask, stepOffsets, stepEnds, groupOffsets, groupMembers } = batch;
  const scores = packScores(batch);
  const lenOf = (i: number): number => scores.off[i + 1] - scores.off[i];
  const segAdv = new Float64Array(stepOffsets[n]);
  for (let g = 0; g + 1 < groupOffsets.length; g++) {
    const ga = groupOffsets[g], gb = groupOffsets[g + 1];
    const G = gb - ga;
    const first = groupMembers[ga];
    const S = lenOf(first);
    for (let m = ga; m < gb; m++) {
      const i = groupMembers[m];
      if (lenOf(i) !== S) {
        throw new InputError(batch.source, batch.lines[i], "signals.budget_scores", `has ${lenOf(i)} entries but rollout '${batch.ids[first]}' of the same group has ${S} (S must be equal within a group)`);
      }
    }
    let budgets: ArrayLike<number> | null = null;
    if (opts.budgets !== null) {
      if (opts.budgets.length !== S) {
        throw new InputError(batch.source, batch.lines[first], "signals.budget_scores", `has ${S} entries but option 'budgets' lists ${opts.budgets.length} budgets`);
      }
      budgets = opts.budgets;
    } else if (opts.prior === "linear") {
      for (let m = ga; m < gb && budgets === null; m++) {
        const i = groupMembers[m];
        if (stepOffsets[i + 1] - stepOffsets[i] === S) {
          const b = new Float64Array(S);
          for (let j = 0; j < S; j++) b[j] = stepEnds[stepOffsets[i] + j] + 1;
          budgets = b;
        }
      }
      if (budgets === null) {
        throw new InputError(batch.source, batch.lines[first], "step_ends", `the linear prior needs the budgets: no rollout of group '${batch.groupNames[g]}' has ${S} step_ends (one per budget score); give one, or set option 'budgets'`);
      }
    }
    const p = budgetPrior(opts.prior, S, budgets);
    const flat = new Float64Array(G * S);
    for (let m = 0; m < G; m++) {
      const i = groupMembers[ga + m];
      flat.set(scores.data.subarray(scores.off[i], scores.off[i + 1]), m * S);
    }
    const adv = cotAdvantages(flat, G, S, p, opts.variance);
    for (let m = 0; m < G; m++) {
      const i = groupMembers[ga + m];
      for (let j = stepOffsets[i]; j < stepOffsets[i + 1]; j++) segAdv[j] = adv[m * S + (j - stepOffsets[i])];
    }
  }
  const advantages = new Float64Array(batch.nTokens);
  const seg = stepSegments(batch);
  for (let s = 0; s < seg.start.length; s++) {
    const a = segAdv[s];
    for (let k = seg.start[s]; k < seg.end[s]; k++) if (mask[k] === 1) advantages[k] = a;
  }
  return { advantages };
}

function checkBudgets(v: unknown): string | null {
  if (v === null) return null;
  if (!Array.isArray(v) || v.length === 0) return "expected null or a non-empty array of budgets";
  let prev = 0;
  for (const x of v) {
    if (typeof x !== "number" || !Number.isFinite(x) || x <= prev) return "budgets must be positive, finite and strictly increasing";
    prev = x;
  }
  return null;
}

export const brpoSpec = registerMethod<BrpoOptions>({
  name: "brpo",
  locality: "group",
  summary: "BRPO (AnytimeReasoner): budget-segment returns of a prior-weighted dense reward, minus a budget-relative baseline",
  paper: "AnytimeReasoner (Qi et al., 2025, arXiv 2505.13438); code sail-sg/AnytimeReasoner @7e3f5bb brpo.py",
  status: "reference-code",
  example: "budgets.jsonl",
  requires: ["step_ends"],
  signals: ["budget_scores"],
  requiredSignals: ["budget_scores"],
  options: {
    prior: { type: "enum", values: ["linear", "uniform", "base"], default: "linear", doc: "budget prior p: proportional to b_j, uniform, or all mass on the last budget" },
    variance: { type: "enum", values: ["brpo", "v1only", "v2only", "none"], default: "brpo", doc: "baseline: (s V1 + (S-s) V2)/S, V1, V2 or 0" },
    budgets: { type: "json", typeText: "null | number[]", default: null, check: checkBudgets, doc: "budget token counts b_1..b_S for the linear prior (null: from step_ends)" },
  },
  assign: brpo,
});
