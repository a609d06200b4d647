/**
 * Preference training of the built-in policy (`creditflow prefer`): pairs from the task's
 * verifier, the auxiliary models a method needs, then the policy, with metrics, evaluation and
 * atomic, exactly resumable checkpoints.
 *
 * Gradients: every objective is one of the pure functions of src/preference, which return the loss
 * and its exact gradient with respect to the policy's per-token log-probs or logits. A log-prob
 * gradient g_t becomes a logit gradient g_t (onehot(y_t) - p_t); the update then backpropagates the
 * surrogate sum(stopgrad(G) * logits) through the model, whose parameter gradient is exactly the
 * loss's (chain rule; tested against finite differences on a tiny model).
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import * as v from "valibot";
import { join } from "node:path";
import { ConfigError } from "../core/errors.js";
import type { Task } from "../tasks/types.js";
import { tf } from "./policy/tf.js";
import { Policy, type ModelConfig } from "./policy/model.js";
import { Adam, lrAt, DEFAULT_OPTIM, type AdamState } from "./policy/optim.js";
import { packPairs } from "./policy/batching.js";
import { sftUpdate, sftWarmStart } from "./sft.js";
import { evaluate } from "./evaluate.js";
import { resolveTask } from "./tasks.js";
import { decodeMap, encodeMap, readJson, readPolicyFile, weightsDigest, writeAtomic, writePolicyFile } from "./checkpoint.js";
import { checkPolicyFile, metricSteps, readJsonFile } from "./rundir.js";
import { schemaProblem } from "./schema.js";
import { AUX_MODELS, UNPAIRED_METHODS, methodAlpha, methodRollouts, PREFER_SCHEMA, validatePreferConfig, type AuxName, type PreferConfig, type PreferMethod } from "./prefer-config.js";
import { buildPairSet, sampleVerified, streamRng, modelLogits, pairSequences, responseLogits, type Pair } from "./prefer-pairs.js";
import { logSoftmaxRows } from "../preference/common.js";
import { addLogpGrad, responseRows, surrogateGrads } from "./prefer-grad.js";
import { dpoLoss, ipoLoss } from "../preference/dpo.js";
import { tdpoLoss } from "../preference/tdpo.js";
import { tgdpoLoss } from "../preference/tgdpo.js";
import { cdpoLoss, criticalTokenScores, criticalTokenWeights } from "../preference/cdpo.js";
import { tregLoss } from "../preference/treg.js";
import { alignDistilLoss } from "../preference/aligndistil.js";
import { rmtBudget, rmtCurriculum } from "../preference/rmt.js";
import { answerConditioned, introGrads, introSample } from "./prefer-intro.js";
import { entropyTiers, rmtCorpus, rmtGrads, rmtSelect } from "./prefer-rmt.js";
import { laserGrads, selfRewardAccuracy, selfRewards, selfRewardSetup } from "./prefer-laser.js";

/** What a method reads about one response besides the policy's logits (all precomputed, frozen models). */
export interface SideData {
  tokens: Int32Array;
  /** Reference log-probs of the tokens. */
  ref: Float64Array;
  /** Reference logits [T*V] (TDPO). */
  refLogits?: Float64Array;
  /** The DPO model's log-probs (TGDPO's token reward model). */
  rm?: Float64Array;
  /** cDPO's critical-token weights. */
  weights?: Float64Array;
  /** T-REG's evaluator log-probs ("better" and "worse" conditioning). */
  better?: Float64Array;
  worse?: Float64Array;
  /** AlignDistil's DPO and reverse-DPO logits [T*V]. */
  dpoLogits?: Float64Array;
  rdpoLogits?: Float64Array;
}

export interface PairData {
  prompt: number[];
  chosen: SideData;
  rejected: SideData;
}

/** Log-probs of the sampled tokens from [T*V] log-softmax rows. */
function tokenLogps(lp: Float64Array, tokens: Int32Array, V: number): Float64Array {
  return Float64Array.from(tokens, (y, t) => lp[t * V + y]);
}

/** d/dz of a loss whose gradient with respect to the token log-probs is g: g_t (onehot(y_t) - p_t). */
export function logitGradFromLogpGrad(lp: Float64Array, tokens: Int32Array, g: Float64Array, V: number): Float64Array {
  const out = new Float64Array(lp.length);
  for (let t = 0; t < tokens.length; t++) addLogpGrad(lp, t, tokens[t], g[t], V, out);
  return out;
}

export interface PairResult {
  loss: number;
  /** Gradients with respect to the policy logits of the chosen / rejected response, [T*V]. */
  chosen: Float64Array;
  rejected: Float64Array;
  /** (sum lp_w - sum ref_w) - (sum lp_l - sum ref_l): > 0 means the policy ranks the pair right. */
  margin: number;
}

/** Options of the host-side loss. */
export interface PairLossOptions {
  method: PreferMethod;
  beta: number;
  alpha: number;
  tvdScale: number;
  aggregation: "position" | "sequence";
}

