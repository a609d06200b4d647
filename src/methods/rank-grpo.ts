/**
 * Rank-GRPO: rank-level advantages for ranked-list generation (Zhu et al., Netflix 2025, "Rank-GRPO:
 * Training LLM-based Conversational Recommender Systems with Reinforcement Learning"; reference
 * code yaochenzhu/Rank-GRPO @0808d82c0807, `libs/reward_funcs.py`, `libs/trl/rank_grpo_trainer.py`).
 * Status: reference code.
 *
 * A completion is a list of items; item k of rollout i covers tokens (step_ends[k-1], step_ends[k]]
 * and `step_rewards[k]` is its relevance rel_k (0/1 per rank, from `src/rewards/ranking.ts`). With
 * N = `ranks`, per rank k < N:
 *
 *   r_ik = rel_ik                                  (reward "exp_inf")
 *   r_ik = sum_{j >= k} rel_ij d_j,  d_1 = 1, d_j = 1 / log2(j + 1)   ("log_decay": DCG@k:N with the
 *                                                   non-causal prefix removed)
 *   A_ik = (r_ik - mean_g r_.k) / (std_g r_.k + eps)   over the group g, unbiased std, eps 1e-4
 *                                                   (no division with scaleRewards: false)
 *
 * Ranks past a completion's list have r = 0 (relevance 0) and take part in the group statistics.
 * Token advantage = A of its item; items k >= N are overflow and get 0. The EOS token (the last
 * token of a finished rollout) belongs to no item and gets 0. Length shaping (default on) adds
 * `overflowPenalty` (-0.1) to every overflow token, and on EOS `eosBonus` (+0.1) with exactly N
 * items, `earlyStopPenalty` (-0.1) with fewer, `overflowPenalty` with more (methods.md Part 0).
 * Tokens after the last item end other than EOS get 0. A one-member group gets 0 on every token,
 * length shaping included (Part 0; in the reference torch.std of one value is NaN, which spreads
 * to every token, EOS too). `reward` is not used.
 *
 * QUIRKs and deviations from the reference:
 * - In the reference, EOS carries an item index, so a list whose 20th line ends in a newline counts
 *   21 items and its EOS is an overflow token; here EOS is outside every item (Part 0).
 * - `scale_rewards` is a TRL 0.21 GRPOConfig default the reference does not set; the spec's worked
 *   example divides by the std, so `scaleRewards` defaults to true.
 * - When step_ends ends at the EOS token, that item loses EOS; an item holding only EOS is no item
 *   (its step reward is ignored).
 *
 * Trainer side: `itemImportanceWeights` (importance_sampling_level="item": the geometric mean of
 * the token ratios inside an item, overflow tokens sharing one extra bin) and `clippedObjective`
 * (min(w A, clip(w, 1 - epsLow, 1 + epsHigh) A)) are exported for the trainer.
 */
import type { RolloutBatch } from "../core/batch.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { groupStats } from "../core/stats.js";
import { rankRewards, type RankReward } from "../rewards/ranking.js";

export interface RankGrpoOptions {
  reward: RankReward;
  ranks: number;
  eps: number;
  lengthShaping: boolean;
  scaleRewards: boolean;
  eosBonus: number;
  earlyStopPenalty: number;
  overflowPenalty: number;
}

/**
 * Fills eos[i] (index of the EOS token within rollout i, or -1) and items[i] (number of step_ends
 * entries that are items: a last step holding only EOS is none).
 */
function itemLayout(batch: RolloutBatch, eos: Int32Array, items: Int32Array): void {
  for (let i = 0; i < batch.n; i++) {
    const T = batch.offsets[i + 1] - batch.offsets[i];
    const e = batch.finished[i] === 1 && T > 0 ? T - 1 : -1;
    const a = batch.stepOffsets[i], b = batch.stepOffsets[i + 1];
    let m = b - a;
    if (e >= 0 && m > 0 && batch.stepEnds[b - 1] === e) {
      const prev = m > 1 ? batch.stepEnds[b - 2] : -1;
      if (prev === e - 1) m--;
    }
    eos[i] = e;
    items[i] = m;
  }
}

