/**
 * The RL trainer's step and run loop: prompts -> rollouts (collect.ts, through the method's
 * adapter) -> credit (credit.ts, the registered method) -> clipped epochs over minibatches
 * (step-loss.ts) -> metrics, with atomic checkpoints and exact resume.
 *
 * One step:
 *  1. draw promptsPerStep training prompts from the run's generator;
 *  2. collect rollouts as the method's adapter says (groups by default) and verify them;
 *  3. per-token advantages (+ weights) from the method, on rows exactly as `creditflow assign`
 *     reads them;
 *  4. `epochs` passes over `minibatches` minibatches, one Adam update each, with the chosen
 *     policy loss, aggregation, KL and entropy terms;
 *  5. metrics (one JSON line), evaluation every `eval.every` steps, a checkpoint every
 *     `checkpointEvery` steps.
 * All randomness comes from one seeded generator whose state is checkpointed, and the math is
 * deterministic on one backend, so a resumed run reproduces an uninterrupted one exactly.
 * No method is named here: what differs per method lives in src/train/adapters.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Task, TaskPrompt } from "../tasks/types.js";
import { ConfigError } from "../core/errors.js";
import { tf } from "./policy/tf.js";
import { Policy, type ModelConfig } from "./policy/model.js";
import { Adam, lrAt } from "./policy/optim.js";
import { Rng } from "./rng.js";
import type { SampleOptions } from "./policy/sampler.js";
import { PolicySampling } from "./policy-sampling.js";
import { scatter } from "./policy/batching.js";
import { scoreTokens } from "./model-signals.js";
import { loadSignalPolicies, referenceNote } from "./signal-policies.js";
import { checkSignalPolicyFiles } from "./rundir.js";
import { klPenaltyHost } from "./losses.js";
import { evaluate } from "./evaluate.js";
import type { Rollout } from "./rollouts.js";
import { loadCheckpoint, readJson, readPolicyFile, saveCheckpoint, writeAtomic, writePolicyFile, type TrainState } from "./checkpoint.js";
import { sftWarmStart } from "./sft.js";
import { DEFAULT_TRAIN, validateConfig, type TrainConfig } from "./config.js";
import { resolveTask } from "./tasks.js";
import { adapterFor, checkRun, taskMethodOptions, usesCritic, usesReference, type LossShaping, type MethodAdapter } from "./adapters/index.js";
import { Critic } from "./critic.js";
import { collectRollouts, type Collected } from "./collect.js";
import { assignCredit } from "./credit.js";
import { buildMinibatch, minibatchLoss, type StepArrays } from "./step-loss.js";

export { checkRun, checkTrainable, trainableMethods } from "./adapters/index.js";

export interface StepMetrics {
  step: number;
  reward_mean: number;
  accuracy: number;
  sampled_tokens: number;
  step_sampled_tokens: number;
  response_len_mean: number;
  loss: number;
  pg_clipfrac: number;
  ppo_kl: number;
  entropy_mean: number;
  grad_norm: number;
  lr: number;
  adv_abs_mean: number;
  kl_ref?: number;
  /** The critic's clipped value loss and clip fraction, when the run trains one. */
  vf_loss?: number;
  vf_clipfrac?: number;
  eval_accuracy?: number;
  /** Held-out accuracy sampled at the training temperature (eval.sampled). */
  eval_sampled_accuracy?: number;
  /** Wall-clock fields: not reproducible, excluded when comparing runs. */
  time_s: number;
  tokens_per_s: number;
}

export const WALL_CLOCK_FIELDS = ["time_s", "tokens_per_s"] as const;

export interface ProgressInfo {
  step: number;
  steps: number;
  metrics: StepMetrics;
  evalAccuracy: number | null;
  etaSeconds: number;
  /** Latest held-out accuracy sampled at the training temperature, when configured. */
  evalSampledAccuracy: number | null;
}