/** The loss of one pair for `method` from the policy's logits on both responses, with its logit gradients. */
export function pairLoss(d: PairData, zw: Float64Array, zl: Float64Array, V: number, o: PairLossOptions): PairResult {
  const lpwRows = logSoftmaxRows(zw, V), lplRows = logSoftmaxRows(zl, V);
  const lpw = tokenLogps(lpwRows, d.chosen.tokens, V), lpl = tokenLogps(lplRows, d.rejected.tokens, V);
  let margin = 0;
  for (let t = 0; t < lpw.length; t++) margin += lpw[t] - d.chosen.ref[t];
  for (let t = 0; t < lpl.length; t++) margin -= lpl[t] - d.rejected.ref[t];
  const c = { policy: lpw, ref: d.chosen.ref }, r = { policy: lpl, ref: d.rejected.ref };
  const fromLogps = (res: { loss: number; chosen: Float64Array; rejected: Float64Array }): PairResult => ({
    loss: res.loss,
    chosen: logitGradFromLogpGrad(lpwRows, d.chosen.tokens, res.chosen, V),
    rejected: logitGradFromLogpGrad(lplRows, d.rejected.tokens, res.rejected, V),
    margin,
  });
  switch (o.method) {
    case "dpo":
      return fromLogps(dpoLoss(c, r, { beta: o.beta }));
    case "ipo":
      return fromLogps(ipoLoss(c, r, { beta: o.beta }));
    case "tgdpo":
      return fromLogps(tgdpoLoss({ ...c, rm: d.chosen.rm! }, { ...r, rm: d.rejected.rm! }, { beta: o.beta, alpha: o.alpha }));
    case "cdpo":
      return fromLogps(cdpoLoss({ ...c, weights: d.chosen.weights! }, { ...r, weights: d.rejected.weights! }, { beta: o.beta, aggregation: o.aggregation }));
    case "t-reg":
      return fromLogps(tregLoss({ ...c, better: d.chosen.better!, worse: d.chosen.worse! }, { ...r, better: d.rejected.better!, worse: d.rejected.worse! }, { beta: o.beta, alpha: o.alpha }));
    case "tdpo1":
    case "tdpo2": {
      const res = tdpoLoss({ policy: zw, ref: d.chosen.refLogits!, tokens: d.chosen.tokens }, { policy: zl, ref: d.rejected.refLogits!, tokens: d.rejected.tokens }, V, { variant: o.method, beta: o.beta, alpha: o.alpha });
      return { loss: res.loss, chosen: res.chosen, rejected: res.rejected, margin };
    }
    case "aligndistil": {
      // Off-policy AlignDistil distils on the chosen responses only (the rejected ones are unused).
      const res = alignDistilLoss(zw, d.chosen.dpoLogits!, d.chosen.rdpoLogits!, V, null, { beta: o.beta, tvdScale: o.tvdScale });
      return { loss: res.loss, chosen: res.grad, rejected: new Float64Array(zl.length), margin };
    }
    case "intro":
    case "rmt":
    case "laser-loss":
      throw new Error(`prefer: ${o.method} does not train on pairs`);
  }
}

export interface StepResult {
  loss: number;
  pairAccuracy: number;
  gradNorm: number;
}

function packBoth(batch: readonly PairData[], pad: number) {
  const seqs = [...batch.map((d) => ({ prompt: d.prompt, response: Array.from(d.chosen.tokens) })), ...batch.map((d) => ({ prompt: d.prompt, response: Array.from(d.rejected.tokens) }))];
  return packPairs(seqs, pad);
}

/**
 * The batch-mean loss of `batch` from logits [2B*T, V] of its packed sides (chosen rows first),
 * and its gradient with respect to those logits.
 */
function batchLoss(flat: Float32Array, pb: ReturnType<typeof packPairs>, batch: readonly PairData[], V: number, o: PairLossOptions): { loss: number; right: number; gz: Float32Array } {
  const B = batch.length;
  const gz = new Float32Array(flat.length);
  let loss = 0, right = 0;
  const rows = (i: number) => responseRows(flat, pb, i, V);
  for (let k = 0; k < B; k++) {
    const w = rows(k), l = rows(B + k);
    const res = pairLoss(batch[k], w.z, l.z, V, o);
    loss += res.loss / B;
    if (res.margin > 0) right++;
    for (let j = 0; j < res.chosen.length; j++) gz[w.from + j] = res.chosen[j] / B;
    for (let j = 0; j < res.rejected.length; j++) gz[l.from + j] = res.rejected[j] / B;
  }
  return { loss, right, gz };
}

/** The batch-mean loss of `batch` under `policy` (a forward pass, no gradient). */
export function preferLoss(policy: Policy, batch: readonly PairData[], o: PairLossOptions, pad: number): number {
  const pb = packBoth(batch, pad);
  const flat = tf.tidy(() => policy.forward(pb.tokens, pb.B, pb.T).dataSync() as Float32Array);
  return batchLoss(flat, pb, batch, policy.config.vocabSize, o).loss;
}

