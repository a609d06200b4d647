/**
 * InTRO end to end, for `creditflow prefer --method intro` (Zhu et al., AAAI 2026, arXiv
 * 2511.09865, Algorithm 1; the loss is src/preference/intro.ts). Each update:
 *   1. samples G rationales per prompt from the current policy (pi_theta_old = pi_theta);
 *   2. keeps the correct ones (the task's verifier);
 *   3. scores every kept rationale z under the answer-conditioned input x (+) y, no gradient (the
 *      posterior is a fixed proposal, w detached: [PROPOSAL] of methods-part4.md section 3);
 *   4. in the training forward pass under x, draws n - 1 candidates per position from the policy
 *      (the rationale's own token is candidate 0), computes the clipped correction factors
 *      w = clip(pi(c | x (+) y, z_<t) / pi(c | x, z_<t), 0, clipMax) and takes one step on
 *      -(1/(|z| n)) sum w log pi(c | x, z_<t), averaged over kept rationales ([PROPOSAL]).
 * The answer y: the tokens of the task's demonstration that decide the outcome (Verdict.decisive),
 * else its last step (Verdict.stepEnds: an addition's sum), else the whole demonstration.
 * x (+) y is the prompt, then " answer ", y and " " (the spec's proposal, "question, then the
 * answer, then the unchanged rationale", in the tasks' character vocabulary).
 */
import { ConfigError } from "../core/errors.js";
import type { Task, TaskPrompt } from "../tasks/types.js";
import type { Policy } from "./policy/model.js";
import type { Rng } from "./rng.js";
import { responseLogits, sampleVerified } from "./prefer-pairs.js";
import { addLogpGrad, meanResponseGrads } from "./prefer-grad.js";
import { logSoftmaxRows } from "../preference/common.js";
import { introCandidates, introLoss } from "../preference/intro.js";
import type { tf } from "./policy/tf.js";

/** The text around the answer in x (+) y. */
export const INTRO_HINT = { open: " answer ", close: " " };

/** The final answer y of `prompt`, read off the task's demonstration (see the file comment). */
export function introAnswer(task: Task, prompt: TaskPrompt): number[] {
  // A fixed generator: a task with several correct demonstrations still gives one answer per prompt.
  const demo = task.demonstration(prompt, () => 0);
  const v = task.verify(prompt, demo);
  if (v.decisive !== undefined && v.decisive.length > 0) return v.decisive.map((k) => demo[k]);
  const stop = demo[demo.length - 1] === task.vocab.eos ? demo.length - 1 : demo.length;
  const before = (v.stepEnds ?? []).filter((e) => e < stop - 1);
  const from = before.length > 0 ? Math.max(...before) + 1 : 0;
  return demo.slice(from, stop);
}

/** x (+) y: the prompt's tokens, " answer ", the answer's tokens, " ". */
export function answerConditioned(task: Task, prompt: TaskPrompt): number[] {
  return [...prompt.tokens, ...task.vocab.encode(INTRO_HINT.open), ...introAnswer(task, prompt), ...task.vocab.encode(INTRO_HINT.close)];
}

/** A kept (correct) rationale and its answer-conditioned logits. */
export interface IntroRationale {
  prompt: number[];
  conditioned: number[];
  tokens: Int32Array;
  /** Logits [|z|*V] of the rationale's positions under x (+) y (frozen for the update). */
  post: Float64Array;
}

export interface IntroBatch {
  rationales: IntroRationale[];
  sampled: number;
  correct: number;
  sampledTokens: number;
}

/** Steps 1-3 of the update: G samples per prompt, the correct ones, their answer-conditioned pass. */
export function introSample(policy: Policy, task: Task, prompts: readonly TaskPrompt[], G: number, temperature: number, rng: Rng): IntroBatch {
  const model = policy.config;
  const { samples, sampledTokens } = sampleVerified(task, model, policy.weights(), prompts, G, temperature, rng);
  const kept = samples.filter((x) => x.correct).map((x) => ({ p: x.prompt, tokens: x.tokens }));
  const out: IntroBatch = { rationales: [], sampled: samples.length, correct: kept.length, sampledTokens };
  const seqs = kept.map((k) => ({ prompt: answerConditioned(task, k.p), response: k.tokens }));
  for (const q of seqs) {
    const len = q.prompt.length + q.response.length - 1;
    if (len > model.maxSeqLen) throw new ConfigError(`intro: the answer-conditioned input of a rationale is ${len} tokens, beyond model.maxSeqLen ${model.maxSeqLen} (raise model.maxSeqLen)`);
  }
  const post = responseLogits(policy, seqs, task.vocab.pad);
  out.rationales = kept.map((k, i) => ({ prompt: [...k.p.tokens], conditioned: seqs[i].prompt, tokens: Int32Array.from(k.tokens), post: post[i] }));
  return out;
}

/** One rationale's InTRO loss from its logits under x and x (+) y: the pure function's value, its logit gradient, and what it saw. */
export function introRationaleLoss(zPol: Float64Array, zPost: Float64Array, tokens: Int32Array, V: number, n: number, clipMax: number, uniform: () => number): { loss: number; grad: Float64Array; candidates: Int32Array; lpPol: Float64Array; lpPost: Float64Array; weights: Float64Array } {
  const T = tokens.length;
  const lpRows = logSoftmaxRows(zPol, V), postRows = logSoftmaxRows(zPost, V);
  const candidates = new Int32Array(T * n), lpPol = new Float64Array(T * n), lpPost = new Float64Array(T * n);
  for (let t = 0; t < T; t++) {
    candidates.set(introCandidates(zPol.subarray(t * V, (t + 1) * V), tokens[t], n, uniform), t * n);
    for (let i = 0; i < n; i++) {
      const c = candidates[t * n + i];
      lpPol[t * n + i] = lpRows[t * V + c];
      lpPost[t * n + i] = postRows[t * V + c];
    }
  }
  const res = introLoss(lpPol, lpPost, n, { clipMax });
  const grad = new Float64Array(zPol.length);
  for (let k = 0; k < T * n; k++) addLogpGrad(lpRows, Math.floor(k / n), candidates[k], res.grad[k], V, grad);
  return { loss: res.loss, grad, candidates, lpPol, lpPost, weights: res.weights };
}

/**
 * Step 4: the batch's loss (mean over kept rationales) and its parameter gradients, and per
 * rationale the candidates and factors used. `uniform` draws the candidates.
 */
export function introGrads(policy: Policy, batch: readonly IntroRationale[], n: number, clipMax: number, uniform: () => number, pad: number): { loss: number; grads: Map<string, tf.Tensor>; factors: Float64Array[]; candidates: Int32Array[] } {
  const V = policy.config.vocabSize;
  const factors: Float64Array[] = [], candidates: Int32Array[] = [];
  const seqs = batch.map((r) => ({ prompt: r.prompt, response: Array.from(r.tokens) }));
  const { loss, grads } = meanResponseGrads(policy, seqs, pad, (i, z) => {
    const res = introRationaleLoss(z, batch[i].post, batch[i].tokens, V, n, clipMax, uniform);
    factors.push(res.weights);
    candidates.push(res.candidates);
    return res;
  }, "intro");
  return { loss, grads, factors, candidates };
}
