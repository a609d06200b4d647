/**
 * HAPO: Heterogeneous Adaptive Policy Optimization (arXiv 2509.16591; reference code
 * starriver030515/HAPO @ 7671dde3, `verl/trainer/ppo/core_algos.py`). This is the assign side,
 * Token-Level Group Average (`compute_hapo_outcome_advantage`): within a group, each response's
 * score R_i counts once per mask-1 token (L_i of them),
 *
 *   mu = sum_i L_i R_i / sum_i L_i,   sigma = sqrt(sum_i L_i (R_i - mu)^2 / sum_i L_i)  (population, over tokens)
 *   A_i = (R_i - mu) / (sigma + eps)                       broadcast to the mask-1 tokens of response i
 *
 * Smoothing fallback: if any response with mask-1 tokens has |A_i| >= threshold (5), the whole
 * group takes the verl GRPO advantage instead ((R_i - mean) / (unbiased std + eps), singleton mean 0
 * std 1). A singleton group gets 0.
 *
 * QUIRK (resolved by methods.md Part 0): the reference runs the |A| >= 5 check over the padded
 * [group, max_len] tensor, where padding holds -mu/sigma and can trigger the fallback; here only
 * real (mask-1) tokens are checked, so the result does not depend on padding.
 *
 * The normalised entropy ĥ (`compute_entropy_h`, pivot quantile 0.8 of ln H with Python's
 * half-to-even rounding) is returned in `diag.tokens.entropy_h` when the rollouts carry
 * `entropies`. QUIRK: the published code multiplies h <= 0 by a negative scale, so low-entropy
 * tokens get ĥ >= 0 (`entropySign: "code"`, default); the paper's intent maps them into [-1, 0]
 * (`entropySign: "paper"`).
 *
 * The model-side parts (adaptive sampling temperature, asymmetric adaptive clipping, differential
 * advantage redistribution) run in the trainer; their formulas are exported here as pure functions
 * (`adaptiveTemperature`, `asymmetricClipBounds`, `redistributeAdvantage`).
 */
import type { RolloutBatch } from "../core/batch.js";
import { entropyHFromStandardised, normalizedEntropy, type EntropyHStats, type EntropySign } from "../core/entropy.js";
import { InputError } from "../core/errors.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { outcomeScores, trainableCounts } from "../core/rewards.js";
import { broadcastToTokens } from "../core/stats.js";
import { grpoSequenceAdvantages } from "./grpo.js";

export interface HapoOptions {
  /** |A| at or above which a group falls back to GRPO; null disables the fallback. */
  threshold: number | null;
  entropyPivot: number;
  entropySign: EntropySign;
  entropyScope: "batch" | "group";
  normByStd: boolean;
  eps: number;
}

export interface HapoSequenceAdvantages {
  readonly advantages: Float64Array; // [n]
  readonly fallback: Uint8Array; // [n] 1 where the rollout's group fell back to GRPO
}

/** Per-rollout HAPO advantages [n] (Token-Level Group Average with the GRPO fallback). */
export function hapoSequenceAdvantages(batch: RolloutBatch, opts: HapoOptions, scores: Float64Array = outcomeScores(batch)): HapoSequenceAdvantages {
  const lengths = trainableCounts(batch);
  const advantages = new Float64Array(batch.n);
  const fallback = new Uint8Array(batch.n);
  const { groupOffsets, groupMembers } = batch;
  let grpo: Float64Array | null = null;
  for (let g = 0; g < batch.groupNames.length; g++) {
    const a = groupOffsets[g], b = groupOffsets[g + 1];
    if (b - a === 1) continue; // singleton: its own token average, advantage 0
    // Deviations from the first score, so a group of equal scores gives mu equal to them exactly.
    const ref = scores[groupMembers[a]];
    let tokens = 0;
    let weighted = 0;
    for (let m = a; m < b; m++) {
      const i = groupMembers[m];
      tokens += lengths[i];
      weighted += lengths[i] * (scores[i] - ref);
    }
    if (tokens === 0) continue;
    const mu = ref + weighted / tokens;
    let sumSq = 0;
    for (let m = a; m < b; m++) {
      const i = groupMembers[m];
      const d = scores[i] - mu;
      sumSq += lengths[i] * d * d;
    }
    const sigma = Math.sqrt(sumSq / tokens);
    let exceeds = false;
    for (let m = a; m < b; m++) {
      const i = groupMembers[m];
      const d = scores[i] - mu;
      advantages[i] = opts.normByStd ? d / (sigma + opts.eps) : d;
      if (opts.threshold !== null && lengths[i] > 0 && Math.abs(advantages[i]) >= opts.threshold) exceeds = true;
    }
    if (exceeds) {
      grpo ??= grpoSequenceAdvantages(batch, { eps: opts.eps, normByStd: opts.normByStd, std: "unbiased" }, scores);
      for (let m = a; m < b; m++) {
        const i = groupMembers[m];
        advantages[i] = grpo[i];
        fallback[i] = 1;
      }
    }
  }
  return { advantages, fallback };
}