/**
 * The loss of `batch` and its gradient with respect to every parameter (keyed by parameter name):
 * a forward pass over both sides, the host loss and its logit gradient G, and the backward pass of
 * the surrogate sum(G * logits), G constant. The caller disposes the gradients.
 */
export function preferGrads(policy: Policy, batch: readonly PairData[], o: PairLossOptions, pad: number): { loss: number; pairAccuracy: number; grads: Map<string, tf.Tensor> } {
  const V = policy.config.vocabSize;
  let right = 0;
  const { loss, grads } = surrogateGrads(policy, packBoth(batch, pad), (flat, pb) => {
    const r = batchLoss(flat, pb, batch, V, o);
    right = r.right;
    return r;
  }, o.method);
  return { loss, pairAccuracy: right / Math.max(1, batch.length), grads };
}

/** One update of `policy` on the pairs `batch` (the loss is the batch mean). */
export function preferUpdate(policy: Policy, opt: Adam, batch: readonly PairData[], o: PairLossOptions, pad: number, lr: number): StepResult {
  const g = preferGrads(policy, batch, o, pad);
  const gradNorm = opt.step(g.grads, lr);
  tf.dispose([...g.grads.values()]);
  return { loss: g.loss, pairAccuracy: g.pairAccuracy, gradNorm };
}

/** Indices of the pairs of update `step` (a fresh draw per step from the seed: resume needs no state). */
export function batchIndices(n: number, size: number, seed: number, salt: number, step: number): number[] {
  const rng = streamRng(seed, salt, step);
  return Array.from({ length: Math.min(size, n) }, () => rng.int(n));
}

interface AuxResult {
  weights: Map<string, Float32Array>;
  tokens: number;
  seconds: number;
}

/**
 * An auxiliary model, from the reference: `dpo` (DPO on the pairs), `rdpo` (DPO with the sides
 * swapped), `pos` / `neg` (SFT on the chosen / rejected responses).
 */
export function trainAux(name: AuxName, model: ModelConfig, refWeights: Map<string, Float32Array>, pairs: readonly Pair[], refData: readonly PairData[], c: PreferConfig, pad: number): AuxResult {
  const t0 = performance.now();
  const policy = new Policy(model, refWeights);
  const opt = new Adam({ ...DEFAULT_OPTIM, lr: c.aux.lr, warmupSteps: 2, schedule: "constant" }, policy.params);
  let tokens = 0;
  const salt = { dpo: 11, rdpo: 12, pos: 13, neg: 14 }[name];
  try {
    for (let s = 0; s < c.aux.steps; s++) {
      const idx = batchIndices(pairs.length, c.batch, c.seed, salt, s);
      const lr = lrAt(opt.config, s, c.aux.steps);
      if (name === "dpo" || name === "rdpo") {
        const batch = idx.map((i) => (name === "dpo" ? refData[i] : { ...refData[i], chosen: refData[i].rejected, rejected: refData[i].chosen }));
        preferUpdate(policy, opt, batch, { method: "dpo", beta: c.beta, alpha: 0, tvdScale: 0, aggregation: "position" }, pad, lr);
        for (const d of batch) tokens += d.chosen.tokens.length + d.rejected.tokens.length;
      } else {
        const seqs = idx.map((i) => ({ prompt: pairs[i].prompt, response: name === "pos" ? pairs[i].chosen : pairs[i].rejected }));
        sftUpdate(policy, opt, seqs, pad, lr);
        for (const q of seqs) tokens += q.response.length;
      }
    }
    return { weights: policy.weights(), tokens, seconds: (performance.now() - t0) / 1000 };
  } finally {
    opt.dispose();
    policy.dispose();
  }
}

/** Frozen-model quantities of every response of `pairs`, for `method` (reference always; others as needed). */
export function pairData(pairs: readonly Pair[], model: ModelConfig, ref: Map<string, Float32Array>, aux: Partial<Record<AuxName, Map<string, Float32Array>>>, method: PreferMethod, vocab: { pad: number; eos: number }): PairData[] {
  const pad = vocab.pad;
  const V = model.vocabSize;
  const seqs = pairSequences(pairs);
  const n = pairs.length;
  const tokens = seqs.map((q) => Int32Array.from(q.response));
  const refZ = modelLogits(model, ref, seqs, pad);
  const logps = (z: Float64Array[]) => z.map((rows, k) => tokenLogps(logSoftmaxRows(rows, V), tokens[k], V));
  const refLp = logps(refZ);
  const side = (k: number): SideData => ({ tokens: tokens[k], ref: refLp[k] });
  const sides = seqs.map((_, k) => side(k));
  if (method === "tdpo1" || method === "tdpo2") refZ.forEach((z, k) => (sides[k].refLogits = z));
  if (aux.dpo && method === "tgdpo") logps(modelLogits(model, aux.dpo, seqs, pad)).forEach((lp, k) => (sides[k].rm = lp));
  if (aux.pos && aux.neg) {
    const posZ = modelLogits(model, aux.pos, seqs, pad), negZ = modelLogits(model, aux.neg, seqs, pad);
    if (method === "cdpo") {
      // Critical-token weights; the last token is EOS (weight 1) when the response ended with it.
      sides.forEach((s, k) => {
        const scores = criticalTokenScores(posZ[k], negZ[k], s.tokens, V);
        s.weights = criticalTokenWeights(scores, k < n ? "chosen" : "rejected", s.tokens[s.tokens.length - 1] === vocab.eos);
      });
    } else {
      // T-REG's evaluator under the "better" / "worse" conditioning: on a task with no text prompts,
      // the models fine-tuned on correct / incorrect responses play the two conditionings.
      logps(posZ).forEach((lp, k) => (sides[k].better = lp));
      logps(negZ).forEach((lp, k) => (sides[k].worse = lp));
    }
  }
  if (aux.dpo && aux.rdpo && method === "aligndistil") {
    const dz = modelLogits(model, aux.dpo, seqs, pad), rz = modelLogits(model, aux.rdpo, seqs, pad);
    sides.forEach((s, k) => {
      s.dpoLogits = dz[k];
      s.rdpoLogits = rz[k];
    });
  }
  return pairs.map((p, i) => ({ prompt: p.prompt, chosen: sides[i], rejected: sides[n + i] }));
}

