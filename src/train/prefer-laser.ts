/**
 * LaSeR's self-reward loss on its own, for `creditflow prefer --method laser-loss` (Yang et al.,
 * 2025; reference code RUCBM/LaSeR; the loss is src/preference/laser.ts). Each update samples G
 * responses per prompt from the current policy, appends the self-reward token z_c after the eos of
 * every finished one and trains r_s = beta_v (log pi(z_c | x, y, EOS) - c) towards the verifier's
 * 0/1 with the balanced MSE L_SR. Unfinished responses have no EOS to score after and take no part
 * (the loss's truncation rule). Only the z_c position carries a gradient.
 *
 * DEPARTURE: LaSeR adds alpha L_SR to a GRPO actor loss on the same rollouts (methods.md Part 3
 * section 13); here the self-reward term trains alone, the policy-gradient half being `creditflow
 * train --method laser`. What it trains is the self-verification the paper also uses at inference.
 * z_c is "z" (no task writes it); c = -23, beta_v 0.1 and balanced weights are the paper scripts'
 * values (Qwen2.5-7B). The range matters: r_s = 0.1 (log pi(z_c) + 23) reaches the targets 0 and 1
 * at log pi(z_c) = -23 and -13. (c = log(1/V) would cap r_s at 0.1 log V, 0.39 on the tasks'
 * 49 tokens: the target 1 and the paper's r_s > 0.5 "correct" threshold out of reach.) Scored at
 * temperature 1.
 */
import { ConfigError } from "../core/errors.js";
import type { Task } from "../tasks/types.js";
import type { Policy } from "./policy/model.js";
import { packPairs } from "./policy/batching.js";
import { responseLogits } from "./prefer-pairs.js";
import { addLogpGrad, responseRows, surrogateGrads } from "./prefer-grad.js";
import { logSoftmaxRows } from "../preference/common.js";
import { selfRewardLossWithGrad } from "../preference/laser.js";
import { selfRewardScore } from "../methods/laser.js";
import type { tf } from "./policy/tf.js";

export interface SelfRewardSetup {
  token: number;
  c: number;
  betaV: number;
}

/** The paper scripts' ref_model_log_ratio_constant (Qwen2.5-7B, ORZ-7B). */
export const LASER_C = -23;

/** z_c, c and beta_v on the task's vocabulary (see the file comment). */
export function selfRewardSetup(task: Task): SelfRewardSetup {
  let ids: number[];
  try {
    ids = task.vocab.encode("z");
  } catch {
    throw new ConfigError(`laser-loss: task '${task.name}' has no token "z" to use as the self-reward token`);
  }
  return { token: ids[0], c: LASER_C, betaV: 0.1 };
}

/** A finished response (eos last) and its verifier reward (1 correct, 0 not). */
export interface SelfRewardItem {
  prompt: readonly number[];
  response: readonly number[];
  verifier: number;
}

const withToken = (items: readonly SelfRewardItem[], token: number) => items.map((it) => ({ prompt: it.prompt, response: [...it.response, token] }));

/** log pi(z_c | x, y, EOS) from the rows of one packed (prompt, response + z_c): the last row. */
function lastRowLogp(z: Float64Array, V: number, token: number): { lp: Float64Array; at: number } {
  const R = z.length / V;
  const lp = logSoftmaxRows(z.subarray((R - 1) * V), V);
  return { lp, at: lp[token] };
}

/** The self-rewards r_s of `items` under `policy` (no gradient). */
export function selfRewards(policy: Policy, items: readonly SelfRewardItem[], s: SelfRewardSetup, pad: number): Float64Array {
  const V = policy.config.vocabSize;
  const z = responseLogits(policy, withToken(items, s.token), pad);
  return Float64Array.from(z, (rows) => selfRewardScore(lastRowLogp(rows, V, s.token).at, s.c, s.betaV));
}

/**
 * How well the self-reward predicts the verifier (r_s > 0.5 means correct, as the paper): the
 * balanced accuracy, the mean of the rates on correct and on incorrect items (0.5 is chance
 * whatever the base rate; a class with no item is left out).
 */
export function selfRewardAccuracy(scores: ArrayLike<number>, items: readonly SelfRewardItem[]): number {
  const right = [0, 0], total = [0, 0];
  items.forEach((it, i) => {
    const k = it.verifier > 0.5 ? 1 : 0;
    total[k]++;
    if (scores[i] > 0.5 === (k === 1)) right[k]++;
  });
  const rates = [0, 1].filter((k) => total[k] > 0).map((k) => right[k] / total[k]);
  return rates.length === 0 ? 0 : rates.reduce((a, b) => a + b, 0) / rates.length;
}

/** L_SR of `items` (balanced) and its parameter gradients; the self-rewards it saw. */
export function laserGrads(policy: Policy, items: readonly SelfRewardItem[], s: SelfRewardSetup, pad: number): { loss: number; grads: Map<string, tf.Tensor>; selfReward: Float64Array } {
  const V = policy.config.vocabSize;
  const pb = packPairs(withToken(items, s.token), pad);
  let selfReward: Float64Array = new Float64Array(0);
  const { loss, grads } = surrogateGrads(policy, pb, (flat) => {
    const gz = new Float32Array(flat.length);
    const rows = items.map((_, i) => responseRows(flat, pb, i, V));
    const last = rows.map((r) => lastRowLogp(r.z, V, s.token));
    const res = selfRewardLossWithGrad(Float64Array.from(last, (l) => l.at), items.map((it) => it.verifier), items.map(() => 1), { betaV: s.betaV, c: s.c, balanced: true });
    selfReward = res.selfReward;
    rows.forEach((r, i) => {
      const g = new Float64Array(V);
      addLogpGrad(last[i].lp, 0, s.token, res.grad[i], V, g);
      const from = r.from + r.z.length - V;
      for (let v = 0; v < V; v++) gz[from + v] = g[v];
    });
    return { loss: res.loss, gz };
  }, "laser-loss");
  return { loss, grads, selfReward };
}
