/**
 * The small op layer that hides the wasm backend's gaps, so the model and the losses read as
 * plain maths:
 *
 * - gather has no gradient on wasm: embeddings are a one-hot matrix times the table, and the
 *   log-prob of the chosen token is a one-hot dot product with log-softmax.
 * - matMul's own gradient uses transpose flags, ~10x slower on wasm than an explicit
 *   transpose: `matmul` / `bmm` carry a custom gradient built from explicit transposes.
 *
 * Every function is backend-neutral, so the cpu backend runs the same graph (the ops test
 * compares the two).
 */
import { tf } from "./tf.js";

type T2 = tf.Tensor2D;
type T3 = tf.Tensor3D;

const matmul2 = tf.customGrad(((a: T2, b: T2, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: T2, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [T2, T2];
      return [tf.matMul(dy, tf.transpose(sb)), tf.matMul(tf.transpose(sa), dy)];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (a: T2, b: T2) => T2;

const bmm3 = tf.customGrad(((a: T3, b: T3, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: T3, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [T3, T3];
      return [tf.matMul(dy, tf.transpose(sb, [0, 2, 1])), tf.matMul(tf.transpose(sa, [0, 2, 1]), dy)];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (a: T3, b: T3) => T3;

/** a [m,k] @ b [k,n] with an explicit-transpose gradient. */
export function matmul(a: T2, b: T2): T2 {
  return matmul2(a, b);
}

/** Batched a [B,m,k] @ b [B,k,n] with an explicit-transpose gradient. */
export function bmm(a: T3, b: T3): T3 {
  return bmm3(a, b);
}

/** One-hot rows [ids.length, depth] as float32 (a constant: no gradient needed through ids). */
export function oneHot(ids: Int32Array, depth: number): T2 {
  return tf.oneHot(tf.tensor1d(ids, "int32"), depth).toFloat() as T2;
}

/** Embedding lookup table[ids] as one-hot @ table, so the table gets a gradient on wasm. */
export function embed(ids: Int32Array, table: T2): T2 {
  return matmul(oneHot(ids, table.shape[0]), table);
}

/** log softmax(logits)[k, targets[k]] for each row k: [N]. */
export function selectLogProbs(logits: T2, targets: Int32Array): tf.Tensor1D {
  const lsm = tf.logSoftmax(logits);
  return tf.sum(tf.mul(lsm, oneHot(targets, logits.shape[1])), 1) as tf.Tensor1D;
}

/** Entropy of softmax(logits) per row, logsumexp(z) - sum softmax(z) z (verl entropy_from_logits): [N]. */
export function entropyFromLogits(logits: T2): tf.Tensor1D {
  const lse = tf.logSumExp(logits, 1);
  const p = tf.softmax(logits);
  return tf.sub(lse, tf.sum(tf.mul(p, logits), 1)) as tf.Tensor1D;
}

/** RMSNorm over the last axis with a learned gain (no bias, as llama): x / sqrt(mean x^2 + eps) * g. */
export function rmsNorm(x: T2, gain: tf.Tensor1D, eps: number): T2 {
  const ms = tf.mean(tf.square(x), 1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, eps))), gain) as T2;
}

/** SiLU x * sigmoid(x). */
export function silu(x: T2): T2 {
  return tf.mul(x, tf.sigmoid(x)) as T2;
}

const stopGrad = tf.customGrad(((x: tf.Tensor) => ({
  value: tf.clone(x),
  gradFunc: (dy: tf.Tensor) => [tf.zerosLike(dy)],
})) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as <R extends tf.Tensor>(x: R) => R;

/** The value of x with no gradient flowing back (torch's .detach()). */
export function stopGradient<R extends tf.Tensor>(x: R): R {
  return stopGrad(x);
}