/** Rollouts carry entropies all or none; a partial set would normalise over an arbitrary subset. */
function hasEntropies(batch: RolloutBatch): boolean {
  const column = batch.entropies;
  if (column === null) return false;
  for (let i = 0; i < batch.n; i++) {
    if (!column.present[i]) throw new InputError(batch.source, batch.lines[i], "entropies", "missing here but given on other rollouts; hapo normalises entropies over the whole batch, so give them on every rollout or on none");
  }
  return true;
}

export function hapo(batch: RolloutBatch, opts: HapoOptions): Assignment {
  const seq = hapoSequenceAdvantages(batch, opts);
  const advantages = broadcastToTokens(batch, seq.advantages);
  const out: Assignment = { advantages, returns: advantages, diag: { rollouts: { fallback: new Float64Array(seq.fallback) } } };
  if (hasEntropies(batch)) {
    const { hHat } = normalizedEntropy(batch, { pivot: opts.entropyPivot, sign: opts.entropySign, scope: opts.entropyScope });
    out.diag = { ...out.diag, tokens: { entropy_h: hHat } };
  }
  return out;
}

// ---- Trainer side: pure formulas the trainer calls with its own entropies and ratios. ----

export interface AdaptiveTemperatureOptions {
  /** Base temperature T0 (reference: 1.0). */
  t0: number;
  /** temperature_tau (reference: 0.05). */
  tau: number;
  sign: EntropySign;
}

/**
 * The sampler's temperature for one decoding step (patched vLLM sampler): H is the entropy of
 * softmax(raw logits), stats come from the previous training step's `compute_entropy_h`;
 * h = (ln(max(H, 1e-6)) - med) / (std + 1e-6), ĥ = clamp(scaled h, -1, 1), T = T0 (1 + tau ĥ).
 * With no statistics yet (first step) the temperature is T0.
 */
export function adaptiveTemperature(entropy: number, stats: EntropyHStats | null, opts: AdaptiveTemperatureOptions): number {
  if (stats === null) return opts.t0;
  const h = (Math.log(Math.max(entropy, 1e-6)) - stats.med) / (stats.std + 1e-6);
  const hHat = Math.min(1, Math.max(-1, entropyHFromStandardised(h, stats, opts.sign)));
  return opts.t0 * (1 + opts.tau * hHat);
}

export interface ClipBounds {
  /** ε_low': the ratio is clipped below at 1 - low. */
  readonly low: number;
  /** ε_high': the ratio is clipped above at 1 + high. */
  readonly high: number;
}

/**
 * Asymmetric adaptive clipping (`ada_clip`): low-entropy tokens (ĥ <= 0) widen the lower bound,
 * ε_low' = ε_low (1 - α ĥ); high-entropy tokens widen the upper one, ε_high' = ε_high (1 + α ĥ).
 * Reference defaults: ε_low = ε_high = 0.2, α = 1.
 */
export function asymmetricClipBounds(hHat: number, epsLow: number, epsHigh: number, alpha: number): ClipBounds {
  if (hHat > 0) return { low: epsLow, high: epsHigh * (1 + alpha * hHat) };
  return { low: epsLow * (1 - alpha * hHat), high: epsHigh };
}

/**
 * Differential advantage redistribution (`ada_advantage`, after ada_clip): A_ent = A (1 + β ĥ)
 * and the neutral zone N = (1 - ε_low'/2, 1 + ε_high'/2), open, on the ratio π/π_old.
 * High-entropy tokens (ĥ > 0) keep A inside N and take A_ent outside; low-entropy tokens the
 * other way round. Reference default β = 1.
 */
export function redistributeAdvantage(advantage: number, hHat: number, ratio: number, bounds: ClipBounds, beta: number): number {
  const inNeutral = ratio > 1 - bounds.low / 2 && ratio < 1 + bounds.high / 2;
  const scaled = advantage * (1 + beta * hHat);
  if (hHat > 0) return inNeutral ? advantage : scaled;
  return inNeutral ? scaled : advantage;
}

export const hapoSpec = registerMethod<HapoOptions>({
  name: "hapo",
  summary: "HAPO token-level group average advantage (GRPO fallback when |A| >= threshold), normalised entropy in diag",
  paper: "HAPO, arXiv 2509.16591; starriver030515/HAPO compute_hapo_outcome_advantage, compute_entropy_h",
  status: "reference-code",
  example: "plain.jsonl",
  options: {
    threshold: { type: "number", default: 5, min: 0, exclusiveMin: true, nullable: true, doc: "a group with any |A| >= threshold uses GRPO instead (null: never)" },
    entropyPivot: { type: "number", default: 0.8, min: 0, max: 1, doc: "quantile of ln(entropy) used as the pivot of the normalised entropy" },
    entropySign: { type: "enum", values: ["code", "paper"], default: "code", doc: "ĥ of low-entropy tokens: code (>= 0, the published sign) or paper (in [-1, 0])" },
    entropyScope: { type: "enum", values: ["batch", "group"], default: "batch", doc: "normalised-entropy statistics over the whole batch (reference) or per group" },
    normByStd: { type: "boolean", default: true, doc: "divide by the token-level std (false: R - mu, norm_adv_by_std_in_grpo=False)" },
    eps: { type: "number", default: 1e-6, min: 0, doc: "added to the std (token-level and GRPO fallback)" },
  },
  assign: hapo,
});
