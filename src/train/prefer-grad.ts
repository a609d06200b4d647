/**
 * The gradient path shared by every `creditflow prefer` objective. A host-side loss (one of the
 * pure functions of src/preference) gives its exact gradient G with respect to the policy's
 * logits; the backward pass of the surrogate sum(stopgrad(G) * logits) then gives the loss's
 * parameter gradient (chain rule). A gradient g with respect to the log-prob of token y at row t
 * is the logit gradient g (onehot(y) - p_t).
 */
import { tf } from "./policy/tf.js";
import type { Policy } from "./policy/model.js";
import { packPairs, type PackedBatch } from "./policy/batching.js";

/** Adds g (onehot(y) - softmax row t) into `out` at row t: d/dz of a loss whose d/d lp_t(y) is g. `lp` holds log-softmax rows. */
export function addLogpGrad(lp: Float64Array, t: number, y: number, g: number, V: number, out: Float64Array): void {
  if (g === 0) return;
  const o = t * V;
  for (let v = 0; v < V; v++) out[o + v] -= g * Math.exp(lp[o + v]);
  out[o + y] += g;
}

/** The loss of a packed batch from its flat logits [B*T*V], and the gradient with respect to them. */
export type HostLoss = (flat: Float32Array, pb: PackedBatch) => { loss: number; gz: Float32Array };

/**
 * The loss of `pb` and its gradient with respect to every parameter (keyed by parameter name): a
 * forward pass, the host loss and its logit gradient G, the backward pass of sum(G * logits). A
 * loss that is not finite is an error naming `what`. The caller disposes the gradients.
 */
export function surrogateGrads(policy: Policy, pb: PackedBatch, host: HostLoss, what: string): { loss: number; grads: Map<string, tf.Tensor> } {
  const V = policy.config.vocabSize;
  let loss = 0;
  const byName = new Map([...policy.params].map(([n, p]) => [p.name, n]));
  const { value, grads } = tf.variableGrads(() => {
    const logits = policy.forward(pb.tokens, pb.B, pb.T);
    const r = host(logits.dataSync() as Float32Array, pb);
    loss = r.loss;
    return tf.sum(tf.mul(logits, tf.tensor2d(r.gz, [pb.B * pb.T, V]))) as tf.Scalar;
  });
  value.dispose();
  if (!Number.isFinite(loss)) {
    tf.dispose(Object.values(grads));
    throw new Error(`prefer: the ${what} loss is not finite (${loss})`);
  }
  const named = new Map<string, tf.Tensor>();
  for (const [vn, g] of Object.entries(grads)) named.set(byName.get(vn) as string, g);
  return { loss, grads: named };
}

/** The rows of packed sequence i: where its response's logits start in the flat array, and a copy of them [len*V]. */
export function responseRows(flat: Float32Array, pb: PackedBatch, i: number, V: number): { from: number; z: Float64Array } {
  const from = (i * pb.T + pb.start[i]) * V;
  return { from, z: Float64Array.from(flat.subarray(from, from + pb.len[i] * V)) };
}

/**
 * The batch mean of a per-response loss over `seqs` and its parameter gradients: `perResponse(i, z)`
 * gives response i's loss and its gradient with respect to its logits `z` [len*V] (InTRO's
 * rationales, RMT's corpus sequences).
 */
export function meanResponseGrads(policy: Policy, seqs: readonly { prompt: readonly number[]; response: readonly number[] }[], pad: number, perResponse: (i: number, z: Float64Array) => { loss: number; grad: Float64Array }, what: string): { loss: number; grads: Map<string, tf.Tensor> } {
  const V = policy.config.vocabSize;
  const pb = packPairs(seqs, pad);
  const n = seqs.length;
  return surrogateGrads(policy, pb, (flat) => {
    const gz = new Float32Array(flat.length);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const rows = responseRows(flat, pb, i, V);
      const res = perResponse(i, rows.z);
      loss += res.loss / n;
      for (let j = 0; j < res.grad.length; j++) gz[rows.from + j] = res.grad[j] / n;
    }
    return { loss, gz };
  }, what);
}