export interface RunOptions {
  outDir: string;
  resume: boolean;
  onProgress?: (p: ProgressInfo) => void;
  onLog?: (line: string) => void;
  /** Stop after this many steps of this process (for tests of interruption); the run stays resumable. */
  stopAfter?: number;
}

export interface RunSummary {
  warmStartEvalAccuracy: number | null;
  finalEvalAccuracy: number | null;
  steps: number;
  sampledTokens: number;
  seconds: number;
  warmStartEvalSampledAccuracy: number | null;
  finalEvalSampledAccuracy: number | null;
}

/** Undiscounted return to go of every response token: the outcome reward plus the token rewards from t on. */
function returnToGo(reward: number, tokenRewards: readonly number[] | undefined, T: number): Float64Array {
  const out = new Float64Array(T);
  let acc = reward;
  for (let k = T - 1; k >= 0; k--) {
    acc += tokenRewards ? tokenRewards[k] : 0;
    out[k] = acc;
  }
  return out;
}

function mean(a: readonly number[]): number {
  return a.length ? a.reduce((s, x) => s + x, 0) / a.length : 0;
}

export class Trainer {
  readonly task: Task;
  readonly modelConfig: ModelConfig;
  readonly policy: Policy;
  readonly ref: Policy | null;
  readonly opt: Adam;
  readonly rng: Rng;
  readonly adapter: MethodAdapter;
  readonly critic: Critic | null;
  /** Frozen policies whose log-probs fill signals the method reads (--dpo-policy), by signal. */
  readonly signalPolicies: Map<string, Policy>;
  step = 0;
  sampledTokens = 0;
  private evalPrompts: TaskPrompt[];
  /** The sampler (builtin or llama.cpp, config.sampler), over the current weights each step. */
  readonly sampling: PolicySampling;
  private byVarName: Map<string, string>;

  constructor(readonly config: TrainConfig, task: Task, init: Map<string, Float32Array>, ref: Map<string, Float32Array> | null, state: TrainState | null) {
    this.task = task;
    // First: a bad policy file is refused before any model is built.
    this.signalPolicies = loadSignalPolicies(config);
    this.modelConfig = { ...config.model, vocabSize: task.vocab.size };
    this.policy = new Policy(this.modelConfig, state ? state.weights : init);
    this.ref = ref ? new Policy(this.modelConfig, ref, false) : null;
    this.opt = new Adam(config.optim, this.policy.params);
    this.rng = new Rng(state ? state.rng : config.seed * 7919 + 17);
    this.adapter = adapterFor(config.method, config);
    this.critic = usesCritic(config) ? new Critic(this.modelConfig, { ...config.optim, lr: config.critic.lr }, init, state?.critic ?? null) : null;
    if (state) {
      this.opt.load(state.adam);
      this.step = state.step;
      this.sampledTokens = state.sampledTokens;
      this.adapter.loadState?.(state.adapter);
    }
    this.evalPrompts = config.eval.n > 0 ? task.evalSet(config.eval.n, config.eval.seed) : [];
    this.byVarName = new Map([...this.policy.params].map(([n, v]) => [v.name, n]));
    this.sampling = new PolicySampling(config.sampler, this.modelConfig, task.vocab, config.workers);
  }

  async close(): Promise<void> {
    await this.sampling.close();
  }

  dispose(): void {
    this.policy.dispose();
    this.ref?.dispose();
    this.critic?.dispose();
    for (const m of this.signalPolicies.values()) m.dispose();
    this.opt.dispose();
  }

  /** Held-out accuracy, greedy; and sampled at the training temperature (what RL optimises) when configured. */
  evaluate(): { greedy: number; sampled: number | null } {
    const c = this.config;
    const w = this.policy.weights();
    const greedy = evaluate(this.task, this.modelConfig, w, this.evalPrompts).accuracy;
    const sampled = c.eval.sampled
      ? evaluate(this.task, this.modelConfig, w, this.evalPrompts, 128, { temperature: c.sampling.temperature, topP: c.sampling.topP, seed: c.eval.seed }).accuracy
      : null;
    return { greedy, sampled };
  }

