/**
 * The supervised warm start: teacher forcing on task demonstrations, cross-entropy on the
 * response tokens (token mean), Adam with warmup + cosine decay. Deterministic for a seed:
 * prompts come from the run's own generator and the model is initialised from the seed.
 */
import type { Task } from "../tasks/types.js";
import { tf } from "./policy/tf.js";
import { Policy, type ModelConfig } from "./policy/model.js";
import { Adam, lrAt, DEFAULT_OPTIM } from "./policy/optim.js";
import { packPairs, scatter, type PackedBatch } from "./policy/batching.js";
import { policyMask } from "../tasks/index.js";
import { selectLogProbs } from "./policy/ops.js";
import { Rng } from "./rng.js";

export interface SftConfig {
  steps: number;
  batch: number;
  lr: number;
  warmupSteps: number;
  seed: number;
}

export const DEFAULT_SFT: SftConfig = { steps: 400, batch: 32, lr: 3e-3, warmupSteps: 10, seed: 0 };

export interface SftStep {
  step: number;
  loss: number;
  lr: number;
  tokens: number;
}

/**
 * Chooses which response tokens of a packed batch are trained (token-selection SFT such as
 * ssToken): returns a [B*T] 0/1 mask within `pb.mask`. `step` is the 0-based update.
 */
export type SftTokenSelector = (policy: Policy, pb: PackedBatch, step: number) => Float32Array;

/**
 * Mean next-token cross-entropy over the response tokens of `pairs` (a scalar tensor,
 * differentiable); over the tokens `select` keeps, when given.
 */
export function sftLoss(policy: Policy, pairs: { prompt: readonly number[]; response: readonly number[] }[], pad: number, select?: (pb: PackedBatch) => Float32Array): tf.Scalar {
  const pb = packPairs(pairs, pad);
  const lp = selectLogProbs(policy.forward(pb.tokens, pb.B, pb.T), pb.targets);
  const m = tf.tensor1d(select ? select(pb) : pb.mask);
  return tf.neg(tf.div(tf.sum(tf.mul(lp, m)), tf.maximum(tf.sum(m), 1))) as tf.Scalar;
}

/** One Adam update of `policy` on the cross-entropy of `pairs` (the tokens `select` keeps, when given); returns the loss. */
export function sftUpdate(policy: Policy, opt: Adam, pairs: { prompt: readonly number[]; response: readonly number[] }[], pad: number, lr: number, select?: (pb: PackedBatch) => Float32Array): number {
  const byName = new Map([...policy.params].map(([n, v]) => [v.name, n]));
  const { value, grads } = tf.variableGrads(() => sftLoss(policy, pairs, pad, select));
  const named = new Map<string, tf.Tensor>();
  for (const [vn, g] of Object.entries(grads)) named.set(byName.get(vn) as string, g);
  opt.step(named, lr);
  const loss = value.dataSync()[0];
  tf.dispose([value, ...Object.values(grads)]);
  return loss;
}

/** [B*T] 1 on the response tokens the policy writes (`targets` per row), within `chosen` when given. */
function policyTargets(pb: PackedBatch, targets: readonly number[][], chosen: Float32Array | undefined): Float32Array {
  const m = scatter(pb, targets);
  if (chosen) for (let k = 0; k < m.length; k++) m[k] *= chosen[k];
  return m;
}

/** Trains `policy` in place on demonstrations of `task`; calls `onStep` after each update. */
export function runSft(task: Task, policy: Policy, c: SftConfig, onStep?: (s: SftStep) => void, select?: SftTokenSelector): void {
  const rng = new Rng(c.seed ^ 0x5f7);
  const opt = new Adam({ ...DEFAULT_OPTIM, lr: c.lr, warmupSteps: c.warmupSteps, schedule: "cosine", minLrRatio: 0.1 }, policy.params);
  try {
    for (let s = 0; s < c.steps; s++) {
      const pairs: { prompt: readonly number[]; response: number[] }[] = [];
      const targets: number[][] = [];
      let tokens = 0;
      for (let b = 0; b < c.batch; b++) {
        const prompt = task.samplePrompt(rng.fn());
        const response = task.demonstration(prompt, rng.fn());
        pairs.push({ prompt: prompt.tokens, response });
        // A multi-turn demonstration's tool outputs are context, not targets (the policy never writes them).
        if (task.environment) targets.push(policyMask(task, prompt, response));
        tokens += prompt.tokens.length + response.length - 1;
      }
      const lr = lrAt(opt.config, s, c.steps);
      const chosen = select && ((pb: PackedBatch) => select(policy, pb, s));
      const pick = task.environment ? (pb: PackedBatch) => policyTargets(pb, targets, chosen?.(pb)) : chosen;
      const loss = sftUpdate(policy, opt, pairs, task.vocab.pad, lr, pick);
      onStep?.({ step: s + 1, loss, lr, tokens });
    }
  } finally {
    opt.dispose();
  }
}

/** A fresh policy for `task` with the given architecture (vocabulary from the task). */
export function newPolicy(task: Task, model: Omit<ModelConfig, "vocabSize">, seed: number): Policy {
  return Policy.create({ ...model, vocabSize: task.vocab.size }, seed);
}

/**
 * A warm start: a fresh policy initialised with `initSeed`, trained by `runSft` on the task's
 * demonstrations; returns its weights. The one warm-start routine shared by the trainer,
 * `creditflow sft`, CreditBench and bench:compare.
 */
export function sftWarmStart(task: Task, model: ModelConfig, c: SftConfig, initSeed: number, onStep?: (s: SftStep) => void, select?: (init: Policy) => SftTokenSelector): Map<string, Float32Array> {
  const policy = Policy.create(model, initSeed);
  try {
    runSft(task, policy, c, onStep, select?.(policy));
    return policy.weights();
  } finally {
    policy.dispose();
  }
}
