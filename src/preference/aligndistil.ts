/**
 * AlignDistil: token-level alignment as adaptive policy distillation (Zhang et al., ACL 2025,
 * arXiv 2503.02832; reference code songmzhang/AlignDistil, `reward_boost_type == "aligndistil"`).
 *
 * Per response position t, from the logits of a DPO model and a reverse-DPO model (DPO with chosen
 * and rejected swapped; the code calls them `reference_logits`):
 *   tvd_t   = sum_v |p_dpo(v) - p_rdpo(v)|                 (no 1/2 factor, as in the code)
 *   alpha_t = tvdScale * tvd_t + 1e-3                      (tvdScale is the code's --beta2)
 *   z*_t    = alpha_t (z_dpo - z_rdpo) + z_dpo              token-adaptive extrapolation
 *   l_t     = (beta / alpha_t) KL(pi_theta(.|t) || softmax(z*_t / tau))
 *   L       = sum_t m_t l_t / sum_t m_t  (lengthNorm, both scripts) or sum_t m_t l_t
 * A larger divergence between the two models gives a larger alpha_t: a stronger extrapolation and a
 * smaller KL coefficient (third-party notes say the opposite; methods.md says follow the code).
 *
 * The code's other modes, on a second model that is the SFT reference (`theorem1*`):
 *   theorem1:          z* = w z_dpo + (1 - w) z_ref,  w = beta / beta2,  l = beta2 KL
 *   theorem1_contrast: z* = z_dpo + w (z_dpo - z_rdpo),                  l = beta2 KL
 *   theorem1_adaptive: alpha_t from pi_dpo vs pi_ref, z* = alpha z_dpo + (1 - alpha) z_ref, l = (beta/alpha) KL
 *
 * Positions: position t is the distribution that predicts y_t (methods.md [PROPOSAL]); the code's
 * off-by-one (it drops the first response token's distribution and adds the one after EOS) is the
 * caller's choice of rows. The student's logits are not divided by tau (the off-policy trainer).
 */
import { addReverseKlGrad, assertFinite, klRow, logSoftmaxRows, rowsOf } from "./common.js";

export type AlignDistilMode = "aligndistil" | "theorem1" | "theorem1_contrast" | "theorem1_adaptive";

export interface AlignDistilOptions {
  mode?: AlignDistilMode;
  /** The KL coefficient beta (0.1 in both scripts). */
  beta: number;
  /** The TVD scale (aligndistil, theorem1_adaptive) or the KL coefficient beta2 (theorem1, theorem1_contrast). */
  tvdScale: number;
  /** Teacher temperature tau_kd (default 1). */
  temperature?: number;
  /** Mean over masked positions (default true: --reward_len_norm) or sum. */
  lengthNorm?: boolean;
}

/** alpha_t = tvdScale * sum_v |p_a(v) - p_b(v)| + 1e-3 for every row of two [T*V] logits arrays. */
export function alignDistilCoefficients(zA: Float64Array, zB: Float64Array, V: number, tvdScale: number): Float64Array {
  const T = rowsOf("DPO logits", zA, V);
  if (zB.length !== zA.length) throw new RangeError(`second model logits have ${zB.length} entries, DPO ${zA.length}`);
  const la = logSoftmaxRows(zA, V), lb = logSoftmaxRows(zB, V);
  const alpha = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    let tvd = 0;
    for (let v = t * V; v < (t + 1) * V; v++) tvd += Math.abs(Math.exp(la[v]) - Math.exp(lb[v]));
    alpha[t] = tvdScale * tvd + 1e-3;
  }
  return alpha;
}

/**
 * The teacher of every position: alpha_t (or the constant w of the theorem1 modes), the KL
 * coefficient (beta / alpha_t or beta2) and the teacher log-probs log softmax(z* / tau), [T*V].
 */
export function alignDistilTeacher(dpo: Float64Array, other: Float64Array, V: number, o: AlignDistilOptions): { alpha: Float64Array; coef: Float64Array; lpStar: Float64Array } {
  const T = rowsOf("DPO logits", dpo, V);
  const mode = o.mode ?? "aligndistil";
  const adaptive = mode === "aligndistil" || mode === "theorem1_adaptive";
  const alpha = adaptive ? alignDistilCoefficients(dpo, other, V, o.tvdScale) : new Float64Array(T).fill(o.beta / o.tvdScale);
  const zStar = new Float64Array(dpo.length);
  const coef = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    const a = alpha[t];
    coef[t] = adaptive ? o.beta / a : o.tvdScale;
    for (let v = t * V; v < (t + 1) * V; v++) {
      zStar[v] = mode === "theorem1" || mode === "theorem1_adaptive" ? a * dpo[v] + (1 - a) * other[v] : a * (dpo[v] - other[v]) + dpo[v];
    }
  }
  return { alpha, coef, lpStar: logSoftmaxRows(zStar, V, o.temperature ?? 1) };
}

export interface AlignDistilResult {
  loss: number;
  /** d loss / d student logits, [T*V]. */
  grad: Float64Array;
  /** Per-position l_t (before masking and reduction). */
  perToken: Float64Array;
  /** alpha_t (aligndistil, theorem1_adaptive) or the constant w (theorem1 modes). */
  alpha: Float64Array;
  /** The per-position KL coefficient (beta / alpha_t or beta2). */
  coef: Float64Array;
  /** Teacher log-probs log softmax(z* / tau), [T*V]. */
  teacherLogprobs: Float64Array;
}

/**
 * AlignDistil's loss for one response. `other` is the reverse-DPO model's logits (aligndistil,
 * theorem1_contrast) or the SFT reference's (theorem1, theorem1_adaptive); mask [T] (null: all).
 */
export function alignDistilLoss(student: Float64Array, dpo: Float64Array, other: Float64Array, V: number, mask: ArrayLike<number> | null, o: AlignDistilOptions): AlignDistilResult {
  assertFinite("student logits", student);
  assertFinite("DPO logits", dpo);
  assertFinite("second model logits", other);
  const T = rowsOf("student logits", student, V);
  if (dpo.length !== student.length || other.length !== student.length) throw new RangeError("student, DPO and second model logits must have the same shape");
  if (mask !== null && mask.length !== T) throw new RangeError(`mask has ${mask.length} entries for ${T} positions`);
  const { alpha, coef, lpStar } = alignDistilTeacher(dpo, other, V, o);
  const lp = logSoftmaxRows(student, V);
  const perToken = new Float64Array(T);
  const kl = new Float64Array(T);
  let denom = 0;
  for (let t = 0; t < T; t++) {
    kl[t] = klRow(lp, lpStar, t, V);
    perToken[t] = coef[t] * kl[t];
    if (mask === null || mask[t]) denom++;
  }
  const norm = (o.lengthNorm ?? true) ? Math.max(denom, 1) : 1;
  const grad = new Float64Array(student.length);
  let loss = 0;
  for (let t = 0; t < T; t++) {
    if (mask !== null && !mask[t]) continue;
    loss += perToken[t] / norm;
    addReverseKlGrad(lp, lpStar, t, V, kl[t], coef[t] / norm, grad);
  }
  return { loss, grad, perToken, alpha, coef, teacherLogprobs: lpStar };
}
