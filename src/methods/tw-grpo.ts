/**
 * TW-GRPO token weights (methods.md Part 3 §9, longmalongma/TW-GRPO
 * `compute_token_importance_kl_logs_uniform`).
 *
 * Per group of G responses and position t of the padded group:
 *   l_it = log_softmax over the vocabulary (uniform -log|V| past response i's end),
 *   m_t = mean_i l_it (not renormalised), d = clamp(m_t - l_it, -11, 11),
 *   kl_it = sum_v (e^d - d - 1) (k3 summed over the vocabulary, not probability-weighted),
 *   K_t = mean_i kl_it, n_t = (K_t - min K) / (max K - min K + 1e-8),
 *   w_t = 1 + (alpha - 1) n_t, shared by the group's members on their own tokens.
 * Advantage A_i = (s_i - mean) / (unbiased std + 1e-4), the reference code's GRPO.
 *
 * Input: `signals.full_logprobs`, T x V log-softmax rows of the sampling distribution before each
 * response token (the trainer fills it from the policy; a user of `assign` supplies it). The
 * spec lists TW-GRPO as trainer-only; taking the distributions as a signal makes it available to
 * `assign` too, with the same numbers.
 * QUIRK kept from the reference: the loss is a global token mean of w * loss (weights do not
 * change the denominator unless 0). Deviation: the reference takes the weights from the live
 * (non-detached) log-probs; here they are constants of the sampled batch, since a weight that
 * moves with the policy would add a gradient path the method does not describe.
 */
import type { RolloutBatch } from "../core/batch.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { outcomeScores } from "../core/rewards.js";
import { signalError, signalMatrix } from "../core/signals.js";

export interface TwGrpoOptions {
  alpha: number;
}

/** One member's log-softmax rows, flat [T x V]. */
export interface LogSoftmaxRows {
  data: Float64Array;
  rows: number;
}

/** Weights for one group's members (each its own length), given their log-softmax rows over V. */
export function twGrpoGroupWeights(full: readonly LogSoftmaxRows[], V: number, alpha: number): Float64Array[] {
  const G = full.length;
  let T = 0;
  for (const f of full) T = Math.max(T, f.rows);
  const uniform = -Math.log(V);
  const K = new Float64Array(T);
  const m = new Float64Array(V);
  const at = (i: number, t: number, v: number) => (t < full[i].rows ? full[i].data[t * V + v] : uniform);
  for (let t = 0; t < T; t++) {
    m.fill(0);
    for (let i = 0; i < G; i++) for (let v = 0; v < V; v++) m[v] += at(i, t, v) / G;
    let acc = 0;
    for (let i = 0; i < G; i++) {
      for (let v = 0; v < V; v++) {
        const d = Math.max(-11, Math.min(11, m[v] - at(i, t, v)));
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
    const w = new Float64Array(f.rows);
    for (let t = 0; t < f.rows; t++) w[t] = 1 + (alpha - 1) * ((K[t] - lo) / (hi - lo + 1e-8));
    return w;
  });
}

/** (s_i - mean) / (unbiased std + 1e-4) over a group (a one-member group gets 0). */
export function twGrpoAdvantages(scores: ArrayLike<number>): Float64Array {
  const G = scores.length;
  const out = new Float64Array(G);
  if (G < 2) return out;
  let mean = 0;
  for (let i = 0; i < G; i++) mean += scores[i] / G;
  let ss = 0;
  for (let i = 0; i < G; i++) ss += (scores[i] - mean) ** 2;
  const std = Math.sqrt(ss / (G - 1));
  for (let i = 0; i < G; i++) out[i] = (scores[i] - mean) / (std + 1e-4);
  return out;
}

export function twGrpo(batch: RolloutBatch, o: TwGrpoOptions): Assignment {
  const advantages = new Float64Array(batch.nTokens);
  const weights = new Float64Array(batch.nTokens);
  const scores = outcomeScores(batch);
  for (let g = 0; g + 1 < batch.groupOffsets.length; g++) {
    const members = Array.from(batch.groupMembers.subarray(batch.groupOffsets[g], batch.groupOffsets[g + 1]));
    let V = -1;
    const rows = members.map((i) => {
      const T = batch.offsets[i + 1] - batch.offsets[i];
      const m = signalMatrix(batch, i, "full_logprobs", "tw-grpo", T);
      if (T > 0) {
        if (V >= 0 && m.cols !== V) throw signalError(batch, i, "full_logprobs", `rows have ${m.cols} entries, but the group's first response has ${V}; the vocabulary must be the same`);
        V = m.cols;
      }
      return { data: m.data, rows: m.rows };
    });
    if (V <= 0) continue;
    const w = twGrpoGroupWeights(rows, V, o.alpha);
    const a = twGrpoAdvantages(members.map((i) => scores[i]));
    members.forEach((i, k) => {
      for (let t = 0, p = batch.offsets[i]; p < batch.offsets[i + 1]; t++, p++) {
        if (!batch.mask[p]) continue;
        advantages[p] = a[k];
        weights[p] = w[k][t];
      }
    });
  }
  return { advantages, returns: advantages, weights };
}

export const twGrpoSpec = registerMethod<TwGrpoOptions>({
  name: "tw-grpo",
  locality: "group",
  summary: "Token weights from how much the group's next-token distributions disagree at each position, on a GRPO advantage",
  paper: "TW-GRPO (video reasoning, 2025); longmalongma/TW-GRPO @aa529ff compute_token_importance_kl_logs_uniform",
  status: "reference-code",
  example: "full-logprobs.jsonl",
  signals: ["full_logprobs"],
  requiredSignals: ["full_logprobs"],
  options: {
    alpha: { type: "number", default: 1.4, min: 0, max: 1e6, doc: "maximum token weight (the reference dataclass 1.4; its script uses 1.7)" },
  },
  assign: twGrpo,
});
