/**
 * Preplan-and-anchor credit from attention (Li et al., "Attention Illuminates LLM Reasoning",
 * arXiv 2510.13554, ICML 2026, Defs 4.1-4.2, Eqs 7-19). PAPER; no code was found.
 *
 * From averaged attention maps over a response's tokens (`signals.attn_local`: the mean map of
 * the locally-focused heads, `signals.attn_global`: of the globally-focused heads; T x T, row t =
 * attention of token t over tokens s <= t):
 *
 *   WAAD_t = sum_{s<=t} A_loc[t,s] min(t - s, W)                     (windowed average distance)
 *   FAI_s  = mean_{t in T(s)} A_glob[t,s],  T(s) = {t : s + H_lo <= t <= min(T-1, s + H_hi)}
 *   Delta_t = |WAAD_t - WAAD_{t+1}|  (0 for the last token: PROPOSAL)
 *
 * and the GRPO advantage is scaled per token, A~_t = gamma_t A_t, with gamma_t by strategy:
 *   local:   1 + (amp - 1) [t in TopQ(Delta)]
 *   global:  1 + (amp - 1) [t in TopQ(FAI)]
 *   coupled: anchors t in TopQ(FAI) that are locally dominated (WAAD_t <= tauWaad and
 *            max Delta over [t-k, t-1] >= tauDelta) keep (1 - alpha) of the boost and hand alpha
 *            of it to their introducing token intro(t) (PROPOSAL: the WAAD peak of [t-k, t-1],
 *            the later one on ties); other anchors get the full boost.
 * TopQ takes ceil(q T) tokens, larger first, ties to the lower index (PROPOSAL). An empty T(s)
 * gives FAI 0 (PROPOSAL). tauWaad, tauDelta, k, alpha and the local q are NOT FOUND in the paper:
 * their defaults are methods-part5.md's worked-example values. `headDistance` is Eq. 7, for
 * sorting heads into the local and global groups before averaging.
 */
import type { RolloutBatch } from "../core/batch.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { outcomeScores } from "../core/rewards.js";
import { signalMatrix } from "../core/signals.js";
import { grpoSequenceAdvantages } from "./grpo.js";

export interface AttentionCreditOptions {
  strategy: "local" | "global" | "coupled";
  amp: number;
  window: number;
  horizonLo: number;
  horizonHi: number | null;
  qLocal: number;
  qGlobal: number;
  tauWaad: number;
  tauDelta: number;
  k: number;
  alpha: number;
  eps: number;
}

/** Eq. 7: mean over rows of sum_s A[t,s] (t - s), for one head's T x T map (row-major). */
export function headDistance(a: Float64Array, T: number): number {
  let total = 0;
  for (let t = 0; t < T; t++) for (let s = 0; s <= t; s++) total += a[t * T + s] * (t - s);
  return T > 0 ? total / T : 0;
}

export function waad(a: Float64Array, T: number, W: number): Float64Array {
  const out = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    let x = 0;
    for (let s = 0; s <= t; s++) x += a[t * T + s] * Math.min(t - s, W);
    out[t] = x;
  }
  return out;
}

export function fai(a: Float64Array, T: number, hLo: number, hHi: number | null): Float64Array {
  const out = new Float64Array(T);
  for (let s = 0; s < T; s++) {
    const last = Math.min(T - 1, hHi === null ? T - 1 : s + hHi);
    let sum = 0, n = 0;
    for (let t = s + hLo; t <= last; t++) {
      sum += a[t * T + s];
      n++;
    }
    out[s] = n > 0 ? sum / n : 0;
  }
  return out;
}

/** Indices of the ceil(q n) largest values, ties to the lower index. */
export function topQ(x: Float64Array, q: number): Set<number> {
  const k = Math.max(1, Math.ceil(q * x.length));
  const idx = Array.from(x.keys()).sort((i, j) => x[j] - x[i] || i - j);
  return new Set(idx.slice(0, k));
}