  /** Total optimizer updates of the run (for the schedule). */
  private totalUpdates(): number {
    return this.config.steps * this.config.loss.epochs * this.config.loss.minibatches;
  }

  private sampleOptions(): SampleOptions {
    const c = this.config;
    const base: SampleOptions = { temperature: c.sampling.temperature, topP: c.sampling.topP, eos: this.task.vocab.eos };
    return this.adapter.sampleOptions ? this.adapter.sampleOptions(base) : base;
  }

  /** Step 2: this step's rollouts, sampled from the current weights (config.sampler, config.workers). */
  private async collect(prompts: TaskPrompt[]): Promise<Collected> {
    const options = this.sampleOptions();
    const open = await this.sampling.open(this.policy.weights(), options);
    try {
      return await collectRollouts(this.adapter, { config: this.config, task: this.task, sampler: open.sampler, options, rng: this.rng, step: this.step, policy: this.policy }, prompts);
    } finally {
      open.release();
    }
  }

  /** No-gradient pass over rollouts: per-token log-probs and entropies at the sampling temperature. */
  private score(model: Policy, rollouts: readonly Rollout[]): { logp: number[][]; ent: number[][] } {
    return scoreTokens(model, rollouts, this.task.vocab.pad, this.config.sampling.temperature);
  }