/** Fraction of pairs the policy ranks right (implicit-reward margin > 0). */
export function pairAccuracy(policy: Policy, data: readonly PairData[], pad: number): number {
  if (data.length === 0) return 0;
  const V = policy.config.vocabSize;
  const seqs = [...data.map((d) => ({ prompt: d.prompt, response: Array.from(d.chosen.tokens) })), ...data.map((d) => ({ prompt: d.prompt, response: Array.from(d.rejected.tokens) }))];
  const z = responseLogits(policy, seqs, pad);
  let right = 0;
  data.forEach((d, k) => {
    const w = tokenLogps(logSoftmaxRows(z[k], V), d.chosen.tokens, V);
    const l = tokenLogps(logSoftmaxRows(z[data.length + k], V), d.rejected.tokens, V);
    let m = 0;
    w.forEach((x, t) => (m += x - d.chosen.ref[t]));
    l.forEach((x, t) => (m -= x - d.rejected.ref[t]));
    if (m > 0) right++;
  });
  return right / data.length;
}

export interface PreferMetrics {
  step: number;
  loss: number;
  /** The pair methods: the batch's pairs ranked right. */
  pair_accuracy?: number;
  /** InTRO: the fraction of its samples that were correct; RMT: of its one-token rollouts that predicted the corpus token. */
  sample_accuracy?: number;
  /** InTRO, RMT, LaSeR: tokens sampled from the policy in this update. */
  sampled_tokens?: number;
  /** LaSeR: how well the self-reward (r_s > 0.5) predicted the verifier on the update's finished samples, before the update (balanced accuracy). */
  self_reward_balanced_accuracy?: number;
  /** LaSeR, on evaluation steps: the same on the finished responses of the held-out pairs. */
  heldout_self_reward_balanced_accuracy?: number;
  grad_norm: number;
  lr: number;
  heldout_pair_accuracy?: number;
  eval_accuracy?: number;
  time_s: number;
}

export interface PreferProgress {
  step: number;
  steps: number;
  metrics: PreferMetrics;
  evalAccuracy: number | null;
  etaSeconds: number;
}

export interface PreferRunOptions {
  outDir: string;
  resume: boolean;
  onLog?: (line: string) => void;
  onProgress?: (p: PreferProgress) => void;
  /** Stop after this many updates in this call (tests: a run cut short, then resumed). */
  stopAfter?: number;
  /** Pairs built already from the same reference (a benchmark shares them across methods). */
  pairs?: { train: Pair[]; heldout: Pair[]; sampledTokens: number };
}

export interface PreferSummary {
  steps: number;
  pairs: number;
  heldoutPairs: number;
  sampledTokens: number;
  warmStartEvalAccuracy: number | null;
  finalEvalAccuracy: number | null;
  finalHeldoutPairAccuracy: number | null;
  seconds: number;
}

interface PreferCheckpoint {
  format: "creditflow-prefer";
  version: 1;
  step: number;
  elapsed: number;
  weights: Record<string, string>;
  adam: { t: number; m: Record<string, string>; v: Record<string, string> };
  config: PreferConfig;
}

function saveCheckpoint(path: string, step: number, elapsed: number, policy: Policy, adam: AdamState, config: PreferConfig): void {
  const f: PreferCheckpoint = {
    format: "creditflow-prefer", version: 1, step, elapsed, weights: encodeMap(policy.weights()),
    adam: { t: adam.t, m: encodeMap(adam.m), v: encodeMap(adam.v) }, config,
  };
  writeAtomic(path, JSON.stringify(f));
}

/** Keeps the metrics lines of steps <= `step` (after a resume, later lines are redone). */
function truncateMetrics(path: string, step: number): void {
  const keep = readFileSync(path, "utf8").split("\n").filter((l) => {
    if (!l.trim()) return false;
    try {
      return (JSON.parse(l) as { step: number }).step <= step;
    } catch {
      return false;
    }
  });
  writeAtomic(path, keep.map((l) => l + "\n").join(""));
}