/** gamma_t of one response from its averaged local and global maps. */
export function attentionGammas(aLoc: Float64Array, aGlob: Float64Array, T: number, o: AttentionCreditOptions): Float64Array {
  const gamma = new Float64Array(T).fill(1);
  if (T === 0) return gamma;
  const w = waad(aLoc, T, o.window);
  const delta = new Float64Array(T);
  for (let t = 0; t + 1 < T; t++) delta[t] = Math.abs(w[t] - w[t + 1]);
  const boost = o.amp - 1;
  if (o.strategy === "local") {
    for (const t of topQ(delta, o.qLocal)) gamma[t] += boost;
    return gamma;
  }
  const anchors = topQ(fai(aGlob, T, o.horizonLo, o.horizonHi), o.qGlobal);
  for (const t of anchors) {
    if (o.strategy === "global") {
      gamma[t] += boost;
      continue;
    }
    let dominated = false, intro = -1;
    if (t > 0 && w[t] <= o.tauWaad) {
      let maxDelta = -Infinity;
      for (let u = Math.max(0, t - o.k); u < t; u++) {
        maxDelta = Math.max(maxDelta, delta[u]);
        if (intro < 0 || w[u] >= w[intro]) intro = u;
      }
      dominated = maxDelta >= o.tauDelta;
    }
    if (!dominated) gamma[t] += boost;
    else {
      gamma[t] += (1 - o.alpha) * boost;
      gamma[intro] += o.alpha * boost;
    }
  }
  return gamma;
}

export function attentionCredit(batch: RolloutBatch, o: AttentionCreditOptions): Assignment {
  const seq = grpoSequenceAdvantages(batch, { eps: o.eps, normByStd: true, std: "unbiased" }, outcomeScores(batch));
  const advantages = new Float64Array(batch.nTokens);
  const gammas = new Float64Array(batch.nTokens);
  for (let i = 0; i < batch.n; i++) {
    const from = batch.offsets[i];
    const T = batch.offsets[i + 1] - from;
    const loc = o.strategy === "global" ? null : signalMatrix(batch, i, "attn_local", "attention-credit", T, T).data;
    const glob = o.strategy === "local" ? null : signalMatrix(batch, i, "attn_global", "attention-credit", T, T).data;
    const g = attentionGammas(loc ?? new Float64Array(T * T), glob ?? new Float64Array(T * T), T, o);
    for (let t = 0; t < T; t++) {
      gammas[from + t] = g[t];
      advantages[from + t] = batch.mask[from + t] ? g[t] * seq[i] : 0;
    }
  }
  return { advantages, returns: advantages, diag: { tokens: { gamma: gammas } } };
}

export const attentionCreditSpec = registerMethod<AttentionCreditOptions>({
  name: "attention-credit",
  locality: "group",
  summary: "GRPO advantage amplified on preplan (WAAD) and anchor (FAI) tokens read from attention maps",
  paper: "Attention Illuminates LLM Reasoning (preplan-and-anchor), arXiv 2510.13554, ICML 2026",
  status: "paper",
  example: "attention.jsonl",
  signals: ["attn_local", "attn_global"],
  options: {
    strategy: { type: "enum", values: ["local", "global", "coupled"], default: "coupled", doc: "which tokens are amplified: local chunks (WAAD changes), global anchors (FAI), or both coupled" },
    amp: { type: "number", default: 1.5, min: 1, doc: "gamma_amp, the boost of a selected token" },
    window: { type: "number", default: 10, min: 1, integer: true, doc: "W, the distance cap of WAAD" },
    horizonLo: { type: "number", default: 10, min: 0, integer: true, doc: "H_lo: FAI averages the attention received from tokens at least this far ahead" },
    horizonHi: { type: "number", default: null, nullable: true, min: 0, integer: true, doc: "H_hi: ... and at most this far (null: to the end of the response)" },
    qLocal: { type: "number", default: 0.4, min: 0, max: 1, exclusiveMin: true, doc: "fraction of tokens selected by Delta (NOT FOUND; PROPOSAL)" },
    qGlobal: { type: "number", default: 0.4, min: 0, max: 1, exclusiveMin: true, doc: "fraction of tokens selected as anchors by FAI" },
    tauWaad: { type: "number", default: 0.5, min: 0, doc: "an anchor with WAAD at most this is locally dominated ... (NOT FOUND; PROPOSAL)" },
    tauDelta: { type: "number", default: 0.5, min: 0, doc: "... when a Delta of its k predecessors reaches this (NOT FOUND; PROPOSAL)" },
    k: { type: "number", default: 2, min: 1, integer: true, doc: "window of predecessors for the coupled rule (paper: 1-3)" },
    alpha: { type: "number", default: 0.5, min: 0, max: 1, doc: "share of a dominated anchor's boost moved to its introducing token (NOT FOUND; PROPOSAL)" },
    eps: { type: "number", default: 1e-6, min: 0, doc: "added to the group std of the GRPO advantage" },
  },
  assign: attentionCredit,
});