export function rankGrpo(batch: RolloutBatch, opts: RankGrpoOptions): Assignment {
  const { n, offsets, stepOffsets, stepEnds } = batch;
  const N = opts.ranks;
  const steps = batch.stepRewards ? batch.stepRewards.data : new Float64Array(stepOffsets[n]);
  const eosAt = new Int32Array(n);
  const itemCount = new Int32Array(n);
  itemLayout(batch, eosAt, itemCount);
  // Rank rewards [n * N], rollout-major.
  const r = new Float64Array(n * N);
  const rel = new Float64Array(N);
  for (let i = 0; i < n; i++) {
    rel.fill(0);
    const m = Math.min(itemCount[i], N);
    for (let k = 0; k < m; k++) rel[k] = steps[stepOffsets[i] + k];
    rankRewards(rel, opts.reward, r.subarray(i * N, (i + 1) * N));
  }

  // Per-rank group statistics through the core's groupStats, one rank column at a time.
  const adv = new Float64Array(n * N);
  const col = new Float64Array(n);
  for (let k = 0; k < N; k++) {
    for (let i = 0; i < n; i++) col[i] = r[i * N + k];
    const st = groupStats(batch, col, { std: "unbiased", singleton: "natural" });
    for (let i = 0; i < n; i++) {
      const g = batch.group[i];
      if (st.count[g] < 2) continue;
      const d = col[i] - st.mean[g];
      adv[i * N + k] = opts.scaleRewards ? d / (st.std[g] + opts.eps) : d;
    }
  }

  const advantages = new Float64Array(batch.nTokens);
  for (let i = 0; i < n; i++) {
    const o = offsets[i];
    const eos = eosAt[i], items = itemCount[i];
    const g = batch.group[i];
    const solo = batch.groupOffsets[g + 1] - batch.groupOffsets[g] < 2;
    let prev = -1;
    for (let k = 0; k < items; k++) {
      const end = stepEnds[stepOffsets[i] + k];
      const last = end === eos ? end - 1 : end;
      const value = k < N ? adv[i * N + k] : opts.lengthShaping && !solo ? opts.overflowPenalty : 0;
      for (let t = prev + 1; t <= last; t++) advantages[o + t] = value;
      prev = end;
    }
    if (eos >= 0 && opts.lengthShaping && !solo) {
      advantages[o + eos] = items === N ? opts.eosBonus : items < N ? opts.earlyStopPenalty : opts.overflowPenalty;
    }
  }
  return { advantages };
}

/**
 * Item-level importance weights for the trainer: per token, w = exp(mean of (logprobs - oldLogprobs)
 * over the mask-1 tokens of its item) for items k < ranks; all overflow tokens (items >= ranks)
 * share one bin. `stepEnds` are the rollout's item ends; tokens after the last item get w = 1.
 */
export function itemImportanceWeights(logRatio: ArrayLike<number>, mask: ArrayLike<number>, stepEnds: ArrayLike<number>, ranks: number): Float64Array {
  const T = logRatio.length;
  const w = new Float64Array(T).fill(1);
  let overflowSum = 0, overflowCount = 0;
  let prev = -1;
  for (let k = 0; k < stepEnds.length; k++) {
    const end = Math.min(stepEnds[k], T - 1);
    if (k >= ranks) {
      for (let t = prev + 1; t <= end; t++) if (mask[t]) { overflowSum += logRatio[t]; overflowCount++; }
    } else {
      let s = 0, c = 0;
      for (let t = prev + 1; t <= end; t++) if (mask[t]) { s += logRatio[t]; c++; }
      const v = c > 0 ? Math.exp(s / c) : 1;
      for (let t = prev + 1; t <= end; t++) w[t] = v;
    }
    prev = end;
  }
  if (overflowCount > 0 && stepEnds.length > ranks) {
    const v = Math.exp(overflowSum / overflowCount);
    const start = stepEnds[ranks - 1] + 1;
    const stop = Math.min(stepEnds[stepEnds.length - 1], T - 1);
    for (let t = start; t <= stop; t++) w[t] = v;
  }
  return w;
}

/** PPO-style clipped per-token objective min(w A, clip(w, 1 - epsLow, 1 + epsHigh) A); `delta` caps w first. */
export function clippedObjective(w: number, A: number, epsLow = 0.06, epsHigh = 0.08, delta: number | null = null): number {
  const ww = delta === null ? w : Math.min(w, delta);
  const clipped = Math.min(Math.max(ww, 1 - epsLow), 1 + epsHigh);
  return Math.min(ww * A, clipped * A);
}

export const rankGrpoSpec = registerMethod<RankGrpoOptions>({
  name: "rank-grpo",
  locality: "group",
  summary: "Rank-level GRPO for ranked lists: per-rank group-normalised rewards on each item's tokens, with length shaping",
  paper: "Rank-GRPO (Zhu et al., Netflix 2025); code yaochenzhu/Rank-GRPO @0808d82 rank_grpo_trainer.py, reward_funcs.py",
  status: "reference-code",
  example: "ranked.jsonl",
  requires: ["step_ends", "step_rewards"],
  signals: [],
  options: {
    reward: { type: "enum", values: ["exp_inf", "log_decay"], default: "exp_inf", doc: "rank reward: relevance (exp_inf) or DCG from rank k on (log_decay)" },
    ranks: { type: "number", default: 20, min: 1, integer: true, doc: "number of ranks N (rec_num); items past N are overflow" },
    eps: { type: "number", default: 1e-4, min: 0, doc: "added to the per-rank group std" },
    lengthShaping: { type: "boolean", default: true, doc: "EOS bonus/penalty and overflow-token penalty" },
    scaleRewards: { type: "boolean", default: true, doc: "divide by the per-rank group std (TRL scale_rewards)" },
    eosBonus: { type: "number", default: 0.1, doc: "added on EOS when the list has exactly N items (end_of_list_reward)" },
    earlyStopPenalty: { type: "number", default: -0.1, doc: "added on EOS when the list has fewer than N items (early_stop_penalty)" },
    overflowPenalty: { type: "number", default: -0.1, doc: "added on every overflow token, and on EOS when the list overflows (extra_token_penalty)" },
  },
  assign: rankGrpo,
});
