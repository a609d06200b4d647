/**
 * Macro actions for MA-RLHF (Chai et al., "MA-RLHF: Reinforcement Learning from Human Feedback
 * with Macro Actions", ICLR 2025, arXiv 2410.02743; reference code ernie-research/MA-RLHF,
 * `applications/DeepSpeed-Chat/dschat/rlhf/ppo_trainer.py`).
 *
 * A rollout's trainable tokens (mask 1, in order, positions 0..L-1) are cut into macro actions by a
 * termination rule. Every rule returns the reference's `ma_lengths`: sorted macro start positions
 * beginning with 0, plus a final sentinel L-1. Macro k covers [ma[k], ma[k+1]); the sentinel is one
 * more macro holding only the last token, so the outcome reward (which sits on that token) is never
 * averaged with KL penalties. Values and rewards are aggregated per macro, and GAE runs over macros:
 *
 *   delta_k = R_k + gamma V_{k+1} - V_k,   A_k = delta_k + gamma lambda A_{k+1},   Ret_k = A_k + V_k
 *
 * QUIRK (reference code, kept): when a rule's last boundary already is L-1, the sentinel is appended
 * again, which creates an empty macro action [L-1, L-1) with V = R = 0 that still counts as a GAE
 * step. `macroChunks(..., keepEmpty = false)` drops such empty macros instead.
 *
 * Everything here works in trainable-token coordinates (mask-0 tokens removed), as methods.md Part 0
 * requires; callers map positions back to the batch.
 */
import { gae } from "../core/returns.js";

export type MacroTermination = "fixed" | "random" | "ppl";
export type MacroAggregate = "equal" | "position";

/** The n-gram lengths the reference's randomized rule draws from (each repeated `repeatTimes`). */
export const RANDOM_NGRAM_LENGTHS: readonly number[] = [1, 2, 3, 5, 10];

/**
 * Fixed n-gram rule (`fixed_ngram_selection`): a boundary after every n trainable tokens, then the
 * sentinel L-1. L = 0 gives no boundaries.
 */
export function fixedNgramBoundaries(L: number, n: number): number[] {
  if (L <= 0) return [];
  const out = new Int32Array(L + 1);
  return Array.from(out.subarray(0, fixedNgramBoundariesInto(L, n, out)));
}

/**
 * {@link fixedNgramBoundaries} written into `out` (at least L + 1 long); returns the count. The
 * allocation-free form for per-rollout loops over a large batch.
 */
export function fixedNgramBoundariesInto(L: number, n: number, out: Int32Array): number {
  if (L <= 0) return 0;
  let m = 0;
  out[m++] = 0;
  let count = 0;
  for (let i = 0; i < L - 1; i++) {
    count++;
    if (count === n) {
      out[m++] = i + 1;
      count = 0;
    }
  }
  out[m++] = L - 1;
  return m;
}

/** The seeded PRNG of randomised n-gram termination (mulberry32, from the core). */
export { mulberry32 as seededRandom } from "../core/random.js";

/**
 * The randomized rule's length list: [1, 2, 3, 5, 10], each repeated `repeatTimes` times
 * (torch.repeat_interleave order), then shuffled (Fisher-Yates with `rng`; the reference uses
 * Python's global `random.shuffle`, whose stream cannot be reproduced here).
 */
export function randomNgramLengths(rng: () => number, repeatTimes: number): number[] {
  const list: number[] = [];
  for (const len of RANDOM_NGRAM_LENGTHS) for (let r = 0; r < repeatTimes; r++) list.push(len);
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const tmp = list[i];
    list[i] = list[j];
    list[j] = tmp;
  }
  return list;
}

/**
 * Randomized n-gram rule (`randomized_ngram_selection`): successive macro actions take the lengths
 * of `lengths` in order; once the list is used up, the remaining tokens form one macro action that
 * runs up to the sentinel.
 */
export function randomNgramBoundaries(L: number, lengths: readonly number[]): number[] {
  if (L <= 0) return [];
  const out = new Int32Array(L + 1);
  return Array.from(out.subarray(0, randomNgramBoundariesInto(L, lengths, out)));
}

/** {@link randomNgramBoundaries} written into `out` (at least L + 1 long); returns the count. */
export function randomNgramBoundariesInto(L: number, lengths: readonly number[], out: Int32Array): number {
  if (L <= 0) return 0;
  let m = 0;
  out[m++] = 0;
  let count = 0;
  let idx = 0;
  if (lengths.length > 0) {
    for (let i = 0; i < L - 1; i++) {
      count++;
      if (count === lengths[idx]) {
        out[m++] = i + 1;
        count = 0;
        idx++;
        if (idx === lengths.length) break;
      }
    }
  }
  out[m++] = L - 1;
  return m;
}