  /** Runs one training step and returns its metrics (without eval_accuracy). */
  async trainStep(): Promise<StepMetrics> {
    const c = this.config;
    const t0 = performance.now();
    const prompts: TaskPrompt[] = [];
    for (let k = 0; k < c.promptsPerStep; k++) prompts.push(this.task.samplePrompt(this.rng.fn()));
    const gen = await this.collect(prompts);
    const { rollouts } = gen;
    this.sampledTokens += gen.sampledTokens;
    const scored = c.loss.oldLogprobs === "recompute" || this.adapter.needsRescoring ? this.score(this.policy, rollouts) : null;
    const oldLogp = scored ? scored.logp : rollouts.map((r) => r.logprobs);
    const refLogp = this.ref && usesReference(c) ? this.score(this.ref, rollouts).logp : null;
    // verl apply_kl_penalty: token rewards -beta * kl on every response token.
    const tokenRewards = refLogp && c.loss.klCoef > 0 && c.loss.klInReward
      ? rollouts.map((r, i) => r.logprobs.map((lp, k) => (r.mask?.[k] === 0 ? 0 : -c.loss.klCoef * klPenaltyHost(lp, refLogp[i][k], c.loss.klKind))))
      : undefined;
    const values = this.critic ? this.critic.values(rollouts, this.task.vocab.pad) : null;
    const credit = assignCredit({
      method: c.method, methodOptions: c.methodOptions, rollouts, policy: this.policy, pad: this.task.vocab.pad,
      temperature: c.sampling.temperature, signalPolicies: this.signalPolicies, refLogprobs: refLogp, tokenRewards, values, step: this.step, source: `step ${this.step + 1}`,
    });
    // Value targets: the method's returns, or the undiscounted return to go when it emits none.
    const targets = values ? credit.returns ?? rollouts.map((r, i) => returnToGo(r.verdict.reward, tokenRewards?.[i], r.tokens.length)) : null;
    const { adv } = credit;
    let { weights } = credit;
    if (rollouts.some((r) => r.trainMask)) {
      // Tree paths share segments: train each edge once (weight 0 on the copies).
      weights = rollouts.map((r, i) => {
        const w = weights ? Float64Array.from(weights[i]) : new Float64Array(r.tokens.length).fill(1);
        if (r.trainMask) for (let k = 0; k < w.length; k++) w[k] *= r.trainMask[k];
        return w;
      });
    }
    const shaping: LossShaping | null = scored && this.adapter.shapeLoss ? this.adapter.shapeLoss(scored.ent) : null;
    const arrays: StepArrays = { adv, oldLogp, weights, refLogp, shaping };
    const n = rollouts.length;
    const M = Math.min(c.loss.minibatches, n);
    const metrics = { loss: [] as number[], clip: [] as number[], kl: [] as number[], ent: [] as number[], gn: [] as number[], klRef: [] as number[], vf: [] as number[], vfClip: [] as number[] };
    const criticOnly = this.critic !== null && this.step < c.critic.warmupSteps;
    let lr = 0;
    for (let e = 0; e < c.loss.epochs; e++) {
      for (let m = 0; m < M; m++) {
        const idx: number[] = [];
        for (let i = Math.floor((m * n) / M); i < Math.floor(((m + 1) * n) / M); i++) idx.push(i);
        const mb = buildMinibatch(c, this.task.vocab.pad, rollouts, idx, arrays);
        if (this.critic && values && targets) {
          // verl updates the critic before the actor, on the same minibatches.
          const v = this.critic.update(mb.pb, scatter(mb.pb, idx.map((i) => targets[i])), scatter(mb.pb, idx.map((i) => values[i])),
            c.loss.aggMode, this.task.maxResponseTokens, c.critic.cliprangeValue, this.critic.lrAt(this.totalUpdates()));
          metrics.vf.push(v.loss);
          metrics.vfClip.push(v.clipfrac);
        }
        if (criticOnly) continue;
        const stats: tf.Tensor[] = [];
        const { value, grads } = tf.variableGrads(() => {
          const pg = minibatchLoss(this.policy, c, this.task.maxResponseTokens, mb, shaping, stats);
          const aux = this.adapter.auxLoss?.({ policy: this.policy, task: this.task, rollouts, idx, temperature: c.sampling.temperature });
          return aux ? (tf.add(pg, aux) as tf.Scalar) : pg;
        }, [...this.policy.params.values()]);
        const named = new Map<string, tf.Tensor>();
        for (const [vn, g] of Object.entries(grads)) named.set(this.byVarName.get(vn) as string, g);
        lr = lrAt(c.optim, this.opt.t, this.totalUpdates());
        metrics.gn.push(this.opt.step(named, lr));
        metrics.loss.push(value.dataSync()[0]);
        metrics.clip.push(stats[0].dataSync()[0]);
        metrics.kl.push(stats[1].dataSync()[0]);
        metrics.ent.push(stats[2].dataSync()[0]);
        if (stats[3]) metrics.klRef.push(stats[3].dataSync()[0]);
        tf.dispose([value, ...Object.values(grads), ...stats]);
      }
    }
    this.step++;
    const dt = (performance.now() - t0) / 1000;
    // Each sampled response once (turn rows and retries are rows of the step's episodes).
    const outcomes = gen.outcomes ?? rollouts.map((r) => ({ reward: r.verdict.reward, correct: r.verdict.correct, tokens: r.tokens.length }));
    let advAbs = 0, nTok = 0;
    for (const a of adv) for (const x of a) { advAbs += Math.abs(x); nTok++; }
    const out: StepMetrics = {
      step: this.step,
      reward_mean: mean(outcomes.map((o) => o.reward)),
      accuracy: mean(outcomes.map((o) => (o.correct ? 1 : 0))),
      sampled_tokens: this.sampledTokens,
      step_sampled_tokens: gen.sampledTokens,
      response_len_mean: mean(outcomes.map((o) => o.tokens)),
      loss: mean(metrics.loss),
      pg_clipfrac: mean(metrics.clip),
      ppo_kl: mean(metrics.kl),
      entropy_mean: mean(metrics.ent),
      grad_norm: mean(metrics.gn),
      lr,
      adv_abs_mean: nTok ? advAbs / nTok : 0,
      time_s: dt,
      tokens_per_s: gen.sampledTokens / dt,
    };
    if (metrics.klRef.length) out.kl_ref = mean(metrics.klRef);
    if (metrics.vf.length) {
      out.vf_loss = mean(metrics.vf);
      out.vf_clipfrac = mean(metrics.vfClip);
    }
    return out;
  }

