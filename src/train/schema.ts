/**
 * The trainer configuration's schema, in valibot: every key's type, range and meaning in one
 * place. It validates merged configurations (train --config, bench --train-config, the config
 * saved in a checkpoint), so a wrong type or an out-of-range value names its key path, and it
 * generates docs/training.md (`npm run docs:training`). Defaults live in DEFAULT_TRAIN.
 */
import * as v from "valibot";
import { AGG_MODES, KL_KINDS, POLICY_LOSSES } from "./losses.js";
import { SAMPLER_KINDS } from "./policy-sampling.js";

const int = (lo: number, hi: number, doc: string) => v.pipe(v.number(), v.integer(), v.minValue(lo), v.maxValue(hi), v.description(doc));
const num = (lo: number, hi: number, doc: string) => v.pipe(v.number(), v.finite(), v.minValue(lo), v.maxValue(hi), v.description(doc));
const pick = <T extends string>(values: readonly T[], doc: string) => v.pipe(v.picklist(values), v.description(doc));
const bool = (doc: string) => v.pipe(v.boolean(), v.description(doc));
const section = <E extends v.ObjectEntries>(entries: E, doc: string) => v.pipe(v.strictObject(entries), v.description(doc));

export const MODEL_SCHEMA = section(
  {
    dModel: int(8, 4096, "width of the residual stream"),
    nLayers: int(1, 64, "transformer blocks"),
    nHeads: int(1, 64, "attention heads (dModel must be divisible by it)"),
    dFF: int(8, 16384, "SwiGLU hidden width"),
    maxSeqLen: int(8, 8192, "longest prompt + response; sizes the rotary tables and the KV cache"),
    tieEmbeddings: bool("share the input embedding and the output projection"),
    normEps: num(0, 1, "RMSNorm epsilon"),
    ropeTheta: num(1, 1e9, "rotary base"),
  },
  "the policy: a llama-layout decoder (RMSNorm, rotary positions, SwiGLU, no biases)",
);

export const OPTIM_SCHEMA = section(
  {
    lr: num(0, 10, "Adam learning rate"),
    beta1: num(0, 0.999999, "Adam beta1"),
    beta2: num(0, 0.999999999, "Adam beta2"),
    eps: num(0, 1, "Adam epsilon"),
    weightDecay: num(0, 10, "decoupled weight decay (AdamW)"),
    gradClip: num(0, 1e6, "clip the global gradient norm to this (0: off)"),
    warmupSteps: int(0, Number.MAX_SAFE_INTEGER, "linear learning-rate warm-up, in updates"),
    schedule: pick(["constant", "cosine"] as const, "learning-rate schedule after warm-up"),
    minLrRatio: num(0, 1, "cosine floor as a fraction of lr"),
    lrScale: v.pipe(v.record(v.string(), v.pipe(v.number(), v.finite(), v.minValue(0), v.maxValue(100))), v.description("per-parameter-group lr multipliers: a parameter whose name starts with a key (GGUF names: token_embd, blk.0.attn_q, ...) gets lr x its value; the longest key wins")),
  },
  "the optimizer (Adam, verl's defaults)",
);

