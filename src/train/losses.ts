/**
 * Policy-gradient losses, KL penalties, the entropy bonus and loss aggregation, with verl's
 * semantics (core_algos: compute_policy_loss_*, kl_penalty, agg_loss).
 *
 * Layout: every per-token tensor is [B, T] (rows x positions) with a 0/1 `mask` of the
 * positions that count. Method weights are applied by `weightLoss` (loss x weight, and a
 * weight of 0 removes the token from the mask, hence from every token-count denominator).
 * Functions return tensors and must run inside tf.tidy / a gradient scope.
 */
import { tf } from "./policy/tf.js";
import { stopGradient } from "./policy/ops.js";

type T2 = tf.Tensor2D;

export type AggMode = "token-mean" | "token-sum" | "seq-mean-token-sum" | "seq-mean-token-mean" | "seq-mean-token-sum-norm";
export const AGG_MODES: readonly AggMode[] = ["token-mean", "token-sum", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm"];

export type KlKind = "k1" | "k2" | "k3" | "abs";
export const KL_KINDS: readonly KlKind[] = ["k1", "k2", "k3", "abs"];

/** A clip bound: one number for every token, or a [B, T] tensor (HAPO's per-token bounds). */
export type Bound = number | T2;

/**
 * verl agg_loss with dp_size 1. `scaleFactor` is seq-mean-token-sum-norm's divisor (verl's
 * loss_scale_factor, default the padded response length T). Sequences with no counted token
 * are left out of the sequence means; an all-masked batch gives 0, not NaN.
 */
export function aggLoss(loss: T2, mask: T2, mode: AggMode, scaleFactor?: number): tf.Scalar {
  const lm = tf.mul(loss, mask);
  switch (mode) {
    case "token-mean":
      return tf.div(tf.sum(lm), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
    case "token-sum":
      return tf.sum(lm) as tf.Scalar;
    case "seq-mean-token-sum":
    case "seq-mean-token-sum-norm":
    case "seq-mean-token-mean": {
      const counts = tf.sum(mask, 1);
      const seqMask = tf.cast(tf.greater(counts, 0), "float32");
      let seq = tf.sum(lm, 1);
      if (mode === "seq-mean-token-mean") seq = tf.div(seq, tf.add(counts, 1e-8));
      const mean = tf.div(tf.sum(tf.mul(seq, seqMask)), tf.maximum(tf.sum(seqMask), 1)) as tf.Scalar;
      return mode === "seq-mean-token-sum-norm" ? (tf.div(mean, scaleFactor ?? loss.shape[1]) as tf.Scalar) : mean;
    }
  }
}

/** Multiplies the loss by the method's weights and drops weight-0 tokens from the mask. */
export function weightLoss(loss: T2, mask: T2, weights: T2 | null): { loss: T2; mask: T2 } {
  if (!weights) return { loss, mask };
  return { loss: tf.mul(loss, weights) as T2, mask: tf.mul(mask, tf.cast(tf.greater(weights, 0), "float32")) as T2 };
}

export interface ClipOptions {
  epsLow: Bound;
  epsHigh: Bound;
  /** Dual-clip constant c > 1 for A < 0 (verl clip_ratio_c, 3); null = off. */
  clipC: number | null;
}

function clipRatio(ratio: T2, o: ClipOptions): T2 {
  const lo = typeof o.epsLow === "number" ? 1 - o.epsLow : tf.sub(1, o.epsLow);
  const hi = typeof o.epsHigh === "number" ? 1 + o.epsHigh : tf.add(1, o.epsHigh);
  return tf.minimum(tf.maximum(ratio, lo), hi) as T2;
}

/** r = exp(clamp(logp - old, +-20)) as verl. */
export function ratioOf(logp: T2, oldLogp: T2): T2 {
  return tf.exp(tf.clipByValue(tf.sub(logp, oldLogp), -20, 20)) as T2;
}

/**
 * verl `vanilla` PPO clip: L1 = max(-A r, -A clip(r, 1-eps_low, 1+eps_high)); with dual clip,
 * L = min(L1, -A c) where A < 0.
 */
export function ppoClipLoss(logp: T2, oldLogp: T2, adv: T2, o: ClipOptions): T2 {
  const ratio = ratioOf(logp, oldLogp);
  const negA = tf.neg(adv);
  const l1 = tf.maximum(tf.mul(negA, ratio), tf.mul(negA, clipRatio(ratio, o))) as T2;
  if (o.clipC === null) return l1;
  if (!(o.clipC > 1)) throw new Error("dual-clip constant clipC must be > 1");
  const l2 = tf.minimum(l1, tf.mul(negA, o.clipC));
  return tf.where(tf.less(adv, 0), l2, l1) as T2;
}

/**
 * verl `gspo`: log s_i = mean_t(logp - old) (masked), token ratio
 * log s_it = sg(log s_i) + logp - sg(logp), clamped <= 10; L = max(-A s, -A clip(s)).
 * verl forces seq-mean-token-mean aggregation for it; the trainer does the same.
 */
export function gspoLoss(logp: T2, oldLogp: T2, adv: T2, mask: T2, o: ClipOptions): T2 {
  const diff = tf.mul(tf.sub(logp, oldLogp), mask);
  const seqLen = tf.maximum(tf.sum(mask, 1, true), 1);
  const seqLog = tf.div(tf.sum(diff, 1, true), seqLen);
  const logS = tf.minimum(tf.add(stopGradient(seqLog), tf.sub(logp, stopGradient(logp))), 10);
  const s = tf.exp(logS) as T2;
  const negA = tf.neg(adv);
  return tf.maximum(tf.mul(negA, s), tf.mul(negA, clipRatio(s, { ...o, clipC: null }))) as T2;
}

/**
 * Geometric-mean ratio per segment (GMPO when each row is one segment, Rank-GRPO per item),
 * verl `geo_mean`: the log-ratio is clipped sign-aware in log space to [-eps_low, eps_high],
 * ratio_s = exp(mean over the segment's tokens), A_s = mean of the segment's advantages,
 * L = mean over segments of -A_s ratio_s. Returns the scalar (it ignores loss_agg_mode).
 *
 * `segment` [B*T] holds each position's segment index in [0, nSeg) or -1 (not counted).
 */
export function geoMeanLoss(logp: T2, oldLogp: T2, adv: T2, mask: T2, segment: Int32Array, nSeg: number, epsLow: number, epsHigh: number): tf.Scalar {
  const [B, T] = logp.shape;
  const member = new Float32Array(nSeg * B * T);
  for (let k = 0; k < B * T; k++) if (segment[k] >= 0) member[segment[k] * B * T + k] = 1;
  const M = tf.tensor2d(member, [nSeg, B * T]);
  const d = tf.sub(logp, oldLogp);
  const sgn = tf.sign(adv);
  const dc = tf.clipByValue(d, -epsLow, epsHigh);
  const dmin = tf.mul(sgn, tf.minimum(tf.mul(sgn, d), tf.mul(sgn, dc)));
  const col = (x: tf.Tensor) => tf.reshape(tf.mul(x, mask), [B * T, 1]) as T2;
  // Counts come from the mask alone, so nothing non-differentiable sits on the logp path.
  const rawCounts = tf.matMul(M, tf.reshape(mask, [B * T, 1]));
  const counts = tf.maximum(rawCounts, 1);
  const ratio = tf.exp(tf.div(tf.matMul(M, col(dmin)), counts));
  const segAdv = tf.div(tf.matMul(M, col(adv)), counts);
  const present = tf.cast(tf.greater(rawCounts, 0), "float32");
  return tf.div(tf.sum(tf.mul(tf.mul(tf.neg(segAdv), ratio), present)), tf.maximum(tf.sum(present), 1)) as tf.Scalar;
}

/** verl `cispo`: L = -sg(clip(r, 1-eps_low, 1+eps_high)) A logp. */
export function cispoLoss(logp: T2, oldLogp: T2, adv: T2, o: ClipOptions): T2 {
  const w = stopGradient(clipRatio(ratioOf(logp, oldLogp), { ...o, clipC: null }));
  return tf.neg(tf.mul(tf.mul(w, adv), logp)) as T2;
}

/**
 * verl kl_penalty: k1 = logp - ref; abs = |logp - ref|; k2 = 0.5 (logp - ref)^2;
 * k3 (low_var_kl) = e^x - x - 1 with x = clamp(ref - logp, +-20), clamped to [-10, 10].
 */
export function klPenalty(logp: T2, refLogp: T2, kind: KlKind): T2 {
  const d = tf.sub(logp, refLogp);
  switch (kind) {
    case "k1":
      return d as T2;
    case "abs":
      return tf.abs(d) as T2;
    case "k2":
      return tf.mul(0.5, tf.square(d)) as T2;
    case "k3": {
      const x = tf.clipByValue(tf.neg(d), -20, 20);
      return tf.clipByValue(tf.sub(tf.sub(tf.exp(x), x), 1), -10, 10) as T2;
    }
  }
}

/** Host-side KL penalty (for KL in the reward, where no gradient is needed). */
export function klPenaltyHost(logp: number, ref: number, kind: KlKind): number {
  const d = logp - ref;
  switch (kind) {
    case "k1":
      return d;
    case "abs":
      return Math.abs(d);
    case "k2":
      return 0.5 * d * d;
    case "k3": {
      const x = Math.max(-20, Math.min(20, -d));
      return Math.max(-10, Math.min(10, Math.exp(x) - x - 1));
    }
  }
}

/** Policy-gradient loss kinds the trainer offers. */
export type PolicyLossKind = "ppo" | "gspo" | "gmpo" | "geo-segment" | "cispo";
export const POLICY_LOSSES: readonly PolicyLossKind[] = ["ppo", "gspo", "gmpo", "geo-segment", "cispo"];

/** What a policy loss sees of a minibatch ([B, T] tensors; masks are 1 on response tokens). */
export interface PolicyLossInput {
  logp: T2;
  old: T2;
  adv: T2;
  /** The response mask. */
  mask: T2;
  /** Per-token loss weights of the method (null: all 1). */
  weights: T2 | null;
  clip: ClipOptions;
  /** The configured clip range as numbers (clip's bounds may be per-token tensors, e.g. HAPO's). */
  epsLow: number;
  epsHigh: number;
  /** The aggregation mode (the loss's own when it fixes one, else the configured one). */
  aggMode: AggMode;
  /** Longest response, for seq-mean-token-sum-norm. */
  scaleFactor: number;
  /** Segment id per position (-1 outside), for the geometric-mean losses. */
  segment: Int32Array | null;
  nSeg: number;
}

/** One policy loss of the registry: the scalar it minimises and the segments it needs. */
export interface PolicyLossSpec {
  readonly name: PolicyLossKind;
  readonly doc: string;
  /** Segment ids the loss needs: one per response ("row") or one per step ("step"). */
  readonly segments?: "row" | "step";
  /** The aggregation the loss is defined with, over the configured one (also for the KL and entropy terms). */
  readonly aggMode?: AggMode;
  readonly loss: (x: PolicyLossInput) => tf.Scalar;
}

/** Token losses weighted by the method's weights and aggregated with the configured mode. */
function tokenLoss(per: (x: PolicyLossInput) => T2): (x: PolicyLossInput) => tf.Scalar {
  return (x) => {
    const w = weightLoss(per(x), x.mask, x.weights);
    return aggLoss(w.loss, w.mask, x.aggMode, x.scaleFactor);
  };
}

/** Geometric-mean losses: weights scale the advantage (there is no per-token loss to scale). */
function geoLoss(x: PolicyLossInput): tf.Scalar {
  const adv = x.weights ? (tf.mul(x.adv, x.weights) as T2) : x.adv;
  const { mask } = weightLoss(x.mask, x.mask, x.weights);
  return geoMeanLoss(x.logp, x.old, adv, mask, x.segment as Int32Array, x.nSeg, x.epsLow, x.epsHigh);
}

/** Every policy loss the trainer offers, by the name `loss.policyLoss` takes. */
export const POLICY_LOSS_REGISTRY: Readonly<Record<PolicyLossKind, PolicyLossSpec>> = {
  ppo: { name: "ppo", doc: "PPO clip with separate low/high ranges and dual clip", loss: tokenLoss((x) => ppoClipLoss(x.logp, x.old, x.adv, x.clip)) },
  gspo: { name: "gspo", doc: "GSPO: sequence-level ratio (arXiv 2507.18071), seq-mean-token-mean", aggMode: "seq-mean-token-mean", loss: tokenLoss((x) => gspoLoss(x.logp, x.old, x.adv, x.mask, x.clip)) },
  gmpo: { name: "gmpo", doc: "GMPO: geometric mean of token ratios per response (arXiv 2507.20673)", segments: "row", loss: geoLoss },
  "geo-segment": { name: "geo-segment", doc: "geometric mean of token ratios per step segment", segments: "step", loss: geoLoss },
  cispo: { name: "cispo", doc: "CISPO: clipped importance-sampling weights (MiniMax-M1, arXiv 2506.13585)", loss: tokenLoss((x) => cispoLoss(x.logp, x.old, x.adv, x.clip)) },
};
