/**
 * The RL trainer: prompts -> groups of G responses -> task rewards -> credit by any registered
 * method (or a trainer-side one) -> clipped epochs over minibatches -> metrics, with atomic
 * checkpoints and exact resume.
 *
 * One step:
 *  1. draw promptsPerStep training prompts from the run's generator;
 *  2. sample (groups; SPO-tree: segment trees; SPO-chain: plus Monte Carlo continuations from
 *     its cutpoints), verify, and build rollout rows exactly as `creditflow assign` reads them;
 *  3. runMethod(name, batch, options) -> per-token advantages (+ weights);
 *  4. `epochs` passes over `minibatches` minibatches, one Adam update each, with the chosen
 *     policy loss, aggregation, KL and entropy terms;
 *  5. metrics (one JSON line), evaluation every `eval.every` steps, a checkpoint every
 *     `checkpointEvery` steps.
 * All randomness comes from one seeded generator whose state is checkpointed, and the math is
 * deterministic on one backend, so a resumed run reproduces an uninterrupted one exactly.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Task, TaskPrompt } from "../tasks/types.js";
import { ConfigError } from "../core/errors.js";
import { packRows } from "../core/rows.js";
import { getMethod, runMethod, type Assignment } from "../core/registry.js";
import "../methods/index.js";
import { tf } from "./policy/tf.js";
import { Policy, type ModelConfig } from "./policy/model.js";
import { Adam, lrAt, type AdamState } from "./policy/optim.js";
import { Rng } from "./rng.js";
import { sample, samplerWeights, disposeSamplerWeights, type SampleOptions } from "./policy/sampler.js";
import { SamplerPool } from "./policy/pool.js";
import { packPairs, scatter, type PackedBatch } from "./policy/batching.js";
import { entropyFromLogits, selectLogProbs } from "./policy/ops.js";
import { aggLoss, klPenalty, klPenaltyHost, POLICY_LOSS_REGISTRY, ratioOf, weightLoss, type Bound } from "./losses.js";
import { evaluate } from "./evaluate.js";
import { monteCarloValues, sampleGroups, sampleTrees, toRows, type BatchSampler, type Generated, type Rollout } from "./rollouts.js";
import { asymmetricClipBounds, redistributeAdvantage } from "../methods/hapo.js";
import { twGrpoAdvantages, twGrpoGroupWeights } from "./twgrpo.js";
import { decodeMap, encodeMap, readJson, readPolicyFile, writeAtomic, writePolicyFile } from "./checkpoint.js";
import { sftWarmStart } from "./sft.js";
import { validateConfig, type TrainConfig } from "./config.js";
import { resolveTask } from "./tasks.js";
import { spoChainPlan, type SpoChainPlan } from "./spo.js";
import { hapoEntropyStats, hapoNormalise, hapoTemperature, type HapoStats } from "./hapo.js";
import { MODEL_SIGNALS, modelSignals } from "./model-signals.js";

/** Methods that live only in the trainer (they need the model, not just rollouts). */
export const TRAINER_METHODS = ["tw-grpo"] as const;

/** Rollout inputs the trainer can produce for a method. */
/** Signals the trainer fills in itself (SPO-chain's Monte Carlo values; hidden states, distributions and attention from the policy). */
const PRODUCIBLE_SIGNALS = new Set(["cut_values", "start_value", ...MODEL_SIGNALS]);
const PRODUCIBLE = new Set(["logprobs", "entropies", "step_ends", "ref_logprobs", "episode", "t", "anchor"]);
/**
 * Throws a ConfigError naming the required rollout fields the trainer cannot produce for
 * `method`. Signals are not checked here: most are optional, and a required one the trainer
 * does not fill (only SPO-chain's cut_values / start_value are) fails on the first step with
 * the method's own input error naming it.
 */
export function checkTrainable(method: string): void {
  if ((TRAINER_METHODS as readonly string[]).includes(method)) return;
  const spec = getMethod(method);
  const missing: string[] = (spec.requires ?? []).filter((r: string) => !PRODUCIBLE.has(r));
  for (const sig of spec.requiredSignals ?? []) if (!PRODUCIBLE_SIGNALS.has(sig)) missing.push(`signals.${sig}`);
  if (missing.length > 0) throw new ConfigError(`method '${method}' needs ${missing.join(", ")}, which the trainer cannot produce (it runs on creditflow assign with your own rollouts)`);
}

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
  eval_accuracy?: number;
  /** Wall-clock fields: not reproducible, excluded when comparing runs. */
  time_s: number;
  tokens_per_s: number;
}