/**
 * Perplexity rule (`ppl_selection`) from the reference model's log-probs of the trainable tokens:
 * with ppl_i = exp(-refLogprob_i), a boundary at i whenever ppl_{i+1} > ppl_i, 0 prepended if
 * missing, then the sentinel L-1. Compared as -logprob (exp is monotone) so no value overflows.
 */
export function pplBoundaries(refLogprobs: ArrayLike<number>): number[] {
  const L = refLogprobs.length;
  if (L <= 0) return [];
  const out = new Int32Array(L + 1);
  return Array.from(out.subarray(0, pplBoundariesInto(refLogprobs, 0, L, out)));
}

/**
 * {@link pplBoundaries} of the L trainable log-probs refLogprobs[from .. from + L), written into
 * `out` (at least L + 1 long); returns the count.
 */
export function pplBoundariesInto(refLogprobs: ArrayLike<number>, from: number, L: number, out: Int32Array): number {
  if (L <= 0) return 0;
  // Boundary 0 is always first: either i = 0 qualifies, or the rule prepends it.
  let m = 1;
  out[0] = 0;
  for (let i = 1; i < L - 1; i++) if (-refLogprobs[from + i + 1] > -refLogprobs[from + i]) out[m++] = i;
  out[m++] = L - 1;
  return m;
}

/**
 * Macro actions as [start, end) ranges in trainable-token coordinates, from the boundaries of a
 * rollout with L trainable tokens: [ma[k], ma[k+1]) for each k, then [L-1, L) (the reference's
 * `split = diff(ma_lengths) + [1]`). `keepEmpty` (default true, the reference) keeps zero-length
 * macros, which then enter GAE with V = R = 0.
 */
export function macroChunks(boundaries: readonly number[], L: number, keepEmpty = true): { start: Int32Array; end: Int32Array } {
  const m = boundaries.length;
  const start = new Int32Array(m);
  const end = new Int32Array(m);
  const c = macroChunksInto(boundaries, m, L, keepEmpty, start, end);
  return { start: start.subarray(0, c), end: end.subarray(0, c) };
}

/**
 * {@link macroChunks} of the first `m` boundaries, written into `start` / `end` (at least m long);
 * returns the number of macro actions.
 */
export function macroChunksInto(
  boundaries: ArrayLike<number>,
  m: number,
  L: number,
  keepEmpty: boolean,
  start: Int32Array,
  end: Int32Array,
): number {
  let c = 0;
  for (let k = 0; k < m; k++) {
    const a = k < m - 1 ? boundaries[k] : L - 1;
    const b = k < m - 1 ? boundaries[k + 1] : L;
    if (b <= a && !keepEmpty) continue;
    start[c] = a;
    end[c] = Math.max(a, b);
    c++;
  }
  return c;
}

/**
 * Aggregates x over positions [a, b) of a macro action (`modeling_macro_action`): `equal` is the
 * mean (sigma = 1/n), `position` weighs the k-th token (0-based) by 1/(k+1), normalised. An empty
 * macro gives 0. `index` maps positions to indices into x (identity when omitted), so callers can
 * aggregate over the trainable tokens of a packed batch without copying.
 */
export function aggregateMacro(x: ArrayLike<number>, a: number, b: number, kind: MacroAggregate, index?: ArrayLike<number>): number {
  const len = b - a;
  if (len <= 0) return 0;
  if (kind === "equal") {
    let s = 0;
    for (let p = a; p < b; p++) s += x[index ? index[p] : p];
    return s / len;
  }
  let s = 0;
  let w = 0;
  for (let p = a; p < b; p++) {
    const sigma = 1 / (p - a + 1);
    s += sigma * x[index ? index[p] : p];
    w += sigma;
  }
  return s / w;
}

/** Normalised `position` weights of a macro action of `len` tokens (1/(k+1), summing to 1). */
export function positionWeights(len: number): Float64Array {
  const w = new Float64Array(len);
  let total = 0;
  for (let k = 0; k < len; k++) total += (w[k] = 1 / (k + 1));
  for (let k = 0; k < len; k++) w[k] /= total;
  return w;
}

/**
 * GAE over the macro steps of one rollout (`get_advantages_and_returns` on macro values/rewards):
 * V after the last macro is 0. Every macro, empty ones included, is a step.
 */
export function macroGae(R: ArrayLike<number>, V: ArrayLike<number>, gamma: number, lambda: number): { advantages: Float64Array; returns: Float64Array } {
  const K = R.length;
  return gae(R, V, new Uint8Array(K).fill(1), [0, K], gamma, lambda);
}
