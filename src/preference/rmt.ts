/**
 * RMT: Reinforcement Mid-Training (Tian et al., ICLR 2026, arXiv 2509.24375). SECONDARY: from paper
 * notes and reviews only (methods-part4.md section 6); no code exists. [PROPOSAL] values as there.
 *
 *   budget    B_t = max(B_min, floor(B_0 gamma^(t/T)))            (t/T, not the review's t/T^k)
 *   length    r_len = r_max max(0, 1 - |l - B| / B)               triangular, peak at l = B
 *   curriculum p_t: p_t1 before t1, linear to p_t2 between t1 and t2, p_t2 after (easy/medium/hard)
 *   reward    r_i = (1 - w) 1[y_i = target] + w r_len(l_i)
 *   advantage A_i = (r_i - mean) / (std + delta), unbiased std ([PROPOSAL], as verl's GRPO)
 *   loss      -J_RL + lambda L_NTP,  J_RL = (1/G) sum_i A_i log pi(o_i)   (KL beta = 0, [PROPOSAL])
 *             L_NTP over the tokens not selected for RL, token mean ([PROPOSAL]) or sum.
 */
import { meanStd, type StdKind } from "../core/stats.js";
import { assertFinite, assertSameLength, maskedMeanNll } from "./common.js";

export interface RmtBudgetOptions {
  b0?: number;
  gamma?: number;
  bMin?: number;
}

export function rmtBudget(t: number, T: number, o: RmtBudgetOptions = {}): number {
  const b0 = o.b0 ?? 800, gamma = o.gamma ?? 0.2, bMin = o.bMin ?? 1;
  // 1e-9 absorbs the last-ulp error of pow so an exact integer product is not floored one below.
  return Math.max(bMin, Math.floor(b0 * Math.pow(gamma, t / T) + 1e-9));
}

export function rmtLengthReward(length: number, budget: number, rMax = 1): number {
  return rMax * Math.max(0, 1 - Math.abs(length - budget) / budget);
}

/** Tier probabilities (easy, medium, hard) at step t; t1, t2 as fractions of T (default 0.3, 0.7). */
export function rmtCurriculum(t: number, T: number, p1: readonly number[], p2: readonly number[], f1 = 0.3, f2 = 0.7): Float64Array {
  assertSameLength("curriculum endpoints", p1, p2);
  const t1 = f1 * T, t2 = f2 * T;
  const tau = t < t1 ? 0 : t >= t2 ? 1 : (t - t1) / (t2 - t1);
  return Float64Array.from(p1, (a, k) => (1 - tau) * a + tau * p2[k]);
}

export interface RmtRewardOptions {
  /** Weight of the length reward (default 0.2, [PROPOSAL]). */
  w?: number;
  rMax?: number;
  std?: StdKind;
  delta?: number;
}

/** Composite rewards and GRPO advantages of the G rollouts of one selected token. */
export function rmtAdvantages(match: ArrayLike<number>, lengths: ArrayLike<number>, budget: number, o: RmtRewardOptions = {}): { rewards: Float64Array; advantages: Float64Array } {
  assertSameLength("match flags and lengths", match, lengths);
  const w = o.w ?? 0.2;
  const rewards = Float64Array.from(match, (m, i) => (1 - w) * m + w * rmtLengthReward(lengths[i], budget, o.rMax ?? 1));
  const { mean, std } = meanStd(rewards, o.std ?? "unbiased");
  const delta = o.delta ?? 1e-6;
  return { rewards, advantages: rewards.map((r) => (r - mean) / (std + delta)) };
}

export interface RmtLossOptions {
  /** lambda (default 0.1). */
  lambda?: number;
  /** NTP reduction: "mean" over NTP tokens ([PROPOSAL], default) or "sum" (as written). */
  ntp?: "mean" | "sum";
}

/**
 * The unified loss -J_RL + lambda L_NTP. `rolloutLogps` [G] are the sequence log-probs of the G
 * rollouts of the selected tokens, `tokenLogps` [L] the teacher-forced log-probs of the corpus
 * sequence and `selected` [L] 1 at the positions in C (no NTP loss there). Gradients with respect
 * to both inputs.
 */
export function rmtLoss(rolloutLogps: Float64Array, advantages: Float64Array, tokenLogps: Float64Array, selected: ArrayLike<number>, o: RmtLossOptions = {}): { loss: number; rl: number; ntp: number; gradRollouts: Float64Array; gradTokens: Float64Array } {
  assertFinite("rollout log-probs", rolloutLogps);
  assertFinite("advantages", advantages);
  assertSameLength("rollout log-probs and advantages", rolloutLogps, advantages);
  const lambda = o.lambda ?? 0.1;
  const G = rolloutLogps.length;
  let j = 0;
  const gradRollouts = new Float64Array(G);
  for (let i = 0; i < G; i++) {
    j += (advantages[i] * rolloutLogps[i]) / G;
    gradRollouts[i] = -advantages[i] / G;
  }
  const ntpMask = Uint8Array.from({ length: tokenLogps.length }, (_, t) => (selected[t] ? 0 : 1));
  const nll = maskedMeanNll(tokenLogps, ntpMask);
  const scale = o.ntp === "sum" ? ntpMask.reduce((a, b) => a + b, 0) : 1;
  return {
    loss: -j + lambda * scale * nll.loss,
    rl: j,
    ntp: scale * nll.loss,
    gradRollouts,
    gradTokens: nll.grad.map((g) => lambda * scale * g),
  };
}