export const WALL_CLOCK_FIELDS = ["time_s", "tokens_per_s"] as const;

interface TrainState {
  step: number;
  sampledTokens: number;
  rng: number[];
  adam: AdamState;
  weights: Map<string, Float32Array>;
  hapo: HapoStats | null;
  elapsed: number;
}

export interface ProgressInfo {
  step: number;
  steps: number;
  metrics: StepMetrics;
  evalAccuracy: number | null;
  etaSeconds: number;
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
}

/** One minibatch, prepared on the host. */
interface Minibatch {
  pb: PackedBatch;
  adv: Float32Array;
  old: Float32Array;
  weights: Float32Array | null;
  ref: Float32Array | null;
  /** GMPO / geo-segment: segment index per position. */
  segment: Int32Array | null;
  nSeg: number;
  /** HAPO: normalised entropy per position. */
  hhat: Float32Array | null;
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
  step = 0;
  sampledTokens = 0;
  hapoStats: HapoStats | null = null;
  private evalPrompts: TaskPrompt[];
  /** Sampling worker threads (config.workers > 1). */
  pool: SamplerPool | null = null;
  private byVarName: Map<string, string>;

  constructor(readonly config: TrainConfig, task: Task, init: Map<string, Float32Array>, ref: Map<string, Float32Array> | null, state: TrainState | null) {
    this.task = task;
    this.modelConfig = { ...config.model, vocabSize: task.vocab.size };
    this.policy = new Policy(this.modelConfig, state ? state.weights : init);
    this.ref = ref ? new Policy(this.modelConfig, ref, false) : null;
    this.opt = new Adam(config.optim, this.policy.params);
    this.rng = new Rng(state ? state.rng : config.seed * 7919 + 17);
    if (state) {
      this.opt.load(state.adam);
      this.step = state.step;
      this.sampledTokens = state.sampledTokens;
      this.hapoStats = state.hapo;
    }
    this.evalPrompts = config.eval.n > 0 ? task.evalSet(config.eval.n, config.eval.seed) : [];
    this.byVarName = new Map([...this.policy.params].map(([n, v]) => [v.name, n]));
  }

  async close(): Promise<void> {
    await this.pool?.close();
    this.pool = null;
  }

  dispose(): void {
    this.policy.dispose();
    this.ref?.dispose();
    this.opt.dispose();
  }

  evaluate(): number {
    return evaluate(this.task, this.modelConfig, this.policy.weights(), this.evalPrompts).accuracy;
  }

  /** Total optimizer updates of the run (for the schedule). */
  private totalUpdates(): number {
    return this.config.steps * this.config.loss.epochs * this.config.loss.minibatches;
  }

  private sampleOptions(): SampleOptions {
    const c = this.config;
    const o: SampleOptions = { temperature: c.sampling.temperature, topP: c.sampling.topP, eos: this.task.vocab.eos };
    if (c.method === "hapo" && this.hapoStats) {
      const stats = this.hapoStats;
      o.adaptiveTemperature = (H) => hapoTemperature(H, stats, c.sampling.temperature, c.hapo.tau, c.hapo.signConvention);
    }
    return o;
  }

