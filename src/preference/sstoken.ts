/**
 * ssToken: self-modulated, semantic-aware token selection for SFT (Qin et al., ICLR 2026,
 * arXiv 2510.18250; reference code jianke0604/ssToken, `filter_tokens_with_attention_loss`).
 *
 * Over a sequence's R response tokens:
 *   REL_i = his_i - cur_i                         (history-model CE minus current CE)
 *   REL~  = (REL - min) / (max - min + 1e-8)      min-max within the response
 *   A_i   = sum_{j < P} Abar[i, j]                head-averaged last-layer attention to the prompt
 *   S_i   = gamma REL~_i + (1 - gamma) A_i
 *   keep the top k = ceil(R rho) scores (ties: lower index first, a stable rule the code lacks),
 *   loss  = -(1/k) sum_{kept} log p_theta(x_i)
 * [QUIRK] the code selects by attention only (gamma = 0) for the first 10000 samples in dataset
 * order: `ssTokenGamma`. The optional EMA history model of the paper is not in the code; the history
 * here is whatever model produced `his` (the base model by default).
 */
import { assertFinite, assertSameLength, maskedMeanNll, type SeqLoss } from "./common.js";

export interface SsTokenOptions {
  /** gamma (the code's --ratio, default 0.5). */
  gamma: number;
  /** rho (--data_prop, default 0.6). */
  rho: number;
}

/** gamma in force for the sample with dataset index `sampleIndex`: 0 during the attention-only warm-up. */
export function ssTokenGamma(sampleIndex: number, gamma: number, warmupSamples = 10000): number {
  return sampleIndex < warmupSamples ? 0 : gamma;
}

/** Prompt attention mass of each response row: sum of the first P columns of a [R*cols] matrix. */
export function promptAttention(rows: Float64Array, cols: number, P: number): Float64Array {
  if (rows.length % cols !== 0) throw new RangeError(`attention rows: ${rows.length} entries is not a multiple of ${cols} columns`);
  const R = rows.length / cols;
  const a = new Float64Array(R);
  for (let i = 0; i < R; i++) for (let j = 0; j < Math.min(P, cols); j++) a[i] += rows[i * cols + j];
  return a;
}

/** S_i = gamma REL~_i + (1 - gamma) A_i. */
export function ssTokenScores(cur: Float64Array, his: Float64Array, attn: Float64Array, gamma: number): Float64Array {
  assertFinite("current per-token loss", cur);
  assertFinite("history per-token loss", his);
  assertFinite("prompt attention", attn);
  assertSameLength("current and history losses", cur, his);
  assertSameLength("losses and prompt attention", cur, attn);
  const R = cur.length;
  let min = Infinity, max = -Infinity;
  const rel = new Float64Array(R);
  for (let i = 0; i < R; i++) {
    rel[i] = his[i] - cur[i];
    min = Math.min(min, rel[i]);
    max = Math.max(max, rel[i]);
  }
  const s = new Float64Array(R);
  for (let i = 0; i < R; i++) s[i] = gamma * ((rel[i] - min) / (max - min + 1e-8)) + (1 - gamma) * attn[i];
  return s;
}

/** Keep mask [R] (1 = trained) of the top ceil(R rho) scores, ties to the lower index. */
export function ssTokenSelect(scores: Float64Array, rho: number): Uint8Array {
  const R = scores.length;
  const k = Math.min(R, Math.ceil(R * rho - 1e-12));
  const order = Array.from({ length: R }, (_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  const keep = new Uint8Array(R);
  for (let j = 0; j < k; j++) keep[order[j]] = 1;
  return keep;
}

/** The ssToken loss of one sequence: token-mean NLL of the selected tokens; lp = -cur. */
export function ssTokenLoss(lp: Float64Array, his: Float64Array, attn: Float64Array, o: SsTokenOptions): SeqLoss & { keep: Uint8Array; scores: Float64Array } {
  const cur = lp.map((x) => -x);
  const scores = ssTokenScores(cur, his, attn, o.gamma);
  const keep = ssTokenSelect(scores, o.rho);
  return { ...maskedMeanNll(lp, keep), keep, scores };
}
