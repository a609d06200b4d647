/**
 * R3L: Reflect-then-Retry RL, assign side (repo shiweijiezero/R3L @ d503f6c, Trinity-RFT based):
 * Positive Amplification (`OPMDReweightAdvGroupAdvantage`, `GRPOReweightAdvGroupAdvantage`) and
 * Pivotal Credit Assignment (masking the replayed turns before the retry pivot).
 *
 * Per rollout, with R_i the outcome score s_i = reward + sum(token_rewards):
 *
 *   normalize "none" (OPMD, the R3L configs):  a_i = R_i - mean_g(R)          (one-response group: baseline 0)
 *   normalize "grpo":                          a_i = (R_i - mean_g) / (unbiased std_g + eps)   (one-response group: mean 0, std 1)
 *   then  A_i = cap            if R_i >= cap   (regardless of the baseline, even in an all-success group)
 *         A_i = alpha * a_i    elif a_i >= 0
 *         A_i = a_i            otherwise
 *
 * broadcast to the mask-1 tokens. Turns are runs of mask 1; with `signals.pivot` = P > 0 the first
 * P turns (the prefix replayed verbatim from the first attempt) get advantage 0 and loss weight 0,
 * as the reference sets their action_mask to 0 (which also takes them out of token-mean
 * denominators). Weights are emitted only when some rollout has P > 0. `cap: null` disables the
 * cap. The reflection/retry sampling and grouping are the sampler's business; the OPMD loss's
 * 1/(1 + tau) factor is trainer-side, and the logsumexp baseline and the step-wise variant are not
 * in scope (methods.md Part 1 lists alpha, cap, normalize).
 */
import type { RolloutBatch } from "../core/batch.js";
import { InputError } from "../core/errors.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { outcomeScores } from "../core/rewards.js";
import { broadcastToTokens, groupStats } from "../core/stats.js";
import { grpoSequenceAdvantages } from "./grpo.js";

export interface R3lOptions {
  alpha: number;
  cap: number | null;
  normalize: "none" | "grpo";
  eps: number;
}

/** [n] signals.pivot of each rollout, -1 when absent; the type is checked here, the range against the turns later. */
function readPivots(batch: RolloutBatch): Int32Array {
  const pivots = new Int32Array(batch.n).fill(-1);
  for (let i = 0; i < batch.n; i++) {
    const v = batch.signals[i]?.pivot;
    if (v === undefined) continue;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 2147483647) {
      throw new InputError(batch.source, batch.lines[i], "signals.pivot", `expected a non-negative integer (turns to mask), got ${JSON.stringify(v) ?? typeof v}`);
    }
    pivots[i] = v;
  }
  return pivots;
}

/** [n] the per-rollout R3L advantage (before broadcasting and pivot masking). */
export function r3lSequenceAdvantages(batch: RolloutBatch, opts: R3lOptions, scores: Float64Array = outcomeScores(batch)): Float64Array {
  let a: Float64Array;
  if (opts.normalize === "grpo") {
    a = grpoSequenceAdvantages(batch, { eps: opts.eps, normByStd: true, std: "unbiased" }, scores);
  } else {
    // verl's singleton rule (mean 0) is the reference's "singleton group b = 0".
    const { mean } = groupStats(batch, scores);
    a = new Float64Array(batch.n);
    for (let i = 0; i < batch.n; i++) a[i] = scores[i] - mean[batch.group[i]];
  }
  for (let i = 0; i < batch.n; i++) {
    if (opts.cap !== null && scores[i] >= opts.cap) a[i] = opts.cap;
    else if (a[i] >= 0) a[i] *= opts.alpha;
  }
  return a;
}

export function r3l(batch: RolloutBatch, opts: R3lOptions): Assignment {
  const pivots = readPivots(batch);
  const advantages = broadcastToTokens(batch, r3lSequenceAdvantages(batch, opts));
  const { offsets, mask } = batch;
  let weights: Float64Array | undefined;
  for (let i = 0; i < batch.n; i++) {
    const pivot = pivots[i];
    if (pivot < 0) continue;
    // The first `pivot` turns (runs of mask 1) are exactly the mask-1 tokens before the start of
    // turn number `pivot`, so one scan of the rollout's prefix finds both that start and whether
    // the rollout has more than `pivot` turns; no turn table for the whole batch is built.
    const o = offsets[i], e = offsets[i + 1];
    let turns = 0; // turns started so far
    let cut = -1; // first token of turn `pivot` (0-based), once found
    for (let k = o; k < e; k++) {
      if (mask[k] === 1 && (k === o || mask[k - 1] !== 1)) {
        if (turns === pivot) {
          cut = k;
          break;
        }
        turns++;
      }
    }
    if (cut < 0) {
      // The scan reached the end: `turns` counts every turn of the rollout.
      throw new InputError(batch.source, batch.lines[i], "signals.pivot", `is ${pivot} but the rollout has ${turns} turn${turns === 1 ? "" : "s"} (runs of mask 1); the pivot must be smaller`);
    }
    if (pivot === 0) continue;
    if (!weights) weights = new Float64Array(batch.nTokens).fill(1);
    for (let k = o; k < cut; k++) {
      if (mask[k] === 1) {
        advantages[k] = 0;
        weights[k] = 0;
      }
    }
  }
  return weights ? { advantages, weights } : { advantages };
}

export const r3lSpec = registerMethod<R3lOptions>({
  name: "r3l",
  summary: "R3L positive amplification (cap successes, scale positive advantages by alpha) with pivot-turn masking",
  paper: "R3L: Reflect-then-Retry RL; shiweijiezero/R3L opmd_advantage.py, grpo_advantage.py, R3L_workflow.py",
  status: "reference-code",
  signals: ["pivot"],
  example: "turns.jsonl",
  options: {
    alpha: { type: "number", default: 3, min: 0, doc: "factor on non-negative advantages of rollouts below the cap" },
    cap: { type: "number", default: 1, nullable: true, doc: "a rollout with R >= cap gets advantage cap (threshold and value); null disables it" },
    normalize: { type: "enum", values: ["none", "grpo"], default: "none", doc: "none: R - group mean (OPMD, R3L configs); grpo: (R - mean) / (unbiased std + eps)" },
    eps: { type: "number", default: 1e-6, min: 0, doc: "added to the group std when normalize is grpo" },
  },
  assign: r3l,
});
