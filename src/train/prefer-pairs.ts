/**
 * Preference data from a task's verifier, for `creditflow prefer`: for each prompt, responses are
 * sampled from the reference policy and the first correct and first incorrect one form a pair
 * (a prompt with only one kind gives none). Training pairs come from training prompts, the
 * held-out pairs from the task's held-out set, which never overlaps them.
 *
 * Also the teacher-forced forward passes every method needs on those pairs, on the host: the
 * logits of any model at the positions that predict each response token.
 */
import type { Task, TaskPrompt } from "../tasks/types.js";
import { tf } from "./policy/tf.js";
import { Policy, type ModelConfig } from "./policy/model.js";
import { packPairs } from "./policy/batching.js";
import { disposeSamplerWeights, sample, samplerWeights } from "./policy/sampler.js";
import { Rng } from "./rng.js";

/** A generator for the stream (seed, salt, index): independent streams without stored state. */
export function streamRng(seed: number, salt: number, index = 0): Rng {
  const rng = new Rng([seed >>> 0, salt >>> 0, index >>> 0, 0x9e3779b9]);
  for (let k = 0; k < 12; k++) rng.nextU32(); // sfc32's mixing rounds, as Rng does for a number seed
  return rng;
}

/** A preference pair: token ids of the prompt (with bos) and of both responses (eos included when sampled). */
export interface Pair {
  prompt: number[];
  chosen: number[];
  rejected: number[];
}

export interface PairSet {
  train: Pair[];
  heldout: Pair[];
  /** Every token sampled to build them. */
  sampledTokens: number;
  /** Prompts tried, train and held-out. */
  prompts: number;
}

/** Samples `samples` responses per prompt from `weights` and keeps one (correct, incorrect) pair per prompt. */
export function pairsFromPrompts(task: Task, model: ModelConfig, weights: Map<string, Float32Array>, prompts: readonly TaskPrompt[], samples: number, temperature: number, rng: Rng): { pairs: Pair[]; sampledTokens: number } {
  const sw = samplerWeights(model, weights);
  const pairs: Pair[] = [];
  let sampledTokens = 0;
  try {
    const chunk = Math.max(1, Math.floor(256 / samples));
    for (let a = 0; a < prompts.length; a += chunk) {
      const ps = prompts.slice(a, a + chunk);
      const req = ps.flatMap((p) => Array.from({ length: samples }, () => ({ prefix: p.tokens, maxNew: Math.min(task.maxResponseTokens, model.maxSeqLen - p.tokens.length) })));
      const res = sample(sw, req, { temperature, topP: 1, eos: task.vocab.eos }, rng);
      ps.forEach((p, k) => {
        let good: number[] | null = null, bad: number[] | null = null;
        for (let s = 0; s < samples; s++) {
          const r = res[k * samples + s];
          sampledTokens += r.tokens.length;
          if (r.tokens.length === 0) continue;
          const ok = task.verify(p, r.tokens).correct;
          if (ok && good === null) good = r.tokens;
          if (!ok && bad === null) bad = r.tokens;
        }
        if (good && bad) pairs.push({ prompt: [...p.tokens], chosen: good, rejected: bad });
      });
    }
  } finally {
    disposeSamplerWeights(sw);
  }
  return { pairs, sampledTokens };
}

/** A response sampled from a policy and judged by the task's verifier. */
export interface VerifiedSample {
  prompt: TaskPrompt;
  tokens: number[];
  correct: boolean;
  /** Ended with eos (not cut off by the length limit). */
  finished: boolean;
}

/** `G` responses per prompt from `weights` (one sampler call, prompt-major order), each judged by the verifier. */
export function sampleVerified(task: Task, model: ModelConfig, weights: Map<string, Float32Array>, prompts: readonly TaskPrompt[], G: number, temperature: number, rng: Rng): { samples: VerifiedSample[]; sampledTokens: number } {
  const sw = samplerWeights(model, weights);
  try {
    const req = prompts.flatMap((p) => Array.from({ length: G }, () => ({ prefix: p.tokens, maxNew: Math.max(0, Math.min(task.maxResponseTokens, model.maxSeqLen - p.tokens.length)) })));
    const res = sample(sw, req, { temperature, topP: 1, eos: task.vocab.eos }, rng);
    let sampledTokens = 0;
    const samples = res.map((r, k) => {
      const prompt = prompts[Math.floor(k / G)];
      sampledTokens += r.tokens.length;
      return { prompt, tokens: r.tokens, correct: r.tokens.length > 0 && task.verify(prompt, r.tokens).correct, finished: r.finished };
    });
    return { samples, sampledTokens };
  } finally {
    disposeSamplerWeights(sw);
  }
}

/** The run's training and held-out pairs (deterministic for the seed). */
export function buildPairSet(task: Task, model: ModelConfig, weights: Map<string, Float32Array>, o: { prompts: number; heldout: number; samples: number; temperature: number; seed: number; evalSeed: number }): PairSet {
  const rng = streamRng(o.seed, 0x9a1e);
  const promptRng = rng.fork();
  const trainPrompts = Array.from({ length: o.prompts }, () => task.samplePrompt(promptRng.fn()));
  // Held-out pairs from the held-out set, drawn with a seed of their own.
  const heldPrompts = o.heldout > 0 ? task.evalSet(o.heldout, o.evalSeed + 1) : [];
  const tr = pairsFromPrompts(task, model, weights, trainPrompts, o.samples, o.temperature, rng.fork());
  const he = pairsFromPrompts(task, model, weights, heldPrompts, o.samples, o.temperature, rng.fork());
  return { train: tr.pairs, heldout: he.pairs, sampledTokens: tr.sampledTokens + he.sampledTokens, prompts: trainPrompts.length + heldPrompts.length };
}

/**
 * Logits of `policy` at the positions predicting each response token, one [len*V] array per
 * (prompt, response), computed in chunks without gradients.
 */
export function responseLogits(policy: Policy, seqs: readonly { prompt: readonly number[]; response: readonly number[] }[], pad: number, chunk = 64): Float64Array[] {
  const V = policy.config.vocabSize;
  const out: Float64Array[] = [];
  for (let a = 0; a < seqs.length; a += chunk) {
    const part = seqs.slice(a, a + chunk);
    const pb = packPairs(part, pad);
    const flat = tf.tidy(() => policy.forward(pb.tokens, pb.B, pb.T).dataSync() as Float32Array);
    for (let i = 0; i < pb.B; i++) {
      const rows = new Float64Array(pb.len[i] * V);
      const from = (i * pb.T + pb.start[i]) * V;
      for (let k = 0; k < rows.length; k++) rows[k] = flat[from + k];
      out.push(rows);
    }
  }
  return out;
}

/** Logits of a model given by its weights (a frozen copy, disposed after). */
export function modelLogits(model: ModelConfig, weights: Map<string, Float32Array>, seqs: readonly { prompt: readonly number[]; response: readonly number[] }[], pad: number): Float64Array[] {
  const p = new Policy(model, weights, false);
  try {
    return responseLogits(p, seqs, pad);
  } finally {
    p.dispose();
  }
}

/** The chosen and the rejected side of every pair as (prompt, response) sequences, chosen first. */
export function pairSequences(pairs: readonly Pair[], swap = false): { prompt: number[]; response: number[] }[] {
  const c = pairs.map((p) => ({ prompt: p.prompt, response: swap ? p.rejected : p.chosen }));
  const r = pairs.map((p) => ({ prompt: p.prompt, response: swap ? p.chosen : p.rejected }));
  return [...c, ...r];
}
