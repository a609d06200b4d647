/**
 * The trainer's configuration: every knob with its default, deep-merged from a JSON file and
 * command-line flags, validated, and written out in full as DIR/config.json.
 */
import { ConfigError } from "../core/errors.js";
import { DEFAULT_MODEL, type ModelConfig } from "./policy/model.js";
import { DEFAULT_OPTIM, type OptimConfig } from "./policy/optim.js";
import type { AggMode, KlKind, PolicyLossKind } from "./losses.js";
import { configProblem, type TRAIN_SCHEMA } from "./schema.js";
import type { InferOutput } from "valibot";
import { DEFAULT_SFT, type SftConfig } from "./sft.js";
import { DEFAULT_CRITIC, type CriticConfig } from "./critic.js";
import type { SamplerKind } from "./policy-sampling.js";

export interface LossConfig {
  policyLoss: PolicyLossKind;
  aggMode: AggMode;
  epsLow: number;
  epsHigh: number;
  /** Dual-clip constant (> 1) or null. */
  clipC: number | null;
  /** Passes over the step's rollouts. */
  epochs: number;
  /** Optimizer updates per epoch (the rollouts are split into this many minibatches). */
  minibatches: number;
  /** KL to the frozen reference (0 = no reference model). */
  klCoef: number;
  klKind: KlKind;
  /** true: -klCoef * kl enters the token rewards; false: klCoef * agg(kl) is a loss term. */
  klInReward: boolean;
  entropyCoef: number;
  /** Old log-probs from the sampler ("sampler", the same maths) or a fresh forward pass ("recompute"). */
  oldLogprobs: "sampler" | "recompute";
}

export interface TrainConfig {
  task: string;
  method: string;
  /** The method's options, exactly as `creditflow assign --config` takes them. */
  methodOptions: Record<string, unknown>;
  seed: number;
  steps: number;
  /** Stop once this many tokens have been sampled in all (0 = no budget): equal-cost comparisons. */
  tokenBudget: number;
  /** Responses per prompt (G). */
  group: number;
  promptsPerStep: number;
  model: Omit<ModelConfig, "vocabSize">;
  sampling: { temperature: number; topP: number };
  optim: OptimConfig;
  loss: LossConfig;
  eval: { every: number; n: number; seed: number; sampled: boolean };
  checkpointEvery: number;
  /** Sampling threads: 1 samples in the training thread; n > 1 uses n worker threads (same results). */
  workers: number;
  /** What samples the rollouts: the built-in sampler, or llama.cpp on the policy exported to GGUF. */
  sampler: SamplerKind;
  /** A policy file (from `creditflow sft`) to start from; null = run the SFT below first. */
  warmStart: string | null;
  /**
   * A frozen DPO-trained policy file (`creditflow prefer --method dpo` writes policy.json) whose
   * per-token log-probs of each sampled response fill `signals.dpo_logprobs`; null: none.
   */
  dpoPolicy: string | null;
  sft: SftConfig;
  critic: CriticConfig;
  spoChain: { samples: number };
  spoTree: { branching: number[]; segmentTokens: number };
  hapo: { tau: number; clipAlpha: number; advBeta: number; entropyPivot: number; signConvention: "code" | "paper" };
}

/** The default run: finishes in a few minutes on one core and visibly lifts held-out accuracy. */
export const DEFAULT_TRAIN: TrainConfig = {
  task: "addition",
  method: "grpo",
  methodOptions: {},
  seed: 0,
  steps: 30,
  tokenBudget: 0,
  group: 16,
  promptsPerStep: 32,
  model: { ...DEFAULT_MODEL, dModel: 64, dFF: 256, nHeads: 4 },
  sampling: { temperature: 1, topP: 1 },
  // 512 responses per step in 4 minibatches, 2 epochs: 8 clipped updates per sample, so the
  // clip acts (clip fraction ~1%). The first attention layer is sharp (one Adam-sized step there
  // moved correct answers' log-probs by 1-2 nats), so it learns at 0.1 x lr. Chosen by
  // `npm run bench:sweep` (docs/training-sweeps.md): sampled held-out accuracy 0.379 -> 0.561 in
  // 30 steps, against 0.379 -> 0.424 with one update per step at lr 1e-4.
  optim: { ...DEFAULT_OPTIM, lr: 2e-4, warmupSteps: 4, gradClip: 1, lrScale: { "blk.0.attn_": 0.1 } },
  loss: {
    policyLoss: "ppo", aggMode: "token-mean", epsLow: 0.2, epsHigh: 0.28, clipC: 3, epochs: 2, minibatches: 4,
    klCoef: 0, klKind: "k3", klInReward: false, entropyCoef: 0, oldLogprobs: "sampler",
  },
  eval: { every: 10, n: 1000, seed: 12345, sampled: true },
  checkpointEvery: 10,
  workers: 1,
  sampler: "builtin",
  warmStart: null,
  dpoPolicy: null,
  sft: { ...DEFAULT_SFT },
  critic: { ...DEFAULT_CRITIC },
  spoChain: { samples: 4 },
  spoTree: { branching: [4, 2, 2], segmentTokens: 8 },
  hapo: { tau: 0.05, clipAlpha: 1, advBeta: 1, entropyPivot: 0.8, signConvention: "code" },
};

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Deep-merges `over` into `base`; unknown keys are errors (a typo must not pass silently). */
export function mergeConfig<T>(base: T, over: unknown, path = "config"): T {
  if (over === undefined) return base;
  if (isObj(base) && !isObj(over)) throw new ConfigError(`${path} must be a JSON object`);
  if (!isObj(base) || !isObj(over)) return over as T;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (!(k in base)) throw new ConfigError(`${path}.${k}: unknown key (known: ${Object.keys(base).join(", ")})`);
    // methodOptions are the method's own (validated by its schema), lrScale is a free-form map
    // (validated by the schema), and nullable fields take any value.
    const b = (base as Record<string, unknown>)[k];
    out[k] = k === "methodOptions" || k === "lrScale" || b === null ? v : mergeConfig(b, v, `${path}.${k}`);
  }
  return out as T;
}

/**
 * Checks a whole configuration against the schema (src/train/schema.ts): an unknown key, a wrong
 * type or an out-of-range value is a ConfigError naming its key path.
 */
export function validateConfig(c: TrainConfig, root = "config"): void {
  const problem = configProblem(c, root);
  if (problem) throw new ConfigError(problem);
  if (c.model.dModel % c.model.nHeads !== 0) throw new ConfigError(`${root}.model.nHeads: ${c.model.nHeads} does not divide dModel ${c.model.dModel}`);
}

// The schema and the TrainConfig interface describe the same object (checked by the compiler).
const _defaultsFitTheSchema: InferOutput<typeof TRAIN_SCHEMA> = DEFAULT_TRAIN;
const _schemaGivesATrainConfig = (c: InferOutput<typeof TRAIN_SCHEMA>): TrainConfig => c;
void _defaultsFitTheSchema;
void _schemaGivesATrainConfig;