/** The files of a preference run directory besides config.json / metrics.jsonl / checkpoint.json. */
export const PAIRS_FILE = "pairs.json";
/** The trained policy as a policy file, written when the run finishes (`train --dpo-policy`, `--warm-start`). */
export const POLICY_FILE = "policy.json";
export const auxFile = (name: AuxName) => `aux-${name}.json`;

/** What a method needs of the task and the model, checked before anything is written (InTRO: a full-length rationale after x (+) y fits the model). */
export function preflightPreferMethod(config: PreferConfig): void {
  if (config.method !== "intro") return;
  const task = resolveTask(config.task);
  const longest = answerConditioned(task, task.samplePrompt(streamRng(config.seed, 0x1e70).fn())).length + task.maxResponseTokens - 1;
  if (longest > config.model.maxSeqLen) throw new ConfigError(`intro: x (+) y and a ${task.maxResponseTokens}-token response take ${longest} positions, beyond model.maxSeqLen ${config.model.maxSeqLen} (raise model.maxSeqLen)`);
}

/** A whole preference run in `outDir`. */
export async function runPrefer(config: PreferConfig, o: PreferRunOptions): Promise<PreferSummary> {
  const log = o.onLog ?? (() => {});
  const ckptPath = join(o.outDir, "checkpoint.json");
  const metricsPath = join(o.outDir, "metrics.jsonl");
  const refPath = join(o.outDir, "warm-start.json");
  const pairsPath = join(o.outDir, PAIRS_FILE);
  let ck: PreferCheckpoint | null = null;
  if (o.resume) {
    ck = readJson(ckptPath) as PreferCheckpoint;
    config = ck.config;
    log(`resuming from step ${ck.step}`);
  }
  validatePreferConfig(config);
  const task: Task = resolveTask(config.task);
  const model: ModelConfig = { ...config.model, vocabSize: task.vocab.size };
  const pad = task.vocab.pad;
  preflightPreferMethod(config);
  const started = performance.now() - (ck ? ck.elapsed * 1000 : 0);
  mkdirSync(o.outDir, { recursive: true });
  let ref: Map<string, Float32Array>;
  let pairs: { train: Pair[]; heldout: Pair[]; sampledTokens: number };
  const aux: Partial<Record<AuxName, Map<string, Float32Array>>> = {};
  let warmEval: number | null = null;
  if (ck) {
    ref = readPolicyFile(refPath).weights;
    pairs = readJson(pairsPath) as typeof pairs;
    for (const a of AUX_MODELS[config.method]) aux[a] = readPolicyFile(join(o.outDir, auxFile(a))).weights;
    truncateMetrics(metricsPath, ck.step);
  } else {
    writeAtomic(join(o.outDir, "config.json"), JSON.stringify(config, null, 2) + "\n");
    writeAtomic(metricsPath, "");
    // A replaced run's final policy must not pass for this run's.
    rmSync(join(o.outDir, POLICY_FILE), { force: true });
    if (config.warmStart) {
      const pf = readPolicyFile(config.warmStart);
      for (const k of Object.keys(model) as (keyof ModelConfig)[]) {
        if (pf.model[k] !== model[k]) throw new ConfigError(`warm start ${config.warmStart}: model.${k} is ${pf.model[k]}, the run's is ${model[k]}`);
      }
      ref = pf.weights;
    } else {
      const t0 = performance.now();
      ref = sftWarmStart(task, model, { ...config.sft, seed: config.sft.seed + config.seed }, config.seed + 1);
      log(`reference: SFT warm start, ${config.sft.steps} steps x ${config.sft.batch} demonstrations, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    writePolicyFile(refPath, model, ref, { task: task.name, from: config.warmStart ?? "sft" });
    const t1 = performance.now();
    if (o.pairs) {
      pairs = o.pairs;
      log(`pairs: ${pairs.train.length} training and ${pairs.heldout.length} held-out pairs, given (${pairs.sampledTokens} sampled tokens)`);
    } else {
      const ps = buildPairSet(task, model, ref, { ...config.pairs, seed: config.seed, evalSeed: config.eval.seed });
      pairs = { train: ps.train, heldout: ps.heldout, sampledTokens: ps.sampledTokens };
      log(`pairs: ${ps.train.length} training and ${ps.heldout.length} held-out (correct, incorrect) pairs from ${ps.prompts} prompts x ${config.pairs.samples} samples: ${ps.sampledTokens} sampled tokens, ${((performance.now() - t1) / 1000).toFixed(1)} s`);
    }
    if (pairs.train.length === 0 && !UNPAIRED_METHODS.includes(config.method)) throw new ConfigError(`no training pair: no prompt had both a correct and an incorrect sample among ${config.pairs.samples} (raise pairs.samples or pairs.prompts, or use a weaker warm start)`);
    writeAtomic(pairsPath, JSON.stringify(pairs));
  }
  const refData = pairData(pairs.train, model, ref, {}, "dpo", task.vocab);
  if (!ck) {
    for (const a of AUX_MODELS[config.method]) {
      const r = trainAux(a, model, ref, pairs.train, refData, config, pad);
      aux[a] = r.weights;
      writePolicyFile(join(o.outDir, auxFile(a)), model, r.weights, { task: task.name, aux: a, steps: config.aux.steps });
      log(`model ${a}: ${config.aux.steps} updates on ${r.tokens} pair tokens (0 sampled), ${r.seconds.toFixed(1)} s`);
    }
  }
  const train = pairData(pairs.train, model, ref, aux, config.method, task.vocab);
  const held = pairData(pairs.heldout, model, ref, aux, config.method, task.vocab);
  const policy = new Policy(model, ck ? decodeMap(ck.weights) : ref);
  const opt = new Adam(config.optim, policy.params);
  if (ck) opt.load({ t: ck.adam.t, m: decodeMap(ck.adam.m), v: decodeMap(ck.adam.v) });
  const lossOpts: PairLossOptions = { method: config.method, beta: config.beta, alpha: methodAlpha(config), tvdScale: config.methodOptions.tvdScale, aggregation: config.methodOptions.aggregation };
  const evalPrompts = config.eval.n > 0 ? task.evalSet(config.eval.n, config.eval.seed) : [];
  const evalNow = () => (evalPrompts.length > 0 ? evaluate(task, model, policy.weights(), evalPrompts).accuracy : null);
  try {
    const update = methodUpdate(config, task, model, ref, train, policy, opt, lossOpts, log);
    const extraEval = methodEval(config, task, pairs.heldout, policy);
    const prefixed = (prefix: string, r: Record<string, number> | null) => Object.fromEntries(Object.entries(r ?? {}).map(([k, v]) => [prefix + k, v]));
    let lastExtra: Record<string, number> | null = null;
    let warmExtra: Record<string, number> = {};
    if (!ck) {
      warmEval = evalNow();
      warmExtra = prefixed("warm_start_", extraEval?.() ?? null);
      writeAtomic(join(o.outDir, "summary.json"), JSON.stringify({ warm_start_eval_accuracy: warmEval, warm_start_heldout_pair_accuracy: pairAccuracy(policy, held, pad), ...warmExtra }, null, 2) + "\n");
      if (warmEval !== null) log(`reference held-out accuracy ${warmEval.toFixed(3)}`);
    } else if (existsSync(join(o.outDir, "summary.json"))) {
      const w = readJson(join(o.outDir, "summary.json")) as { warm_start_eval_accuracy: number | null } & Record<string, unknown>;
      warmEval = w.warm_start_eval_accuracy;
      warmExtra = Object.fromEntries(Object.entries(w).filter((e): e is [string, number] => e[0].startsWith("warm_start_heldout_self") && typeof e[1] === "number"));
    }
    let step = ck ? ck.step : 0;
    let lastEval: number | null = warmEval, lastHeld: number | null = null;
    let done = 0;
    const times: number[] = [];
    while (step < config.steps) {
      if (o.stopAfter !== undefined && done >= o.stopAfter) break;
      const t0 = performance.now();
      const lr = lrAt(config.optim, step, config.steps);
      const r = update(step, lr);
      step++;
      const m: PreferMetrics = { step, loss: r.loss, ...r.metrics, grad_norm: r.gradNorm, lr, time_s: 0 };
      const last = step === config.steps;
      if ((config.eval.every > 0 && step % config.eval.every === 0) || last) {
        m.heldout_pair_accuracy = lastHeld = pairAccuracy(policy, held, pad);
        const e = evalNow();
        if (e !== null) m.eval_accuracy = lastEval = e;
        if (extraEval) Object.assign(m, (lastExtra = extraEval()));
      }
      m.time_s = (performance.now() - started) / 1000;
      appendFileSync(metricsPath, JSON.stringify(m) + "\n");
      if (config.checkpointEvery > 0 && (step % config.checkpointEvery === 0 || last)) saveCheckpoint(ckptPath, step, (performance.now() - started) / 1000, policy, opt.state(), config);
      done++;
      times.push((performance.now() - t0) / 1000);
      const recent = times.slice(-10);
      o.onProgress?.({ step, steps: config.steps, metrics: m, evalAccuracy: lastEval, etaSeconds: (recent.reduce((a, b) => a + b, 0) / recent.length) * (config.steps - step) });
    }
    const finished = step >= config.steps;
    const summary: PreferSummary = {
      steps: step, pairs: train.length, heldoutPairs: held.length, sampledTokens: pairs.sampledTokens, warmStartEvalAccuracy: warmEval,
      finalEvalAccuracy: finished ? lastEval : null, finalHeldoutPairAccuracy: finished ? lastHeld : null, seconds: (performance.now() - started) / 1000,
    };
    if (finished) {
      writePolicyFile(join(o.outDir, POLICY_FILE), model, policy.weights(), {
        task: task.name, from: "prefer", method: config.method, beta: config.beta, steps: step, seed: config.seed, reference_digest: weightsDigest(ref),
      });
      writeAtomic(join(o.outDir, "summary.json"), JSON.stringify({
        ...warmExtra, ...prefixed("final_", lastExtra),
        warm_start_eval_accuracy: warmEval, final_eval_accuracy: summary.finalEvalAccuracy, final_heldout_pair_accuracy: summary.finalHeldoutPairAccuracy,
        steps: step, pairs: train.length, heldout_pairs: held.length, sampled_tokens: pairs.sampledTokens, seconds: summary.seconds,
        task: task.name, method: config.method, seed: config.seed,
      }, null, 2) + "\n");
    }
    return summary;
  } finally {
    opt.dispose();
    policy.dispose();
  }
}

type Update = (step: number, lr: number) => { loss: number; gradNorm: number; metrics: Pick<PreferMetrics, "pair_accuracy" | "sample_accuracy" | "sampled_tokens" | "self_reward_balanced_accuracy"> };

/** A method's own held-out measures beside the common ones (LaSeR: self-verification on the held-out pairs' finished responses). */
function methodEval(config: PreferConfig, task: Task, heldout: readonly Pair[], policy: Policy): (() => Record<string, number>) | null {
  if (config.method !== "laser-loss") return null;
  const s = selfRewardSetup(task);
  const eos = task.vocab.eos;
  const items = heldout.flatMap((p) => [{ prompt: p.prompt, response: p.chosen, verifier: 1 }, { prompt: p.prompt, response: p.rejected, verifier: 0 }]).filter((it) => it.response[it.response.length - 1] === eos);
  return () => ({ heldout_self_reward_balanced_accuracy: selfRewardAccuracy(selfRewards(policy, items, s, task.vocab.pad), items) });
}

/**
 * The policy update of `config.method` at a step: pairs for the pairwise methods, on-policy
 * rationales for InTRO, the corpus for RMT. Every random choice comes from the (seed, step)
 * streams, so a resumed run redoes exactly what the unbroken run did.
 */
function methodUpdate(config: PreferConfig, task: Task, model: ModelConfig, ref: Map<string, Float32Array>, train: readonly PairData[], policy: Policy, opt: Adam, lossOpts: PairLossOptions, log: (s: string) => void): Update {
  const pad = task.vocab.pad;
  const o = config.methodOptions;
  const G = methodRollouts(config);
  const stepWith = (g: { loss: number; grads: Map<string, tf.Tensor> }, lr: number) => {
    const gradNorm = opt.step(g.grads, lr);
    tf.dispose([...g.grads.values()]);
    return gradNorm;
  };
  if (config.method === "intro") {
    const example = task.samplePrompt(streamRng(config.seed, 0x1e70).fn());
    log(`InTRO: each update samples ${G} rationales for each of ${config.batch} prompts from the policy, keeps the correct ones, ${o.candidates} candidates per position; answer-conditioned input e.g. "${task.vocab.decode(answerConditioned(task, example))}"`);
    return (step, lr) => {
      const promptRng = streamRng(config.seed, 0x1e71, step);
      const prompts = Array.from({ length: config.batch }, () => task.samplePrompt(promptRng.fn()));
      const b = introSample(policy, task, prompts, G, config.pairs.temperature, streamRng(config.seed, 0x1e72, step));
      const metrics = { sample_accuracy: b.correct / Math.max(1, b.sampled), sampled_tokens: b.sampledTokens };
      // No correct rationale: nothing to learn from, no update (Adam's state does not move).
      if (b.rationales.length === 0) return { loss: 0, gradNorm: 0, metrics };
      const g = introGrads(policy, b.rationales, o.candidates, o.clipMax, streamRng(config.seed, 0x1e73, step).fn(), pad);
      return { loss: g.loss, gradNorm: stepWith(g, lr), metrics };
    };
  }
  if (config.method === "rmt") {
    const t0 = performance.now();
    const corpus = rmtCorpus(task, o.corpus, config.seed);
    const refPolicy = new Policy(model, ref, false);
    let tiers: Uint8Array[];
    try {
      tiers = entropyTiers(refPolicy, corpus, pad);
    } finally {
      refPolicy.dispose();
    }
    const tokens = corpus.map((q) => Int32Array.from(q.response));
    log(`RMT: corpus of ${corpus.length} task demonstrations (${corpus.reduce((a, q) => a + q.response.length, 0)} tokens, 0 sampled), entropy tiers under the reference, ${((performance.now() - t0) / 1000).toFixed(1)} s; each update ${o.rlTokens} RL token(s) per sequence x ${G} one-token rollouts, NTP on the rest (lambda ${o.lambda})`);
    return (step, lr) => {
      const idx = batchIndices(corpus.length, config.batch, config.seed, 0x4d71, step);
      const selRng = streamRng(config.seed, 0x4d72, step);
      const p = rmtCurriculum(step, config.steps, o.curriculumStart, o.curriculumEnd);
      const items = idx.map((i) => ({ prompt: corpus[i].prompt, tokens: tokens[i], selected: rmtSelect(tiers[i], o.rlTokens, p, selRng) }));
      const g = rmtGrads(policy, items, { G, budget: rmtBudget(step, config.steps), lambda: o.lambda, w: o.lengthWeight }, streamRng(config.seed, 0x4d73, step).fn(), pad);
      const sampled = items.reduce((a, it) => a + it.selected.length * G, 0);
      return { loss: g.loss, gradNorm: stepWith(g, lr), metrics: { sample_accuracy: g.matchRate, sampled_tokens: sampled } };
    };
  }
  if (config.method === "laser-loss") {
    const s = selfRewardSetup(task);
    log(`LaSeR self-reward loss: each update samples ${G} responses for each of ${config.batch} prompts from the policy and trains log pi("${task.vocab.decode([s.token])}" | x, y, EOS) on the finished ones (c = ${s.c.toFixed(3)}, beta_v ${s.betaV}, balanced)`);
    return (step, lr) => {
      const promptRng = streamRng(config.seed, 0x1a51, step);
      const prompts = Array.from({ length: config.batch }, () => task.samplePrompt(promptRng.fn()));
      const { samples, sampledTokens } = sampleVerified(task, model, policy.weights(), prompts, G, config.pairs.temperature, streamRng(config.seed, 0x1a52, step));
      const items = samples.filter((x) => x.finished).map((x) => ({ prompt: x.prompt.tokens, response: x.tokens, verifier: x.correct ? 1 : 0 }));
      const sample_accuracy = samples.filter((x) => x.correct).length / Math.max(1, samples.length);
      if (items.length === 0) return { loss: 0, gradNorm: 0, metrics: { sample_accuracy, sampled_tokens: sampledTokens } };
      const g = laserGrads(policy, items, s, pad);
      const metrics = { sample_accuracy, sampled_tokens: sampledTokens, self_reward_balanced_accuracy: selfRewardAccuracy(g.selfReward, items) };
      return { loss: g.loss, gradNorm: stepWith(g, lr), metrics };
    };
  }
  return (step, lr) => {
    const idx = batchIndices(train.length, config.batch, config.seed, 1, step);
    const r = preferUpdate(policy, opt, idx.map((i) => train[i]), lossOpts, pad, lr);
    return { loss: r.loss, gradNorm: r.gradNorm, metrics: { pair_accuracy: r.pairAccuracy } };
  };
}

const PREFER_CHECKPOINT_SCHEMA = v.object({
  format: v.literal("creditflow-prefer"),
  version: v.literal(1),
  step: v.pipe(v.number(), v.integer(), v.minValue(0)),
  elapsed: v.pipe(v.number(), v.finite(), v.minValue(0)),
  weights: v.record(v.string(), v.string()),
  adam: v.object({ t: v.pipe(v.number(), v.integer(), v.minValue(0)), m: v.record(v.string(), v.string()), v: v.record(v.string(), v.string()) }),
  config: PREFER_SCHEMA,
});

/**
 * Before `prefer --resume`: the checkpoint is whole and valid, the reference, the pairs and the
 * auxiliary models are present, and metrics.jsonl has every step up to the checkpoint.
 */
export function preflightPreferResume(outDir: string): void {
  if (!existsSync(outDir)) throw new ConfigError(`${outDir}: --resume: no such run directory`);
  const ckptPath = join(outDir, "checkpoint.json");
  if (!existsSync(ckptPath)) throw new ConfigError(`${outDir}: --resume: no checkpoint.json in this directory (nothing to resume)`);
  const ck = readJsonFile(ckptPath, "checkpoint");
  if (typeof ck !== "object" || ck === null || (ck as { format?: unknown }).format !== "creditflow-prefer") throw new ConfigError(`${ckptPath}: not a creditflow preference checkpoint (no "format": "creditflow-prefer")`);
  const problem = schemaProblem(PREFER_CHECKPOINT_SCHEMA, ck);
  if (problem) throw new ConfigError(`${ckptPath}: ${problem}`);
  const { step, config } = ck as PreferCheckpoint;
  if (step > config.steps) throw new ConfigError(`${ckptPath}: field 'step': ${step} is beyond the run's ${config.steps} steps`);
  checkPolicyFile(join(outDir, "warm-start.json"), "the run's reference");
  for (const a of AUX_MODELS[config.method]) checkPolicyFile(join(outDir, auxFile(a)), `the run's ${a} model`);
  readJsonFile(join(outDir, PAIRS_FILE), "the run's pairs");
  const metricsPath = join(outDir, "metrics.jsonl");
  if (!existsSync(metricsPath)) throw new ConfigError(`${metricsPath}: missing: the checkpoint is at step ${step}`);
  const have = new Set(metricSteps(metricsPath));
  for (let s = 1; s <= step; s++) if (!have.has(s)) throw new ConfigError(`${metricsPath}: no metrics for step ${s} before the checkpoint's step ${step}: resuming would leave a gap`);
}