  /** Step 2: rollouts for this step's prompts (method-specific sampling). */
  private async generate(sw: BatchSampler, prompts: TaskPrompt[]): Promise<Generated> {
    const c = this.config;
    const opts = this.sampleOptions();
    if (c.method === "spo-tree") return sampleTrees(this.task, sw, prompts, c.spoTree.branching, c.spoTree.segmentTokens, opts, this.rng, this.step);
    const gen = await sampleGroups(this.task, sw, prompts, c.group, opts, this.rng, this.step);
    if (c.method === "spo-chain") {
      // Monte Carlo values at SPO-chain's cutpoints, from continuations of each response prefix.
      const plans: SpoChainPlan[] = gen.rollouts.map((r) => spoChainPlan(r.logprobs, c.methodOptions));
      const queries: { prompt: TaskPrompt; prefix: number[] }[] = [];
      gen.rollouts.forEach((r, i) => {
        for (const cut of plans[i].cutpoints) queries.push({ prompt: r.prompt, prefix: r.tokens.slice(0, cut + 1) });
      });
      const mc = await monteCarloValues(this.task, sw, queries, c.spoChain.samples, { ...opts, adaptiveTemperature: undefined }, this.rng);
      gen.sampledTokens += mc.sampledTokens;
      let q = 0;
      gen.rollouts.forEach((r, i) => {
        const cutValues: Record<string, number> = {};
        let startValue: number | undefined;
        for (const cut of plans[i].cutpoints) {
          const v = mc.values[q++];
          if (cut < 0) startValue = v;
          else cutValues[String(cut)] = v;
        }
        r.signals = { cut_values: cutValues };
        if (startValue !== undefined) r.signals.start_value = startValue;
      });
    }
    return gen;
  }

  /** No-gradient pass over rollouts: per-token log-probs at the sampling temperature, entropies, and (optionally) full log-softmax rows. */
  private score(model: Policy, rollouts: readonly Rollout[], full: boolean): { logp: number[][]; ent: number[][]; dist: Float64Array[][] | null } {
    const logp: number[][] = [], ent: number[][] = [];
    const dist: Float64Array[][] | null = full ? [] : null;
    const T0 = this.config.sampling.temperature;
    const chunk = 32;
    for (let a = 0; a < rollouts.length; a += chunk) {
      const rs = rollouts.slice(a, a + chunk);
      const pb = packPairs(rs.map((r) => ({ prompt: r.prompt.tokens, response: r.tokens })), this.task.vocab.pad);
      const outs = tf.tidy(() => {
        const logits = tf.div(model.forward(pb.tokens, pb.B, pb.T), T0) as tf.Tensor2D;
        const o: tf.Tensor[] = [selectLogProbs(logits, pb.targets), entropyFromLogits(logits)];
        if (full) o.push(tf.logSoftmax(logits));
        return o;
      });
      const lp = outs[0].dataSync(), en = outs[1].dataSync();
      const ls = full ? outs[2].dataSync() : null;
      tf.dispose(outs);
      const V = this.modelConfig.vocabSize;
      for (let i = 0; i < pb.B; i++) {
        const l: number[] = [], e: number[] = [], d: Float64Array[] = [];
        for (let k = 0; k < pb.len[i]; k++) {
          const pos = i * pb.T + pb.start[i] + k;
          l.push(lp[pos]);
          e.push(en[pos]);
          if (ls) d.push(Float64Array.from(ls.subarray(pos * V, (pos + 1) * V)));
        }
        logp.push(l);
        ent.push(e);
        dist?.push(d);
      }
    }
    return { logp, ent, dist };
  }