  state(elapsed: number): TrainState {
    return {
      step: this.step, sampledTokens: this.sampledTokens, rng: this.rng.state, adam: this.opt.state(), weights: this.policy.weights(),
      adapter: this.adapter.saveState?.() ?? null, critic: this.critic?.state() ?? null, elapsed,
    };
  }
}

/** Keeps the metrics lines of steps <= `step` (after a resume, later lines are redone). */
function truncateMetrics(path: string, step: number): void {
  if (!existsSync(path)) return;
  const keep = readFileSync(path, "utf8").split("\n").filter((l) => {
    if (!l.trim()) return false;
    try {
      return (JSON.parse(l) as { step: number }).step <= step;
    } catch {
      return false; // a line torn by a kill mid-write
    }
  });
  writeAtomic(path, keep.map((l) => l + "\n").join(""));
}

/**
 * A whole run in `outDir`: warm start (given policy file, or a deterministic SFT), then
 * `steps` RL steps with metrics.jsonl, config.json, checkpoint.json and summary.json.
 */
export async function runTraining(config: TrainConfig, o: RunOptions): Promise<RunSummary> {
  const log = o.onLog ?? (() => {});
  if (!o.resume) {
    // Refuse a bad configuration before touching the run directory.
    validateConfig(config);
    const task = resolveTask(config.task);
    checkRun(config, task);
    checkSignalPolicyFiles(config);
    // Options the task calls for (rank-grpo's number of ranks, say), under the user's own.
    config = { ...config, methodOptions: { ...taskMethodOptions(config.method, task), ...config.methodOptions } };
  }
  mkdirSync(o.outDir, { recursive: true });
  const ckptPath = join(o.outDir, "checkpoint.json");
  const refPath = join(o.outDir, "warm-start.json");
  const metricsPath = join(o.outDir, "metrics.jsonl");
  const summaryPath = join(o.outDir, "summary.json");
  let state: TrainState | null = null;
  if (o.resume) {
    if (!existsSync(ckptPath)) throw new ConfigError(`--resume: no checkpoint in ${o.outDir}`);
    const ck = loadCheckpoint(ckptPath);
    // A run saved before a key existed (sampler, say) resumes with that key's default.
    config = { ...ck.config, sampler: ck.config.sampler ?? DEFAULT_TRAIN.sampler, dpoPolicy: ck.config.dpoPolicy ?? null };
    state = ck.state;
    log(`resuming from step ${state.step}`);
  }
  validateConfig(config);
  const task = resolveTask(config.task);
  checkRun(config, task);
  const modelConfig: ModelConfig = { ...config.model, vocabSize: task.vocab.size };
  let warmEval: number | null = null;
  let warmSampled: number | null = null;
  let init: Map<string, Float32Array>;
  if (state) {
    init = readPolicyFile(refPath).weights;
    if (existsSync(summaryPath)) {
      const s = readJson(summaryPath) as { warm_start_eval_accuracy: number | null; warm_start_eval_sampled_accuracy?: number | null };
      warmEval = s.warm_start_eval_accuracy;
      warmSampled = s.warm_start_eval_sampled_accuracy ?? null;
    }
  } else {
    writeAtomic(join(o.outDir, "config.json"), JSON.stringify(config, null, 2) + "\n");
    writeAtomic(metricsPath, "");
    if (existsSync(ckptPath)) writeAtomic(ckptPath + ".old", readFileSync(ckptPath, "utf8"));
    if (config.warmStart) {
      const pf = readPolicyFile(config.warmStart);
      for (const k of Object.keys(modelConfig) as (keyof ModelConfig)[]) {
        if (pf.model[k] !== modelConfig[k]) throw new ConfigError(`warm start ${config.warmStart}: model.${k} is ${pf.model[k]}, the run's is ${modelConfig[k]} (set model in the config to match)`);
      }
      init = pf.weights;
    } else {
      log(`warm start: SFT for ${config.sft.steps} steps (batch ${config.sft.batch})`);
      init = sftWarmStart(task, modelConfig, { ...config.sft, seed: config.sft.seed + config.seed }, config.seed + 1, (s) => {
        if (s.step % 25 === 0 || s.step === config.sft.steps) log(`  sft ${s.step}/${config.sft.steps} loss ${s.loss.toFixed(3)}`);
      });
    }
    writePolicyFile(refPath, modelConfig, init, { task: task.name, from: config.warmStart ?? "sft" });
  }
  const refNote = usesReference(config) ? referenceNote(config, init) : null;
  if (refNote) log(refNote);
  const trainer = new Trainer(config, task, init, usesReference(config) ? init : null, state);
  const started = performance.now() - (state ? state.elapsed * 1000 : 0);
  try {
    if (!state && config.eval.n > 0) {
      const e = trainer.evaluate();
      warmEval = e.greedy;
      warmSampled = e.sampled;
      log(`warm-start held-out accuracy ${warmEval.toFixed(3)} greedy${warmSampled === null ? "" : `, ${warmSampled.toFixed(3)} sampled at temperature ${config.sampling.temperature}`}`);
    }
    writeAtomic(summaryPath, JSON.stringify({
      warm_start_eval_accuracy: warmEval, warm_start_eval_sampled_accuracy: warmSampled, final_eval_accuracy: null, steps: trainer.step, sampled_tokens: trainer.sampledTokens,
    }, null, 2) + "\n");
    if (state) truncateMetrics(metricsPath, trainer.step);
    let lastEval: number | null = warmEval;
    let lastSampled: number | null = warmSampled;
    let done = 0;
    const stepTimes: number[] = [];
    const overBudget = () => config.tokenBudget > 0 && trainer.sampledTokens >= config.tokenBudget;
    while (trainer.step < config.steps && !overBudget()) {
      if (o.stopAfter !== undefined && done >= o.stopAfter) break;
      const t0 = performance.now();
      const m = await trainer.trainStep();
      const last = trainer.step === config.steps || overBudget();
      if (config.eval.every > 0 && config.eval.n > 0 && (trainer.step % config.eval.every === 0 || last)) {
        const e = trainer.evaluate();
        m.eval_accuracy = lastEval = e.greedy;
        if (e.sampled !== null) m.eval_sampled_accuracy = lastSampled = e.sampled;
      }
      appendFileSync(metricsPath, JSON.stringify(m) + "\n");
      if (config.checkpointEvery > 0 && (trainer.step % config.checkpointEvery === 0 || last)) {
        saveCheckpoint(ckptPath, trainer.state((performance.now() - started) / 1000), config);
      }
      done++;
      stepTimes.push((performance.now() - t0) / 1000);
      const recent = stepTimes.slice(-10);
      o.onProgress?.({ step: trainer.step, steps: config.steps, metrics: m, evalAccuracy: lastEval, evalSampledAccuracy: lastSampled, etaSeconds: mean(recent) * (config.steps - trainer.step) });
    }
    const finished = trainer.step >= config.steps || overBudget();
    const summary: RunSummary = {
      warmStartEvalAccuracy: warmEval, finalEvalAccuracy: finished ? lastEval : null,
      warmStartEvalSampledAccuracy: warmSampled, finalEvalSampledAccuracy: finished ? lastSampled : null, steps: trainer.step, sampledTokens: trainer.sampledTokens,
      seconds: (performance.now() - started) / 1000,
    };
    writeAtomic(summaryPath, JSON.stringify({
      warm_start_eval_accuracy: summary.warmStartEvalAccuracy, final_eval_accuracy: summary.finalEvalAccuracy,
      warm_start_eval_sampled_accuracy: summary.warmStartEvalSampledAccuracy, final_eval_sampled_accuracy: summary.finalEvalSampledAccuracy, steps: summary.steps,
      sampled_tokens: summary.sampledTokens, seconds: summary.seconds, task: task.name, method: config.method, seed: config.seed,
    }, null, 2) + "\n");
    return summary;
  } finally {
    await trainer.close();
    trainer.dispose();
  }
}
