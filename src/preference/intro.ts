/**
 * InTRO: In-Token Rationality Optimization (Zhu et al., AAAI 2026, arXiv 2511.09865). PAPER (Eq. 6-7,
 * Algorithm 1); no code exists.
 *
 * For every position t of a correct rationale z and n candidate tokens z_t^i (candidate 0 is the
 * rationale's own token, the others drawn from the forward policy):
 *   w_t^i = clip( pi(z_t^i | x (+) y, z_<t) / pi(z_t^i | x, z_<t), 0, 200 )   answer-conditioned correction
 *   J     = (1 / (|z| n)) sum_t sum_i w_t^i log pi(z_t^i | x, z_<t),   loss = -J
 * w is a stop-gradient ([PROPOSAL]: the paper treats the posterior as a fixed proposal), so
 * d loss / d lp_pol = -w / (|z| n). Inputs are [T*n] arrays of candidate log-probs.
 */
import { assertFinite, assertSameLength, drawCategorical, type SeqLoss } from "./common.js";

export interface IntroOptions {
  /** Upper clip of the correction factor (200 in the paper). */
  clipMax?: number;
}

/** Correction factors exp(lp_post - lp_pol) clipped to [0, clipMax]. */
export function introWeights(lpPol: Float64Array, lpPost: Float64Array, clipMax = 200): Float64Array {
  assertSameLength("forward and answer-conditioned log-probs", lpPol, lpPost);
  const w = new Float64Array(lpPol.length);
  for (let k = 0; k < w.length; k++) w[k] = Math.min(clipMax, Math.exp(lpPost[k] - lpPol[k]));
  return w;
}

/** InTRO's loss for one rationale with n candidates per position; arrays are [T*n]. */
export function introLoss(lpPol: Float64Array, lpPost: Float64Array, n: number, o: IntroOptions = {}): SeqLoss & { weights: Float64Array } {
  assertFinite("forward log-probs", lpPol);
  assertFinite("answer-conditioned log-probs", lpPost);
  if (!(Number.isInteger(n) && n > 0) || lpPol.length % n !== 0) throw new RangeError(`${lpPol.length} candidate log-probs is not a multiple of n = ${n}`);
  const weights = introWeights(lpPol, lpPost, o.clipMax ?? 200);
  const scale = lpPol.length === 0 ? 0 : 1 / lpPol.length; // 1 / (|z| n)
  let j = 0;
  const grad = new Float64Array(lpPol.length);
  for (let k = 0; k < lpPol.length; k++) {
    j += weights[k] * lpPol[k] * scale;
    grad[k] = -weights[k] * scale;
  }
  return { loss: -j, grad, weights };
}

/**
 * Candidate ids for one position: the rationale's own token first, then n - 1 draws i.i.d. with
 * replacement from softmax(logits) at temperature 1, duplicates kept ([PROPOSAL]); `uniform` gives
 * numbers in [0, 1) (a seeded generator keeps it deterministic).
 */
export function introCandidates(logits: ArrayLike<number>, own: number, n: number, uniform: () => number): Int32Array {
  const out = new Int32Array(n);
  out[0] = own;
  out.set(drawCategorical(logits, n - 1, uniform), 1);
  return out;
}
