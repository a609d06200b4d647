/**
 * RMT end to end, for `creditflow prefer --method rmt` (Tian et al., ICLR 2026, arXiv 2509.24375,
 * SECONDARY: methods-part4.md section 6; the maths is src/preference/rmt.ts).
 *
 * What stands in for the paper's pieces here:
 *   - corpus: the paper mid-trains on a pre-training corpus; here it is `corpus` demonstrations of
 *     the task's training prompts (prompt + correct worked solution), every one correct by the
 *     task's verifier. Only response tokens are trained (the prompt is context, as in SFT).
 *   - tiers: tertiles of the token entropy under the reference (the policy before RMT), computed
 *     once over the corpus ([PROPOSAL] of the spec); easy = lowest entropy.
 *   - RL set C: `rlTokens` distinct positions per sequence, each by tier ~ Categorical(p_t) (the
 *     linear curriculum) and a uniform position within the tier; a tier the sequence has no
 *     position left in is dropped and the rest renormalised.
 *   - rollouts: the paper's rollout o_i = (c_i, y_i) is a <think> chain then a prediction of the
 *     next token. The built-in policy has no reasoning channel, so a rollout is one token drawn
 *     from pi_theta(. | tau_<pos) (temperature 1): y_i only, reasoning length 0. The length reward
 *     r_len(0) is then 0 for every rollout and the budget B_t shapes nothing; rewards are
 *     (1 - w) 1[y_i = tau_pos] and the GRPO advantages those of the match alone.
 *   - loss: -J_RL + lambda L_NTP (rmtLoss), J_RL averaged over the selected positions, NTP a token
 *     mean over the response tokens not in C; batch mean over sequences. KL beta 0 ([PROPOSAL]).
 */
import type { Task } from "../tasks/types.js";
import type { Policy } from "./policy/model.js";
import type { Rng } from "./rng.js";
import { responseLogits, streamRng } from "./prefer-pairs.js";
import { addLogpGrad, meanResponseGrads } from "./prefer-grad.js";
import { drawCategorical, logSoftmaxRows } from "../preference/common.js";
import { rmtAdvantages, rmtLoss } from "../preference/rmt.js";
import type { tf } from "./policy/tf.js";

export interface CorpusSequence {
  prompt: number[];
  response: number[];
}

/** The stand-in corpus: demonstrations of `n` training prompts (deterministic for the seed). */
export function rmtCorpus(task: Task, n: number, seed: number): CorpusSequence[] {
  const rng = streamRng(seed, 0x4d70);
  return Array.from({ length: n }, () => {
    const p = task.samplePrompt(rng.fn());
    return { prompt: [...p.tokens], response: task.demonstration(p, rng.fn()) };
  });
}

/** Entropy of each row of [T*V] log-softmax rows. */
function rowEntropies(lp: Float64Array, V: number): Float64Array {
  const out = new Float64Array(lp.length / V);
  for (let t = 0; t < out.length; t++) {
    let h = 0;
    for (let v = 0; v < V; v++) {
      const p = Math.exp(lp[t * V + v]);
      if (p > 0) h -= p * lp[t * V + v];
    }
    out[t] = h;
  }
  return out;
}

/**
 * Tier (0 easy, 1 medium, 2 hard) of every response token of the corpus: entropy tertiles of the
 * distribution predicting it under `policy`, by rank over the whole corpus (ties by position).
 */
export function entropyTiers(policy: Policy, corpus: readonly CorpusSequence[], pad: number): Uint8Array[] {
  const V = policy.config.vocabSize;
  const ent = responseLogits(policy, corpus, pad).map((z) => rowEntropies(logSoftmaxRows(z, V), V));
  const all: { h: number; s: number; t: number }[] = [];
  ent.forEach((e, s) => e.forEach((h, t) => all.push({ h, s, t })));
  all.sort((a, b) => a.h - b.h || a.s - b.s || a.t - b.t);
  const tiers = ent.map((e) => new Uint8Array(e.length));
  all.forEach((x, r) => (tiers[x.s][x.t] = Math.min(2, Math.floor((3 * r) / all.length))));
  return tiers;
}

