/**
 * TW-GRPO token weights (methods.md Part 3 §9, longmalongma/TW-GRPO
 * `compute_token_importance_kl_logs_uniform`): a trainer-side method, because it needs the
 * full-vocabulary log-probs of every member of a group at every position.
 *
 * Per group of G responses and position t of the padded group:
 *   l_it = log_softmax over the vocabulary (uniform -log|V| past response i's end),
 *   m_t = mean_i l_it (not renormalised), d = clamp(m_t - l_it, -11, 11),
 *   kl_it = sum_v (e^d - d - 1) (k3 summed over the vocabulary, not probability-weighted),
 *   K_t = mean_i kl_it, n_t = (K_t - min K) / (max K - min K + 1e-8),
 *   w_t = 1 + (alpha - 1) n_t, shared by the group's members on their own tokens.
 * Advantage A_i = (R_i - mean) / (unbiased std + 1e-4), the reference code's GRPO.
 * QUIRK kept from the reference: the loss is a global token mean of w * loss (weights do not
 * change the denominator unless 0). Deviation: the reference takes the weights from the live
 * (non-detached) log-probs; here they come from the rollout-time pass (constants), since a
 * weight that moves with the policy would add a gradient path the method does not describe.
 */

/**
 * Weights for one group: `full[i][t]` is the log-softmax row (length V) of member i at its
 * response position t; returns one weight array per member (its own length).
 */
export function twGrpoGroupWeights(full: readonly (readonly Float64Array[])[], V: number, alpha: number): Float64Array[] {
  const G = full.length;
  let T = 0;
  for (const f of full) T = Math.max(T, f.length);
  const uniform = -Math.log(V);
  const K = new Float64Array(T);
  const m = new Float64Array(V);
  for (let t = 0; t < T; t++) {
    m.fill(0);
    for (let i = 0; i < G; i++) {
      const row = t < full[i].length ? full[i][t] : null;
      for (let v = 0; v < V; v++) m[v] += (row ? row[v] : uniform) / G;
    }
    let acc = 0;
    for (let i = 0; i < G; i++) {
      const row = t < full[i].length ? full[i][t] : null;
      for (let v = 0; v < V; v++) {
        const d = Math.max(-11, Math.min(11, m[v] - (row ? row[v] : uniform)));
        acc += Math.exp(d) - d - 1;
      }
    }
    K[t] = acc / G;
  }
  let lo = Infinity, hi = -Infinity;
  for (let t = 0; t < T; t++) {
    lo = Math.min(lo, K[t]);
    hi = Math.max(hi, K[t]);
  }
  return full.map((f) => {
    const w = new Float64Array(f.length);
    for (let t = 0; t < f.length; t++) w[t] = 1 + (alpha - 1) * ((K[t] - lo) / (hi - lo + 1e-8));
    return w;
  });
}

/** (R_i - mean) / (unbiased std + 1e-4) over a group (a one-member group gets 0). */
export function twGrpoAdvantages(rewards: readonly number[]): number[] {
  const G = rewards.length;
  if (G < 2) return rewards.map(() => 0);
  const mean = rewards.reduce((s, r) => s + r, 0) / G;
  const std = Math.sqrt(rewards.reduce((s, r) => s + (r - mean) ** 2, 0) / (G - 1));
  return rewards.map((r) => (r - mean) / (std + 1e-4));
}