  /** Step 3: per-token advantages and weights (one array per rollout). */
  private assign(rollouts: Rollout[], refLogp: number[][] | null): { adv: Float64Array[]; weights: Float64Array[] | null } {
    const c = this.config;
    if (c.method === "tw-grpo") {
      const { dist } = this.score(this.policy, rollouts, true);
      const groups = new Map<string, number[]>();
      rollouts.forEach((r, i) => groups.set(r.group, [...(groups.get(r.group) ?? []), i]));
      const adv: Float64Array[] = new Array(rollouts.length);
      const weights: Float64Array[] = new Array(rollouts.length);
      for (const members of groups.values()) {
        const w = twGrpoGroupWeights(members.map((i) => (dist as Float64Array[][])[i]), this.modelConfig.vocabSize, c.twGrpo.alpha);
        const a = twGrpoAdvantages(members.map((i) => rollouts[i].verdict.reward));
        members.forEach((i, k) => {
          adv[i] = new Float64Array(rollouts[i].tokens.length).fill(a[k]);
          weights[i] = w[k];
        });
      }
      return { adv, weights };
    }
    const spec = getMethod(c.method);
    const requires: readonly string[] = spec.requires ?? [];
    let tokenRewards: number[][] | undefined;
    if (refLogp && c.loss.klInReward) {
      // verl apply_kl_penalty: token rewards -beta * kl on every response token.
      tokenRewards = rollouts.map((r, i) => r.logprobs.map((lp, k) => -c.loss.klCoef * klPenaltyHost(lp, refLogp[i][k], c.loss.klKind)));
    }
    // Signals the policy itself provides (hidden states, distributions, attention maps).
    const wanted = new Set((spec.signals ?? []).filter((x: string) => MODEL_SIGNALS.has(x)));
    if (wanted.size > 0) {
      const extra = modelSignals(this.policy, rollouts, this.task.vocab.pad, c.sampling.temperature, wanted);
      rollouts.forEach((r, i) => (r.signals = { ...(r.signals ?? {}), ...extra[i] }));
    }
    const rows = toRows(rollouts, {
      stepEnds: requires.includes("step_ends") || rollouts.some((r) => r.segmentEnds !== undefined),
      episodes: requires.includes("episode") || requires.includes("anchor"),
      refLogprobs: refLogp && requires.includes("ref_logprobs") ? refLogp : undefined,
      tokenRewards,
    });
    const batch = packRows(rows, Int32Array.from(rows, (_, i) => i + 1), `step ${this.step + 1}`);
    // A method with a `step` option follows a schedule (length-curriculum's budget): it gets the
    // number of steps done so far, unless the configuration fixes it.
    const opts = "step" in spec.options && !("step" in c.methodOptions) ? { ...c.methodOptions, step: this.step } : c.methodOptions;
    const out: Assignment = runMethod(c.method, batch, opts);
    const adv: Float64Array[] = [], weights: Float64Array[] = [];
    for (let i = 0; i < batch.n; i++) {
      adv.push(out.advantages.slice(batch.offsets[i], batch.offsets[i + 1]));
      if (out.weights) weights.push(out.weights.slice(batch.offsets[i], batch.offsets[i + 1]));
    }
    return { adv, weights: out.weights ? weights : null };
  }

  /** The scalar loss of one minibatch; `stats` receives kept metric tensors. */
  private minibatchLoss(mb: Minibatch, stats: tf.Tensor[]): tf.Scalar {
    const c = this.config;
    const { pb } = mb;
    const shape: [number, number] = [pb.B, pb.T];
    const logits = tf.div(this.policy.forward(pb.tokens, pb.B, pb.T), c.sampling.temperature) as tf.Tensor2D;
    const logp = tf.reshape(selectLogProbs(logits, pb.targets), shape) as tf.Tensor2D;
    const old = tf.tensor2d(mb.old, shape);
    let adv = tf.tensor2d(mb.adv, shape) as tf.Tensor2D;
    const mask0 = tf.tensor2d(pb.mask, shape);
    // Entropy is always computed: it is a logged metric, and the bonus uses it when entropyCoef != 0.
    const ent = tf.reshape(entropyFromLogits(logits), shape) as tf.Tensor2D;
    let epsLow: Bound = c.loss.epsLow, epsHigh: Bound = c.loss.epsHigh;
    if (mb.hhat) {
      // HAPO: asymmetric adaptive clip bounds and differential advantage redistribution per
      // token, with the assign side's formulas. The ratio only selects a zone (no gradient),
      // so it is read on the host.
      const ratioHost = tf.tidy(() => ratioOf(logp, old).dataSync() as Float32Array);
      const lo = new Float32Array(pb.B * pb.T).fill(c.loss.epsLow), hi = new Float32Array(pb.B * pb.T).fill(c.loss.epsHigh);
      const a2 = Float32Array.from(mb.adv);
      for (let k = 0; k < a2.length; k++) {
        if (pb.mask[k] === 0) continue;
        const b = asymmetricClipBounds(mb.hhat[k], c.loss.epsLow, c.loss.epsHigh, c.hapo.clipAlpha);
        lo[k] = b.low;
        hi[k] = b.high;
        a2[k] = redistributeAdvantage(mb.adv[k], mb.hhat[k], ratioHost[k], b, c.hapo.advBeta);
      }
      epsLow = tf.tensor2d(lo, shape);
      epsHigh = tf.tensor2d(hi, shape);
      adv = tf.tensor2d(a2, shape);
    }
    const clip = { epsLow, epsHigh, clipC: c.loss.clipC };
    const wts = mb.weights ? tf.tensor2d(mb.weights, shape) : null;
    const { mask } = weightLoss(mask0 as tf.Tensor2D, mask0 as tf.Tensor2D, wts);
    const lossSpec = POLICY_LOSS_REGISTRY[c.loss.policyLoss];
    const agg = lossSpec.aggMode ?? c.loss.aggMode;
    const pg = lossSpec.loss({
      logp, old, adv, mask: mask0 as tf.Tensor2D, weights: wts, clip, epsLow: c.loss.epsLow, epsHigh: c.loss.epsHigh,
      aggMode: agg, scaleFactor: this.task.maxResponseTokens, segment: mb.segment, nSeg: mb.nSeg,
    });
    let total: tf.Scalar = pg;
    if (mb.ref && c.loss.klCoef > 0 && !c.loss.klInReward) {
      const kl = klPenalty(logp, tf.tensor2d(mb.ref, shape), c.loss.klKind);
      const klAgg = aggLoss(kl, mask, agg, this.task.maxResponseTokens);
      total = tf.add(total, tf.mul(c.loss.klCoef, klAgg)) as tf.Scalar;
      stats.push(tf.keep(klAgg));
    }
    if (c.loss.entropyCoef !== 0) total = tf.sub(total, tf.mul(c.loss.entropyCoef, aggLoss(ent, mask, agg, this.task.maxResponseTokens))) as tf.Scalar;
    // Metrics (verl): clip fraction and the approximate KL to the sampling policy, token means.
    const ratio = ratioOf(logp, old);
    const lo = typeof epsLow === "number" ? 1 - epsLow : tf.sub(1, epsLow);
    const hi = typeof epsHigh === "number" ? 1 + epsHigh : tf.add(1, epsHigh);
    const clipped = tf.cast(tf.logicalOr(tf.less(ratio, lo), tf.greater(ratio, hi)), "float32") as tf.Tensor2D;
    stats.unshift(
      tf.keep(aggLoss(clipped, mask, "token-mean")),
      tf.keep(aggLoss(tf.sub(old, logp) as tf.Tensor2D, mask, "token-mean")),
      tf.keep(aggLoss(ent, mask, "token-mean")),
    );
    return total;
  }

