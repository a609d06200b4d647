/**
 * The loss of one minibatch: the policy's log-probs at the sampling temperature, the configured
 * policy loss from the registry (ppo, dual-clip, gspo, gmpo, cispo, ...), the KL to the reference
 * and the entropy bonus, plus verl's metrics (clip fraction, approximate KL to the sampler,
 * entropy). Per-token loss shaping from the method's adapter, if any, adjusts the clip bounds and
 * advantages on the host first.
 */
import { tf } from "./policy/tf.js";
import type { Policy } from "./policy/model.js";
import { entropyFromLogits, selectLogProbs } from "./policy/ops.js";
import { packPairs, scatter, type PackedBatch } from "./policy/batching.js";
import { aggLoss, klPenalty, POLICY_LOSS_REGISTRY, ratioOf, weightLoss, type Bound } from "./losses.js";
import type { TrainConfig } from "./config.js";
import type { LossShaping } from "./adapters/index.js";
import type { Rollout } from "./rollouts.js";

/** One minibatch, prepared on the host. */
export interface Minibatch {
  pb: PackedBatch;
  adv: Float32Array;
  old: Float32Array;
  weights: Float32Array | null;
  ref: Float32Array | null;
  /** Segment index per position, for the losses that aggregate per segment (-1 on padding). */
  segment: Int32Array | null;
  nSeg: number;
  /** The adapter's per-token inputs to its loss shaping. */
  shapingInput: Float32Array | null;
}

/** Per-rollout arrays of one step, indexed like its rollouts. */
export interface StepArrays {
  adv: readonly Float64Array[];
  oldLogp: readonly (readonly number[])[];
  weights: readonly Float64Array[] | null;
  refLogp: readonly (readonly number[])[] | null;
  shaping: LossShaping | null;
}

/** Segment id of each response token: one segment per row, or one per step for `segments: "step"` losses. */
function segmentsOf(r: Rollout, perStep: boolean): number[] {
  const ends = perStep ? new Set(r.segmentEnds ?? r.verdict.stepEnds ?? []) : new Set<number>();
  const out: number[] = [];
  let s = 0;
  for (let k = 0; k < r.tokens.length; k++) {
    out.push(s);
    if (ends.has(k)) s++;
  }
  return out;
}

export function buildMinibatch(config: TrainConfig, pad: number, rollouts: readonly Rollout[], idx: readonly number[], a: StepArrays): Minibatch {
  const rs = idx.map((i) => rollouts[i]);
  const pb = packPairs(rs.map((r) => ({ prompt: r.prompt.tokens, response: r.tokens })), pad);
  // Environment tokens of a transcript (mask 0) are context only: out of the loss, its denominators and its metrics.
  rs.forEach((r, i) => r.mask?.forEach((m, k) => (pb.mask[i * pb.T + pb.start[i] + k] *= m)));
  const lossSpec = POLICY_LOSS_REGISTRY[config.loss.policyLoss];
  let segment: Int32Array | null = null, nSeg = 0;
  if (lossSpec.segments) {
    const local = rs.map((r) => segmentsOf(r, lossSpec.segments === "step"));
    const offs: number[] = [];
    for (const l of local) {
      offs.push(nSeg);
      nSeg += l.length ? l[l.length - 1] + 1 : 0;
    }
    const seg = new Int32Array(pb.B * pb.T).fill(-1);
    local.forEach((l, i) => l.forEach((s, k) => (seg[i * pb.T + pb.start[i] + k] = offs[i] + s)));
    segment = seg;
  }
  const pick = <T>(xs: readonly T[]) => idx.map((i) => xs[i]);
  return {
    pb, adv: scatter(pb, pick(a.adv)), old: scatter(pb, pick(a.oldLogp)),
    weights: a.weights ? scatter(pb, pick(a.weights)) : null,
    ref: a.refLogp ? scatter(pb, pick(a.refLogp)) : null,
    segment, nSeg, shapingInput: a.shaping ? scatter(pb, pick(a.shaping.perToken)) : null,
  };
}

