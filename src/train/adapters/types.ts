/**
 * Method adapters: the one place that says what a credit method needs from the sampler and the
 * model beyond plain groups of responses, and how its output enters the loss beyond per-token
 * advantages and weights. The trainer and CreditBench run every method through its adapter and
 * name none of them; a method without one gets the default (groups in, `runMethod` out).
 */
import type { Task, TaskPrompt } from "../../tasks/types.js";
import type { TrainConfig } from "../config.js";
import type { Rng } from "../rng.js";
import type { Policy } from "../policy/model.js";
import type { tf } from "../policy/tf.js";
import type { SampleOptions } from "../policy/sampler.js";
import type { BatchSampler, Generated, Rollout } from "../rollouts.js";

/** What an adapter sees of the run while it samples. */
export interface SamplingContext {
  readonly config: TrainConfig;
  readonly task: Task;
  readonly sampler: BatchSampler;
  readonly options: SampleOptions;
  readonly rng: Rng;
  /** Steps done so far (ids of the step's rollouts). */
  readonly step: number;
  /** The policy being trained (scoring during collection, e.g. LaSeR's self-reward token). */
  readonly policy?: Policy;
}

/**
 * Per-token loss shaping on the host: new clip bounds and advantages for a minibatch, given the
 * ratio pi/pi_old of its tokens (as a value: the shaping selects a zone, it carries no gradient).
 */
export interface LossShaping {
  /** One array per rollout (aligned with the step's rollouts), scattered into minibatches like advantages. */
  readonly perToken: readonly Float64Array[];
  shape(x: { adv: Float32Array; ratio: Float32Array; mask: Float32Array; perToken: Float32Array; epsLow: number; epsHigh: number }): {
    adv: Float32Array;
    epsLow: Float32Array;
    epsHigh: Float32Array;
  };
}

/** How a method's adapter is made for a run; what it provides is known without a run. */
export interface AdapterFactory {
  /** The registered method the adapter drives. */
  readonly method: string;
  /** Rollout signals the adapter fills in itself (so the trainer can feed the method). */
  readonly providesSignals?: readonly string[];
  /**
   * The adapter samples beyond the task's own responses (trees, continuations of prefixes) without
   * an environment to answer tool calls: refused on multi-turn tasks.
   */
  readonly singleTurnOnly?: boolean;
  /** The method's product includes a value model trained on its returns: the run trains a critic. */
  readonly trainsCritic?: boolean;
  create(config: TrainConfig): MethodAdapter;
}

export interface MethodAdapter {
  /** Why CreditBench's fidelity differs from the trainer's route for this method (shown as its note). */
  readonly benchNote?: string;
  /** Sampling options for this step (a per-token temperature, say). */
  sampleOptions?(base: SampleOptions): SampleOptions;
  /** The step's rollouts, when the method samples other than G independent responses per prompt. */
  collect?(ctx: SamplingContext, prompts: readonly TaskPrompt[]): Promise<Generated>;
  /** Extra sampling on top of collected rollouts (values of prefixes, say): fills rollout signals. */
  enrich?(ctx: SamplingContext, rollouts: Rollout[]): Promise<{ sampledTokens: number; note: string }>;
  /** The method needs the policy's entropies at the sampling temperature, recomputed after sampling. */
  readonly needsRescoring?: boolean;
  /** Loss shaping from the rescored entropies (called once per step, after sampling). */
  shapeLoss?(entropies: readonly (readonly number[])[]): LossShaping | null;
  /**
   * A term the method adds to a minibatch's loss beside the policy gradient (LaSeR's self-reward
   * MSE), differentiable in the policy; called inside the gradient scope with the step's rollouts
   * and the minibatch's indices into them. Null: nothing to add for this minibatch.
   */
  auxLoss?(x: { policy: Policy; task: Task; rollouts: readonly Rollout[]; idx: readonly number[]; temperature: number }): tf.Scalar | null;
  /** Run state carried across steps, saved in checkpoints (JSON). */
  saveState?(): unknown;
  loadState?(state: unknown): void;
}