  /** Runs one training step and returns its metrics (without eval_accuracy). */
  async trainStep(): Promise<StepMetrics> {
    const c = this.config;
    const t0 = performance.now();
    const prompts: TaskPrompt[] = [];
    for (let k = 0; k < c.promptsPerStep; k++) prompts.push(this.task.samplePrompt(this.rng.fn()));
    const current = this.policy.weights();
    let gen: Generated;
    // Workers cannot run HAPO's adaptive temperature (a closure): it samples in this thread.
    const pool = this.pool && !this.sampleOptions().adaptiveTemperature ? this.pool : null;
    if (pool) {
      await pool.setWeights(this.modelConfig, current);
      gen = await this.generate({ maxSeqLen: this.modelConfig.maxSeqLen, sample: (r, o, g) => pool.sample(r, o, g) }, prompts);
    } else {
      const sw = samplerWeights(this.modelConfig, current);
      try {
        gen = await this.generate({ maxSeqLen: this.modelConfig.maxSeqLen, sample: async (r, o, g) => sample(sw, r, o, g) }, prompts);
      } finally {
        disposeSamplerWeights(sw);
      }
    }
    const { rollouts } = gen;
    this.sampledTokens += gen.sampledTokens;
    const needRecompute = c.loss.oldLogprobs === "recompute" || c.method === "hapo";
    const scored = needRecompute ? this.score(this.policy, rollouts, false) : null;
    const oldLogp = scored ? scored.logp : rollouts.map((r) => r.logprobs);
    const refLogp = this.ref && c.loss.klCoef > 0 ? this.score(this.ref, rollouts, false).logp : null;
    const assigned = this.assign(rollouts, refLogp);
    const { adv } = assigned;
    let { weights } = assigned;
    if (rollouts.some((r) => r.trainMask)) {
      // Tree paths share segments: train each edge once (weight 0 on the copies).
      weights = rollouts.map((r, i) => {
        const w = weights ? Float64Array.from(weights[i]) : new Float64Array(r.tokens.length).fill(1);
        if (r.trainMask) for (let k = 0; k < w.length; k++) w[k] *= r.trainMask[k];
        return w;
      });
    }
    // HAPO: normalised entropies of this batch (clip bounds now, sampling temperature next step).
    let hhat: Float64Array[] | null = null;
    if (c.method === "hapo" && scored) {
      const stats = hapoEntropyStats(scored.ent, c.hapo.entropyPivot);
      hhat = scored.ent.map((e) => hapoNormalise(e, stats, c.hapo.signConvention));
      this.hapoStats = stats;
    }
    // Segment ids for the losses that need them: one per row or one per step.
    const lossSpec = POLICY_LOSS_REGISTRY[c.loss.policyLoss];
    const segOf = (r: Rollout): number[] => {
      const ends = lossSpec.segments === "step" ? (r.segmentEnds ?? r.verdict.stepEnds ?? []) : [];
      const out: number[] = [];
      let s = 0;
      const set = new Set(ends);
      for (let k = 0; k < r.tokens.length; k++) {
        out.push(s);
        if (set.has(k)) s++;
      }
      return out;
    };
    const n = rollouts.length;
    const M = Math.min(c.loss.minibatches, n);
    const metrics = { loss: [] as number[], clip: [] as number[], kl: [] as number[], ent: [] as number[], gn: [] as number[], klRef: [] as number[] };
    let lr = 0;
    for (let e = 0; e < c.loss.epochs; e++) {
      for (let m = 0; m < M; m++) {
        const idx: number[] = [];
        for (let i = Math.floor((m * n) / M); i < Math.floor(((m + 1) * n) / M); i++) idx.push(i);
        const rs = idx.map((i) => rollouts[i]);
        const pb = packPairs(rs.map((r) => ({ prompt: r.prompt.tokens, response: r.tokens })), this.task.vocab.pad);
        let segment: Int32Array | null = null, nSeg = 0;
        if (lossSpec.segments) {
          const local = rs.map(segOf);
          const offs: number[] = [];
          for (const l of local) {
            offs.push(nSeg);
            nSeg += l.length ? l[l.length - 1] + 1 : 0;
          }
          segment = new Int32Array(pb.B * pb.T).fill(-1);
          local.forEach((l, i) => l.forEach((s, k) => ((segment as Int32Array)[i * pb.T + pb.start[i] + k] = offs[i] + s)));
        }
        const mb: Minibatch = {
          pb, adv: scatter(pb, idx.map((i) => adv[i])), old: scatter(pb, idx.map((i) => oldLogp[i])),
          weights: weights ? scatter(pb, idx.map((i) => weights[i])) : null,
          ref: refLogp ? scatter(pb, idx.map((i) => refLogp[i])) : null,
          segment, nSeg, hhat: hhat ? scatter(pb, idx.map((i) => (hhat as Float64Array[])[i])) : null,
        };
        const stats: tf.Tensor[] = [];
        const { value, grads } = tf.variableGrads(() => this.minibatchLoss(mb, stats));
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
    let advAbs = 0, nTok = 0;
    for (const a of adv) for (const x of a) { advAbs += Math.abs(x); nTok++; }
    const out: StepMetrics = {
      step: this.step,
      reward_mean: mean(rollouts.map((r) => r.verdict.reward)),
      accuracy: mean(rollouts.map((r) => (r.verdict.correct ? 1 : 0))),
      sampled_tokens: this.sampledTokens,
      step_sampled_tokens: gen.sampledTokens,
      response_len_mean: mean(rollouts.map((r) => r.tokens.length)),
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
    return out;
  }

  state(elapsed: number): TrainState {
    return { step: this.step, sampledTokens: this.sampledTokens, rng: this.rng.state, adam: this.opt.state(), weights: this.policy.weights(), hapo: this.hapoStats, elapsed };
  }
}

interface CheckpointFile {
  format: "creditflow-train";
  version: 1;
  step: number;
  sampledTokens: number;
  rng: number[];
  adam: { t: number; m: Record<string, string>; v: Record<string, string> };
  weights: Record<string, string>;
  hapo: HapoStats | null;
  elapsed: number;
  config: TrainConfig;
}

export function saveCheckpoint(path: string, s: TrainState, config: TrainConfig): void {
  const f: CheckpointFile = {
    format: "creditflow-train", version: 1, step: s.step, sampledTokens: s.sampledTokens, rng: s.rng,
    adam: { t: s.adam.t, m: encodeMap(s.adam.m), v: encodeMap(s.adam.v) }, weights: encodeMap(s.weights), hapo: s.hapo, elapsed: s.elapsed, config,
  };
  writeAtomic(path, JSON.stringify(f));
}

export function loadCheckpoint(path: string): { state: TrainState; config: TrainConfig } {
  const f = readJson(path) as CheckpointFile;
  if (!f || f.format !== "creditflow-train") throw new ConfigError(`${path}: not a creditflow training checkpoint`);
  return {
    config: f.config,
    state: {
      step: f.step, sampledTokens: f.sampledTokens, rng: f.rng, hapo: f.hapo, elapsed: f.elapsed,
      adam: { t: f.adam.t, m: decodeMap(f.adam.m), v: decodeMap(f.adam.v) }, weights: decodeMap(f.weights),
    },
  };
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
    checkTrainable(config.method);
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
    config = ck.config;
    state = ck.state;
    log(`resuming from step ${state.step}`);
  }
  validateConfig(config);
  checkTrainable(config.method);
  const task = resolveTask(config.task);
  const modelConfig: ModelConfig = { ...config.model, vocabSize: task.vocab.size };
  let warmEval: number | null = null;
  let init: Map<string, Float32Array>;
  if (state) {
    init = readPolicyFile(refPath).weights;
    if (existsSync(summaryPath)) warmEval = (readJson(summaryPath) as { warm_start_eval_accuracy: number | null }).warm_start_eval_accuracy;
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
  const trainer = new Trainer(config, task, init, config.loss.klCoef > 0 ? init : null, state);
  if (config.workers > 1) trainer.pool = new SamplerPool(config.workers);
  const started = performance.now() - (state ? state.elapsed * 1000 : 0);
  try {
    if (!state && config.eval.n > 0) {
      warmEval = trainer.evaluate();
      log(`warm-start eval accuracy ${warmEval.toFixed(3)}`);
    }
    writeAtomic(summaryPath, JSON.stringify({ warm_start_eval_accuracy: warmEval, final_eval_accuracy: null, steps: trainer.step, sampled_tokens: trainer.sampledTokens }, null, 2) + "\n");
    if (state) truncateMetrics(metricsPath, trainer.step);
    let lastEval: number | null = warmEval;
    let done = 0;
    const stepTimes: number[] = [];
    const overBudget = () => config.tokenBudget > 0 && trainer.sampledTokens >= config.tokenBudget;
    while (trainer.step < config.steps && !overBudget()) {
      if (o.stopAfter !== undefined && done >= o.stopAfter) break;
      const t0 = performance.now();
      const m = await trainer.trainStep();
      const last = trainer.step === config.steps || overBudget();
      if (config.eval.every > 0 && config.eval.n > 0 && (trainer.step % config.eval.every === 0 || last)) {
        m.eval_accuracy = trainer.evaluate();
        lastEval = m.eval_accuracy;
      }
      appendFileSync(metricsPath, JSON.stringify(m) + "\n");
      if (config.checkpointEvery > 0 && (trainer.step % config.checkpointEvery === 0 || last)) {
        saveCheckpoint(ckptPath, trainer.state((performance.now() - started) / 1000), config);
      }
      done++;
      stepTimes.push((performance.now() - t0) / 1000);
      const recent = stepTimes.slice(-10);
      o.onProgress?.({ step: trainer.step, steps: config.steps, metrics: m, evalAccuracy: lastEval, etaSeconds: mean(recent) * (config.steps - trainer.step) });
    }
    const finished = trainer.step >= config.steps || overBudget();
    const summary: RunSummary = {
      warmStartEvalAccuracy: warmEval, finalEvalAccuracy: finished ? lastEval : null, steps: trainer.step, sampledTokens: trainer.sampledTokens,
      seconds: (performance.now() - started) / 1000,
    };
    writeAtomic(summaryPath, JSON.stringify({
      warm_start_eval_accuracy: summary.warmStartEvalAccuracy, final_eval_accuracy: summary.finalEvalAccuracy, steps: summary.steps,
      sampled_tokens: summary.sampledTokens, seconds: summary.seconds, task: task.name, method: config.method, seed: config.seed,
    }, null, 2) + "\n");
    return summary;
  } finally {
    await trainer.close();
    trainer.dispose();
  }
}