/** The scalar loss of one minibatch; `stats` receives kept metric tensors (clipfrac, ppo_kl, entropy[, kl_ref]). */
export function minibatchLoss(policy: Policy, c: TrainConfig, scaleFactor: number, mb: Minibatch, shaping: LossShaping | null, stats: tf.Tensor[]): tf.Scalar {
  const { pb } = mb;
  const shape: [number, number] = [pb.B, pb.T];
  const logits = tf.div(policy.forward(pb.tokens, pb.B, pb.T), c.sampling.temperature) as tf.Tensor2D;
  const logp = tf.reshape(selectLogProbs(logits, pb.targets), shape) as tf.Tensor2D;
  const old = tf.tensor2d(mb.old, shape);
  let adv = tf.tensor2d(mb.adv, shape) as tf.Tensor2D;
  const mask0 = tf.tensor2d(pb.mask, shape);
  // Entropy is always computed: it is a logged metric, and the bonus uses it when entropyCoef != 0.
  const ent = tf.reshape(entropyFromLogits(logits), shape) as tf.Tensor2D;
  let epsLow: Bound = c.loss.epsLow, epsHigh: Bound = c.loss.epsHigh;
  if (shaping && mb.shapingInput) {
    // The ratio only selects a zone (no gradient), so it is read on the host.
    const ratio = tf.tidy(() => ratioOf(logp, old).dataSync() as Float32Array);
    const s = shaping.shape({ adv: mb.adv, ratio, mask: pb.mask, perToken: mb.shapingInput, epsLow: c.loss.epsLow, epsHigh: c.loss.epsHigh });
    epsLow = tf.tensor2d(s.epsLow, shape);
    epsHigh = tf.tensor2d(s.epsHigh, shape);
    adv = tf.tensor2d(s.adv, shape);
  }
  const clip = { epsLow, epsHigh, clipC: c.loss.clipC };
  const wts = mb.weights ? tf.tensor2d(mb.weights, shape) : null;
  const { mask } = weightLoss(mask0 as tf.Tensor2D, mask0 as tf.Tensor2D, wts);
  const lossSpec = POLICY_LOSS_REGISTRY[c.loss.policyLoss];
  const agg = lossSpec.aggMode ?? c.loss.aggMode;
  const pg = lossSpec.loss({
    logp, old, adv, mask: mask0 as tf.Tensor2D, weights: wts, clip, epsLow: c.loss.epsLow, epsHigh: c.loss.epsHigh,
    aggMode: agg, scaleFactor, segment: mb.segment, nSeg: mb.nSeg,
  });
  let total: tf.Scalar = pg;
  if (mb.ref && c.loss.klCoef > 0 && !c.loss.klInReward) {
    const kl = klPenalty(logp, tf.tensor2d(mb.ref, shape), c.loss.klKind);
    const klAgg = aggLoss(kl, mask, agg, scaleFactor);
    total = tf.add(total, tf.mul(c.loss.klCoef, klAgg)) as tf.Scalar;
    stats.push(tf.keep(klAgg));
  }
  if (c.loss.entropyCoef !== 0) total = tf.sub(total, tf.mul(c.loss.entropyCoef, aggLoss(ent, mask, agg, scaleFactor))) as tf.Scalar;
  // Metrics (verl): clip fraction and the approximate KL to the sampling policy, token means.
  const ratio = ratioOf(logp, old);
  const lo = typeof epsLow === "number" ? 1 - epsLow : tf.sub(1, epsLow);
  const hi = typeof epsHigh === "number" ? 1 + epsHigh : tf.add(1, epsHigh);
  const clipped = tf.cast(tf.logicalOr(tf.less(ratio, lo), tf.greater(ratio, hi)), "float32") as tf.Tensor2D;
  stats.unshift(
    tf.keep(aggLoss(clipped, mask, "token-mean")),
    tf.keep(aggLoss(tf.sub(old, logp) as tf.Tensor2D, mask, "token-mean")),
    tf.keep(aggLoss(ent, mask, "token-mean")),
  );
  return total;
}
