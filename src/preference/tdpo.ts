/**
 * TDPO: Token-level Direct Preference Optimization (Zeng et al., ICML 2024, arXiv 2404.11999;
 * reference code Vance0124/Token-level-Direct-Preference-Optimization, `tdpo_loss`).
 *
 * Per response, over its response positions (full vocabulary at each):
 *   m = sum_t [lp_theta(y_t) - lp_ref(y_t)]                     sequential log-ratio
 *   K = sum_t KL(pi_ref(.|s_t) || pi_theta(.|s_t))               sequential forward KL
 *   TDPO1: u = (m_w - m_l) - (K_l - K_w)
 *   TDPO2: u = (m_w - m_l) - alpha (K_l - sg(K_w))               (stop-gradient on the chosen KL)
 *   L = -log sigma(beta u);  logged rewards beta (m + K), detached.
 *
 * Gradients are with respect to the policy's logits: dm/dz_v = 1[v = y_t] - p_theta(v) and
 * dK/dz_v = p_theta(v) - p_ref(v). The code's YAML default is TDPO1 and its function default
 * TDPO2, so `variant` is required (methods.md Part 3 section 1). A reference probability that
 * underflows to 0 contributes 0 to K (the code would give NaN).
 */
import { assertFinite, klRow, logSigmoid, logSoftmaxRows, rowsOf, sigmoid, type PairLoss } from "./common.js";

/** One response: policy and reference logits [T*V] at its response positions and its tokens [T]. */
export interface SeqLogits {
  policy: Float64Array;
  ref: Float64Array;
  tokens: Int32Array;
}

export interface TdpoOptions {
  variant: "tdpo1" | "tdpo2";
  beta: number;
  /** TDPO2's weight on the KL difference (default 0.5). */
  alpha?: number;
}

interface SeqTerms {
  m: number;
  k: number;
  lp: Float64Array;
  lpRef: Float64Array;
}

function seqTerms(what: string, s: SeqLogits, V: number): SeqTerms {
  assertFinite(`${what} policy logits`, s.policy);
  assertFinite(`${what} reference logits`, s.ref);
  const T = rowsOf(`${what} policy logits`, s.policy, V);
  if (s.ref.length !== s.policy.length) throw new RangeError(`${what}: reference logits have ${s.ref.length} entries, policy ${s.policy.length}`);
  if (s.tokens.length !== T) throw new RangeError(`${what}: ${s.tokens.length} tokens for ${T} positions`);
  const lp = logSoftmaxRows(s.policy, V);
  const lpRef = logSoftmaxRows(s.ref, V);
  let m = 0;
  let k = 0;
  for (let t = 0; t < T; t++) {
    const y = s.tokens[t];
    if (!(y >= 0 && y < V)) throw new RangeError(`${what}: token ${t} is ${y}, outside the vocabulary [0, ${V})`);
    m += lp[t * V + y] - lpRef[t * V + y];
    k += klRow(lpRef, lp, t, V);
  }
  return { m, k, lp, lpRef };
}

/** d/dz of (cm * m + ck * K) for one response, [T*V]. */
function seqGrad(s: SeqLogits, terms: SeqTerms, V: number, cm: number, ck: number): Float64Array {
  const g = new Float64Array(s.policy.length);
  const T = s.tokens.length;
  for (let t = 0; t < T; t++) {
    const o = t * V;
    for (let v = 0; v < V; v++) {
      const p = Math.exp(terms.lp[o + v]);
      const pRef = Math.exp(terms.lpRef[o + v]);
      g[o + v] = cm * ((v === s.tokens[t] ? 1 : 0) - p) + ck * (p - pRef);
    }
  }
  return g;
}

export interface TdpoResult extends PairLoss {
  u: number;
  mChosen: number;
  mRejected: number;
  klChosen: number;
  klRejected: number;
  rewardChosen: number;
  rewardRejected: number;
}

/** TDPO1 / TDPO2 loss of one pair; gradients with respect to the policy logits of each response. */
export function tdpoLoss(chosen: SeqLogits, rejected: SeqLogits, V: number, o: TdpoOptions): TdpoResult {
  const w = seqTerms("chosen", chosen, V);
  const l = seqTerms("rejected", rejected, V);
  const alpha = o.variant === "tdpo2" ? (o.alpha ?? 0.5) : 1;
  const u = w.m - l.m - alpha * (l.k - w.k);
  const loss = -logSigmoid(o.beta * u);
  const du = -o.beta * sigmoid(-o.beta * u);
  // du/dm_w = 1, du/dm_l = -1, du/dK_l = -alpha, du/dK_w = +1 (TDPO1) or 0 (TDPO2: stop-gradient).
  return {
    loss,
    u,
    mChosen: w.m,
    mRejected: l.m,
    klChosen: w.k,
    klRejected: l.k,
    rewardChosen: o.beta * (w.m + w.k),
    rewardRejected: o.beta * (l.m + l.k),
    chosen: seqGrad(chosen, w, V, du, o.variant === "tdpo2" ? 0 : du),
    rejected: seqGrad(rejected, l, V, -du, -alpha * du),
  };
}