export const TRAIN_SCHEMA = v.strictObject({
  task: v.pipe(v.string(), v.description("verifiable task: addition, addition-3d, countdown, decisive, chain (scored steps), rank (ranked lists), tools (multi-turn tool calls, run as episodes), or addition-<d>d[-u]")),
  method: v.pipe(v.string(), v.description("credit-assignment method (`creditflow methods`) whose inputs the trainer can produce")),
  methodOptions: v.pipe(v.record(v.string(), v.unknown()), v.description("the method's options, exactly as `creditflow assign --config` takes them (validated by the method's own schema)")),
  seed: int(0, 2 ** 31 - 1, "seed of every random choice (prompts, sampling, initialisation)"),
  steps: int(0, Number.MAX_SAFE_INTEGER, "RL steps (one step: sample, assign credit, update)"),
  tokenBudget: int(0, Number.MAX_SAFE_INTEGER, "stop once this many tokens have been sampled in all, Monte Carlo continuations included (0: no budget); for comparisons at equal sampling cost"),
  group: int(1, 1024, "responses per prompt (G of GRPO)"),
  promptsPerStep: int(1, 4096, "prompts per step"),
  model: MODEL_SCHEMA,
  sampling: section(
    {
      temperature: num(1e-3, 100, "sampling temperature (log-probs for the ratio are those of the tempered distribution)"),
      topP: num(1e-6, 1, "nucleus sampling mass"),
    },
    "how responses are sampled",
  ),
  optim: OPTIM_SCHEMA,
  loss: section(
    {
      policyLoss: pick(POLICY_LOSSES, "policy loss: PPO clip (with dual clip), GSPO (arXiv 2507.18071), GMPO (arXiv 2507.20673), per-segment geometric mean, CISPO (MiniMax-M1, arXiv 2506.13585)"),
      aggMode: pick(AGG_MODES, "loss aggregation, as verl's loss_agg_mode (weight-0 tokens leave the denominators)"),
      epsLow: num(0, 1, "lower clip range of the ratio (1 - epsLow)"),
      epsHigh: num(0, 100, "upper clip range of the ratio (1 + epsHigh); > epsLow is DAPO's clip-higher (arXiv 2503.14476)"),
      clipC: v.pipe(v.nullable(v.pipe(v.number(), v.finite(), v.minValue(1.000001))), v.description("dual-clip constant (> 1) for negative advantages (arXiv 1912.09729), or null for none")),
      epochs: int(1, 100, "passes over a step's rollouts"),
      minibatches: int(1, 4096, "optimizer updates per epoch (the rollouts are split into this many minibatches)"),
      klCoef: num(0, 1e6, "KL to the frozen warm start (0: no reference model)"),
      klKind: pick(KL_KINDS, "KL estimator: k1, k2, k3 (Schulman's), or abs"),
      klInReward: bool("true: -klCoef * kl enters the token rewards; false: klCoef * agg(kl) is a loss term"),
      entropyCoef: num(-100, 100, "entropy bonus coefficient"),
      oldLogprobs: pick(["sampler", "recompute"] as const, "old log-probs of the ratio: the sampler's, or a fresh forward pass"),
    },
    "the policy-gradient loss",
  ),
  eval: section(
    {
      every: int(0, Number.MAX_SAFE_INTEGER, "evaluate held-out accuracy every this many steps (0: never)"),
      n: int(0, 100000, "held-out prompts per evaluation (greedy decoding)"),
      seed: int(0, 2 ** 31 - 1, "seed of the held-out prompt draw (and of the sampled evaluation)"),
      sampled: bool("also score the held-out prompts sampled at the training temperature (what RL optimises), beside greedy"),
    },
    "held-out evaluation",
  ),
  checkpointEvery: int(0, Number.MAX_SAFE_INTEGER, "write checkpoint.json every this many steps and at the last one (0: never)"),
  workers: int(1, 64, "sampling threads (1: the training thread; n > 1: n worker threads, same results)"),
  sampler: pick(SAMPLER_KINDS, "what samples the rollouts: builtin (the wasm sampler), llamacpp (the policy exported to GGUF after each update; llama.cpp evaluates, the built-in rules draw: same tokens as builtin) or llamacpp-native (llama.cpp's sampler draws); docs/backends.md"),
  warmStart: v.pipe(v.nullable(v.string()), v.description("a policy file from `creditflow sft` to start from; null: run the SFT below first")),
  dpoPolicy: v.pipe(v.nullable(v.string()), v.description("a frozen DPO-trained policy file (`creditflow prefer --method dpo` writes policy.json); its log-probs of each sampled response are signals.dpo_logprobs, read by rto, dpo-token-reward and tgdpo (which need it; other methods refuse it); null: none")),
  sft: section(
    {
      steps: int(0, Number.MAX_SAFE_INTEGER, "supervised warm-start steps on the task's demonstrations"),
      batch: int(1, 4096, "demonstrations per step"),
      lr: num(0, 10, "warm-start learning rate"),
      warmupSteps: int(0, Number.MAX_SAFE_INTEGER, "warm-up steps of the warm start"),
      seed: int(0, 2 ** 31 - 1, "seed of the warm start (added to the run's seed)"),
    },
    "the supervised warm start run when warmStart is null",
  ),
  critic: section(
    {
      use: pick(["auto", "on", "off"] as const, "auto: train a critic exactly when the method reads values (gae, ma-rlhf, poad) or trains a value model on its returns (tvm); on / off force it"),
      lr: num(0, 10, "the critic's Adam learning rate (its other settings and schedule are the policy's)"),
      cliprangeValue: num(0, 1e6, "verl's cliprange_value: the value loss clips V to V_old +- this"),
      warmupSteps: int(0, Number.MAX_SAFE_INTEGER, "steps at the start in which only the critic learns (verl's critic_warmup)"),
    },
    "the critic: a separate value network from the warm start, trained with verl's clipped value loss",
  ),
  spoChain: section({ samples: int(1, 1024, "Monte Carlo continuations per SPO-chain cutpoint (arXiv 2505.23564)") }, "SPO-chain's Monte Carlo values"),
  spoTree: section(
    {
      branching: v.pipe(v.array(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(64))), v.minLength(1), v.description("children per tree level (SPO-tree, arXiv 2505.23564)")),
      segmentTokens: int(1, 4096, "tokens per tree segment"),
    },
    "SPO-tree's segment trees",
  ),
  hapo: section(
    {
      tau: num(0, 100, "entropy-to-temperature scale of the adaptive temperature (HAPO)"),
      clipAlpha: num(0, 100, "strength of the asymmetric clipping by normalised entropy"),
      advBeta: num(0, 100, "strength of the advantage redistribution"),
      entropyPivot: num(0, 1, "quantile of ln(entropy) used as the pivot of the normalised entropy"),
      signConvention: pick(["code", "paper"] as const, "sign convention of the asymmetric clipping: the reference code's or the paper's"),
    },
    "HAPO's trainer-side parts",
  ),
});

