/**
 * LaSeR's trainer side (methods.md Part 3 §13): beside the policy gradient, the policy learns to
 * predict its own verifier reward with the self-reward token, by the MSE loss
 *   alpha L_SR = alpha mean over the minibatch's finished rows i of w_i (r_s,i - r_v,i)^2,
 *   r_s = beta_v (T log pi_T(z_c | x, y, eos) - c),
 * with balanced weights w counted over the step's whole batch (`selfRewardWeights`, the method's
 * own), alpha 0.1 and balanced weights as the paper scripts. The self-reward signal the method's
 * advantages read is sampled by the episode runner (src/train/episodes.ts) with the same scoring
 * and the same settings (`selfRewardOptions`). Not offered: the reference's warm-up steps before
 * the advantages integrate the self-reward (the scripts' 0 for Qwen) and a real reference model for c.
 */
import { tf } from "../policy/tf.js";
import { selfRewardWeights } from "../../methods/laser.js";
import { selfRewardLogprobs, selfRewardOptions } from "../episodes.js";
import type { Rollout } from "../rollouts.js";
import type { AdapterFactory, MethodAdapter } from "./types.js";

/** alpha: the self-reward loss coefficient (reference `self_reward_loss_coef`). */
export const SELF_REWARD_LOSS_COEF = 0.1;
/** The paper scripts weigh correct and incorrect samples equally (`self_reward_loss_balanced`). */
const BALANCED = true;

export const laserAdapter: AdapterFactory = { method: "laser", create };

function create(): MethodAdapter {
  // The step's balanced weights, computed once per batch of rollouts.
  let batch: readonly Rollout[] | null = null;
  let weights: ArrayLike<number> = [];
  return {
    auxLoss({ policy, task, rollouts, idx, temperature }) {
      const opts = selfRewardOptions(task);
      if (opts === null) return null;
      if (batch !== rollouts) {
        batch = rollouts;
        weights = selfRewardWeights(rollouts.map((r) => r.verdict.reward), rollouts.map((r) => r.finished), BALANCED).weights;
      }
      const rows = idx.filter((i) => rollouts[i].finished);
      if (rows.length === 0) return null;
      const lp = selfRewardLogprobs(policy, rows.map((i) => ({ prefix: [...rollouts[i].prompt.tokens, ...rollouts[i].tokens], token: opts.token })), task.vocab.pad, temperature);
      const rs = tf.mul(opts.betaV, tf.sub(lp, opts.c));
      const err = tf.square(tf.sub(rs, tf.tensor1d(rows.map((i) => rollouts[i].verdict.reward))));
      const lsr = tf.div(tf.sum(tf.mul(err, tf.tensor1d(rows.map((i) => weights[i])))), rows.length);
      return tf.mul(SELF_REWARD_LOSS_COEF, lsr) as tf.Scalar;
    },
  };
}