/** C for one sequence: `k` distinct positions, tier ~ p (renormalised over tiers with positions left), then uniform within it. */
export function rmtSelect(tiers: Uint8Array, k: number, p: ArrayLike<number>, rng: Rng): number[] {
  const left = [0, 1, 2].map((d) => Array.from(tiers.keys()).filter((t) => tiers[t] === d));
  const chosen: number[] = [];
  while (chosen.length < k) {
    const mass = left.map((xs, d) => (xs.length > 0 ? p[d] : 0));
    const total = mass[0] + mass[1] + mass[2];
    if (total <= 0) break;
    let u = rng.next() * total, d = 0;
    while (d < 2 && u >= mass[d]) u -= mass[d++];
    if (left[d].length === 0) d = mass.findIndex((m) => m > 0);
    const [pos] = left[d].splice(rng.int(left[d].length), 1);
    chosen.push(pos);
  }
  return chosen.sort((a, b) => a - b);
}

export interface RmtItem {
  prompt: number[];
  tokens: Int32Array;
  /** Positions (within the response) of C. */
  selected: number[];
}

export interface RmtOptions {
  G: number;
  budget: number;
  lambda: number;
  w: number;
}

/** One sequence's RMT loss from the policy's response logits: rollouts drawn with `uniform`, value, logit gradient, matches. */
export function rmtSequenceLoss(z: Float64Array, item: RmtItem, V: number, o: RmtOptions, uniform: () => number): { loss: number; grad: Float64Array; matches: number; rollouts: number } {
  const lp = logSoftmaxRows(z, V);
  const tokenLogps = Float64Array.from(item.tokens, (y, t) => lp[t * V + y]);
  const sel = new Uint8Array(item.tokens.length);
  const rolloutIds: number[] = [], rolloutPos: number[] = [];
  const rolloutLogps: number[] = [], advantages: number[] = [];
  let matches = 0;
  for (const pos of item.selected) {
    sel[pos] = 1;
    const draws = drawCategorical(z.subarray(pos * V, (pos + 1) * V), o.G, uniform);
    const match = Float64Array.from(draws, (y) => (y === item.tokens[pos] ? 1 : 0));
    matches += match.reduce((a, b) => a + b, 0);
    // A rollout is the prediction alone: reasoning length 0.
    const adv = rmtAdvantages(match, new Float64Array(o.G), o.budget, { w: o.w }).advantages;
    draws.forEach((y, i) => {
      rolloutIds.push(y);
      rolloutPos.push(pos);
      rolloutLogps.push(lp[pos * V + y]);
      advantages.push(adv[i]);
    });
  }
  const res = rmtLoss(Float64Array.from(rolloutLogps), Float64Array.from(advantages), tokenLogps, sel, { lambda: o.lambda });
  const grad = new Float64Array(z.length);
  item.tokens.forEach((y, t) => addLogpGrad(lp, t, y, res.gradTokens[t], V, grad));
  rolloutIds.forEach((y, i) => addLogpGrad(lp, rolloutPos[i], y, res.gradRollouts[i], V, grad));
  return { loss: res.loss, grad, matches, rollouts: rolloutIds.length };
}

/** The batch-mean RMT loss and its parameter gradients; the fraction of rollouts that predicted the corpus token. */
export function rmtGrads(policy: Policy, batch: readonly RmtItem[], o: RmtOptions, uniform: () => number, pad: number): { loss: number; grads: Map<string, tf.Tensor>; matchRate: number } {
  const V = policy.config.vocabSize;
  let matches = 0, rollouts = 0;
  const seqs = batch.map((r) => ({ prompt: r.prompt, response: Array.from(r.tokens) }));
  const { loss, grads } = meanResponseGrads(policy, seqs, pad, (i, z) => {
    const res = rmtSequenceLoss(z, batch[i], V, o, uniform);
    matches += res.matches;
    rollouts += res.rollouts;
    return res;
  }, "rmt");
  return { loss, grads, matchRate: rollouts === 0 ? 0 : matches / rollouts };
}