/** The first problem of a configuration against the schema, as `path: what`, or null. */
export function configProblem(config: unknown, root = "config"): string | null {
  const problem = schemaProblem(TRAIN_SCHEMA, config);
  if (problem === null) return null;
  const m = /^field '([^']*)': (.*)$/s.exec(problem);
  return m ? `${root}.${m[1]}: ${m[2]}` : `${root}: ${problem}`;
}

const base64 = v.pipe(v.string(), v.regex(/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/, "expected base64 float32 data"));
const count = v.pipe(v.number(), v.integer(), v.minValue(0));

/** checkpoint.json: the run's state after `step` steps, and its configuration. */
export const CHECKPOINT_SCHEMA = v.object({
  format: v.literal("creditflow-train"),
  version: v.literal(1),
  step: count,
  sampledTokens: count,
  rng: v.array(v.number()),
  adam: v.object({ t: count, m: v.record(v.string(), base64), v: v.record(v.string(), base64) }),
  weights: v.record(v.string(), base64),
  /** The method adapter's run state (`hapo` in checkpoints written before adapters). */
  adapter: v.optional(v.unknown()),
  hapo: v.optional(v.unknown()),
  critic: v.optional(v.nullable(v.object({ weights: v.record(v.string(), base64), adam: v.object({ t: count, m: v.record(v.string(), base64), v: v.record(v.string(), base64) }) }))),
  elapsed: v.pipe(v.number(), v.finite(), v.minValue(0)),
  config: TRAIN_SCHEMA,
});

/** A policy file (`creditflow sft`, a run's warm-start.json): model configuration and weights. */
export const POLICY_SCHEMA = v.object({
  format: v.literal("creditflow-policy"),
  version: v.literal(1),
  model: v.object({ ...MODEL_SCHEMA.pipe[0].entries, vocabSize: v.pipe(v.number(), v.integer(), v.minValue(1)) }),
  weights: v.pipe(v.record(v.string(), base64), v.check((w) => Object.keys(w).length > 0, "no weights")),
  info: v.optional(v.record(v.string(), v.unknown())),
});

/** The first problem of a value against a schema, as `path: what` (root: the file's own fields), or null. */
export function schemaProblem(schema: v.GenericSchema, value: unknown): string | null {
  const r = v.safeParse(schema, value);
  if (r.success) return null;
  const issue = r.issues[0];
  const path = (issue.path ?? []).map((p) => (typeof p.key === "number" ? `[${p.key}]` : String(p.key))).join(".").replace(/\.\[/g, "[");
  const what = issue.type === "strict_object" ? "unknown key" : issue.message;
  return path ? `field '${path}': ${what}` : what;
}
