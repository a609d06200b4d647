/**
 * cDPO: "Critical Tokens Matter" (Lin et al., ICML 2025, arXiv 2411.19943; reference code
 * chenzhiling9954/Critical-Tokens-Matter, `calculate_ce_score` and `CDPOTrainer.dpo_loss`).
 *
 * Contrastive estimation with a positive model (SFT on correct trajectories) and a negative one
 * (SFT on incorrect ones): cd = (1 + c) z_pos - c z_neg (c = 1 hard-coded in the code), and the
 * score s_t = softmax(cd_t)[y_t] in [0, 1]. A low score on an incorrect trajectory marks a critical
 * token, one the negative model prefers much more than the positive model.
 *
 * Weights: chosen w_t = s_t, rejected w_t = 1 - s_t; the EOS position gets 1 on both sides.
 * Two aggregations, both offered because the paper equation was not retrieved:
 *   "position" (the code, default): chosen and rejected aligned by response position, the shorter
 *     padded with zero log-ratios; z_t = w^w_t D^w_t - w^l_t D^l_t (only_neg: w^w = 1);
 *     L = mean_t [ -(1-ls) log sigma(beta z_t) - ls log sigma(-beta z_t) ] over response positions
 *     (methods.md Part 0, trainer-side note);
 *   "sequence" (the form recalled from the paper): z = sum_t w^w_t D^w_t - sum_t w^l_t D^l_t, one sigmoid.
 * D = lp_theta - lp_ref; gradients are with respect to the policy's per-token log-probs.
 */
import { assertFinite, assertSameLength, logSoftmaxRows, rowsOf, type PairLoss, type SeqLogps } from "./common.js";
import { bradleyTerry } from "./dpo.js";

/**
 * Critical-token scores s_t = softmax((1 + c) z_pos - c z_neg)[y_t] from the two models' logits
 * [T*V] at the positions that predict the tokens y [T].
 */
export function criticalTokenScores(posLogits: Float64Array, negLogits: Float64Array, tokens: ArrayLike<number>, V: number, contrast = 1): Float64Array {
  assertFinite("positive-model logits", posLogits);
  assertFinite("negative-model logits", negLogits);
  const T = rowsOf("positive-model logits", posLogits, V);
  if (negLogits.length !== posLogits.length) throw new RangeError(`negative-model logits have ${negLogits.length} entries, positive ${posLogits.length}`);
  if (tokens.length !== T) throw new RangeError(`${tokens.length} tokens for ${T} positions`);
  const cd = new Float64Array(posLogits.length);
  for (let k = 0; k < cd.length; k++) cd[k] = (1 + contrast) * posLogits[k] - contrast * negLogits[k];
  const lp = logSoftmaxRows(cd, V);
  const s = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    const y = tokens[t];
    if (!(Number.isInteger(y) && y >= 0 && y < V)) throw new RangeError(`token ${t} is ${y}, outside the vocabulary [0, ${V})`);
    s[t] = Math.exp(lp[t * V + y]);
  }
  return s;
}

/**
 * Token weights from scores: s_t on a chosen response, 1 - s_t on a rejected one; with `eosLast`
 * the last position is the EOS token and gets weight 1 (the code appends it).
 */
export function criticalTokenWeights(scores: ArrayLike<number>, side: "chosen" | "rejected", eosLast = false): Float64Array {
  const w = new Float64Array(scores.length);
  for (let t = 0; t < scores.length; t++) w[t] = side === "chosen" ? scores[t] : 1 - scores[t];
  if (eosLast && w.length > 0) w[w.length - 1] = 1;
  return w;
}

export interface CdpoOptions {
  beta: number;
  aggregation: "position" | "sequence";
  /** Weight chosen tokens too (false: the code's default `only_neg`, chosen weights 1). */
  weightChosen?: boolean;
  labelSmoothing?: number;
}

export function cdpoLoss(chosen: SeqLogps & { weights: Float64Array }, rejected: SeqLogps & { weights: Float64Array }, o: CdpoOptions): PairLoss {
  for (const [what, s] of [["chosen", chosen], ["rejected", rejected]] as const) {
    assertFinite(`${what} policy log-probs`, s.policy);
    assertFinite(`${what} reference log-probs`, s.ref);
    assertFinite(`${what} weights`, s.weights);
    assertSameLength(`${what} policy and reference log-probs`, s.policy, s.ref);
    assertSameLength(`${what} log-probs and weights`, s.policy, s.weights);
  }
  const ww = (t: number) => (o.weightChosen ? chosen.weights[t] : 1);
  const Tw = chosen.policy.length, Tl = rejected.policy.length;
  const gw = new Float64Array(Tw), gl = new Float64Array(Tl);
  const ls = o.labelSmoothing ?? 0;
  if (o.aggregation === "sequence") {
    let z = 0;
    for (let t = 0; t < Tw; t++) z += ww(t) * (chosen.policy[t] - chosen.ref[t]);
    for (let t = 0; t < Tl; t++) z -= rejected.weights[t] * (rejected.policy[t] - rejected.ref[t]);
    const { loss, dz } = bradleyTerry(o.beta * z, ls);
    for (let t = 0; t < Tw; t++) gw[t] = o.beta * dz * ww(t);
    for (let t = 0; t < Tl; t++) gl[t] = -o.beta * dz * rejected.weights[t];
    return { loss, chosen: gw, rejected: gl };
  }
  const T = Math.max(Tw, Tl);
  if (T === 0) return { loss: 0, chosen: gw, rejected: gl };
  let loss = 0;
  for (let t = 0; t < T; t++) {
    const dw = t < Tw ? ww(t) * (chosen.policy[t] - chosen.ref[t]) : 0;
    const dl = t < Tl ? rejected.weights[t] * (rejected.policy[t] - rejected.ref[t]) : 0;
    const bt = bradleyTerry(o.beta * (dw - dl), ls);
    loss += bt.loss / T;
    if (t < Tw) gw[t] = (o.beta * bt.dz * ww(t)) / T;
    if (t < Tl) gl[t] = (-o.beta * bt.dz * rejected.weights[t]) / T;
  }
  return { loss, chosen: gw, rejected: gl };
}
