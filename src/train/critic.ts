/**
 * The critic: a value model V(s_t) for the methods that read `values` (gae as PPO's baseline,
 * ma-rlhf, poad, ...). As in verl, a separate network: the policy's architecture, initialised
 * from the warm start, with a linear value head on the final hidden state in place of the
 * vocabulary projection, trained by its own Adam with verl's clipped value loss
 *   vf = 0.5 * agg(max((V - R)^2, (clip(V, V_old - c, V_old + c) - R)^2))
 * (`compute_value_loss`, cliprange_value c). V(s_t) is read at the position that predicts
 * response token t, so it is the value of the state before the token, as verl's
 * `values[:, -response_length - 1:-1]`.
 */
import { tf } from "./policy/tf.js";
import { Policy, type ModelConfig } from "./policy/model.js";
import { Adam, lrAt, type AdamState } from "./policy/optim.js";
import { gather, packPairs, type PackedBatch } from "./policy/batching.js";
import { aggLoss, type AggMode } from "./losses.js";
import type { OptimConfig } from "./policy/optim.js";
import type { Rollout } from "./rollouts.js";

export interface CriticConfig {
  /** "auto": a critic exactly when the method reads values; "on" / "off" force it. */
  use: "auto" | "on" | "off";
  /** Adam learning rate of the critic (its other Adam settings are the policy's). */
  lr: number;
  /** verl's cliprange_value: how far a value may move from its rollout-time estimate before the loss clips. */
  cliprangeValue: number;
  /** Steps at the start of the run in which only the critic learns (verl's critic_warmup). */
  warmupSteps: number;
}

export const DEFAULT_CRITIC: CriticConfig = { use: "auto", lr: 1e-3, cliprangeValue: 0.5, warmupSteps: 0 };

export const VALUE_HEAD = "value_head.weight";
export const VALUE_BIAS = "value_head.bias";

export interface CriticState {
  weights: Map<string, Float32Array>;
  adam: AdamState;
}

export class Critic {
  readonly trunk: Policy;
  readonly params: Map<string, tf.Variable>;
  readonly opt: Adam;
  private readonly byVarName: Map<string, string>;

  constructor(readonly model: ModelConfig, readonly optim: OptimConfig, init: Map<string, Float32Array>, state: CriticState | null) {
    const weights = state ? state.weights : init;
    this.trunk = new Policy(model, weights);
    const head = weights.get(VALUE_HEAD) ?? new Float32Array(model.dModel);
    const bias = weights.get(VALUE_BIAS) ?? new Float32Array(1);
    this.params = new Map(this.trunk.params);
    this.params.set(VALUE_HEAD, tf.variable(tf.tensor2d(head, [model.dModel, 1]), true, `${VALUE_HEAD}#critic`));
    this.params.set(VALUE_BIAS, tf.variable(tf.tensor1d(bias), true, `${VALUE_BIAS}#critic`));
    this.opt = new Adam(optim, this.params);
    if (state) this.opt.load(state.adam);
    this.byVarName = new Map([...this.params].map(([n, v]) => [v.name, n]));
  }

  /** Values [B*T] of a packed batch (call inside tf.tidy or a gradient function). */
  private forward(pb: PackedBatch): tf.Tensor1D {
    const cap: { hidden: tf.Tensor2D[] } = { hidden: [] };
    // The trunk's logits are not used; the hidden state before them is.
    this.trunk.forward(pb.tokens, pb.B, pb.T, cap);
    const h = cap.hidden[0];
    const v = tf.add(tf.reshape(tf.matMul(h, this.params.get(VALUE_HEAD) as tf.Tensor2D), [pb.B * pb.T]), this.params.get(VALUE_BIAS) as tf.Tensor1D) as tf.Tensor1D;
    return v;
  }

  /** V(s_t) for every response token of every rollout (no gradient). */
  values(rollouts: readonly Rollout[], pad: number): number[][] {
    const out: number[][] = [];
    for (let a = 0; a < rollouts.length; a += 32) {
      const rs = rollouts.slice(a, a + 32);
      const pb = packPairs(rs.map((r) => ({ prompt: r.prompt.tokens, response: r.tokens })), pad);
      const v = tf.tidy(() => this.forward(pb));
      const host = v.dataSync();
      v.dispose();
      for (const row of gather(pb, host)) out.push(Array.from(row));
    }
    return out;
  }

  /**
   * One clipped value-loss update on a minibatch: `returns` and `oldValues` scattered like the
   * batch's positions. Returns the loss and the fraction of tokens where the clipped term won.
   */
  update(pb: PackedBatch, returns: Float32Array, oldValues: Float32Array, aggMode: AggMode, scaleFactor: number, cliprange: number, lr: number): { loss: number; clipfrac: number } {
    const shape: [number, number] = [pb.B, pb.T];
    let clipfrac = 0;
    const { value, grads } = tf.variableGrads(() => {
      const v = tf.reshape(this.forward(pb), shape) as tf.Tensor2D;
      const R = tf.tensor2d(returns, shape), old = tf.tensor2d(oldValues, shape), mask = tf.tensor2d(pb.mask, shape);
      const clipped = tf.add(old, tf.clipByValue(tf.sub(v, old), -cliprange, cliprange));
      const l1 = tf.square(tf.sub(v, R)), l2 = tf.square(tf.sub(clipped, R));
      const frac = aggLoss(tf.cast(tf.greater(l2, l1), "float32") as tf.Tensor2D, mask, "token-mean");
      clipfrac = frac.dataSync()[0];
      return tf.mul(0.5, aggLoss(tf.maximum(l1, l2) as tf.Tensor2D, mask, aggMode, scaleFactor)) as tf.Scalar;
    }, [...this.params.values()]);
    const named = new Map<string, tf.Tensor>();
    for (const [vn, g] of Object.entries(grads)) named.set(this.byVarName.get(vn) as string, g);
    this.opt.step(named, lr);
    const loss = value.dataSync()[0];
    tf.dispose([value, ...Object.values(grads)]);
    return { loss, clipfrac };
  }

  /** The critic's learning rate at its next update (the policy's schedule, the critic's lr). */
  lrAt(totalUpdates: number): number {
    return lrAt(this.optim, this.opt.t, totalUpdates);
  }

  state(): CriticState {
    const weights = this.trunk.weights();
    weights.set(VALUE_HEAD, Float32Array.from(this.params.get(VALUE_HEAD)!.dataSync() as Float32Array));
    weights.set(VALUE_BIAS, Float32Array.from(this.params.get(VALUE_BIAS)!.dataSync() as Float32Array));
    return { weights, adam: this.opt.state() };
  }

  dispose(): void {
    this.trunk.dispose();
    this.params.get(VALUE_HEAD)?.dispose();
    this.params.get(VALUE_BIAS)?.dispose();
    this.opt.dispose();
  }
}
