/**
 * Signals the trainer computes from the policy itself, for methods that read them: final hidden
 * states and next-token distributions (THR), full log-softmax rows (TW-GRPO), and attention maps averaged over the locally and
 * globally focused heads (preplan-and-anchor credit, WAAD/FAI). One no-gradient forward pass over
 * the step's rollouts, at the sampling temperature.
 *
 * Rows and columns are the positions that predict each response token (position start + k
 * predicts response token k), so row k sees the prompt and response tokens before token k.
 * Head groups (Eq. 7 of arXiv 2510.13554): over the middle layers floor(L/3)..floor(2L/3), the
 * mean attention distance of each head over the batch's response rows; the lowest 30% of heads
 * are local, the highest 30% global (at least one each), fixed per batch (PROPOSAL: the paper does
 * not say whether sorting is per sequence).
 */
import { tf } from "./policy/tf.js";
import type { ForwardCapture, Policy } from "./policy/model.js";
import { gather, packPairs } from "./policy/batching.js";
import { entropyFromLogits, selectLogProbs } from "./policy/ops.js";
import type { Rollout } from "./rollouts.js";
import { headDistance } from "../methods/attention-credit.js";

/** The signal names this module can fill in. */
export const MODEL_SIGNALS: ReadonlySet<string> = new Set(["hidden", "probs", "full_logprobs", "attn_local", "attn_global"]);

const HEAD_SHARE = 0.3;

/**
 * Signals scored by a frozen policy the run loads from a policy file: the signal, the
 * configuration key and flag that name the file, and what the model is. Its per-token log-probs
 * of each response (scoreTokens, at the sampling temperature like the reference's) are the signal.
 */
export interface PolicyFileSignal {
  readonly signal: string;
  readonly configKey: "dpoPolicy";
  readonly flag: string;
  readonly what: string;
}

export const POLICY_FILE_SIGNALS: readonly PolicyFileSignal[] = [
  { signal: "dpo_logprobs", configKey: "dpoPolicy", flag: "--dpo-policy", what: "a DPO-trained policy (the policy.json of `creditflow prefer --method dpo`)" },
];

/**
 * No-gradient pass over rollouts: per-token log-probs and entropies of each response under
 * `model` at `temperature`, in batches of 32 (the trainer's old and reference log-probs, and the
 * policy-file signals).
 */
export function scoreTokens(model: Policy, rollouts: readonly Rollout[], pad: number, temperature: number): { logp: number[][]; ent: number[][] } {
  const logp: number[][] = [], ent: number[][] = [];
  const chunk = 32;
  for (let a = 0; a < rollouts.length; a += chunk) {
    const rs = rollouts.slice(a, a + chunk);
    const pb = packPairs(rs.map((r) => ({ prompt: r.prompt.tokens, response: r.tokens })), pad);
    const outs = tf.tidy(() => {
      const logits = tf.div(model.forward(pb.tokens, pb.B, pb.T), temperature) as tf.Tensor2D;
      return [selectLogProbs(logits, pb.targets), entropyFromLogits(logits)];
    });
    const lp = outs[0].dataSync(), en = outs[1].dataSync();
    tf.dispose(outs);
    for (const row of gather(pb, lp)) logp.push(Array.from(row));
    for (const row of gather(pb, en)) ent.push(Array.from(row));
  }
  return { logp, ent };
}

/** Per rollout, the wanted signals of the frozen policies in `models` (signal -> model), scored by scoreTokens. */
export function policyFileSignals(models: ReadonlyMap<string, Policy>, rollouts: readonly Rollout[], pad: number, temperature: number, want: ReadonlySet<string>): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = rollouts.map(() => ({}));
  for (const [signal, model] of models) {
    if (!want.has(signal) || rollouts.length === 0) continue;
    scoreTokens(model, rollouts, pad, temperature).logp.forEach((lp, i) => (out[i][signal] = lp));
  }
  return out;
}

/** Per rollout, the requested model signals (nested arrays, as a rollout file would hold them). */
export function modelSignals(model: Policy, rollouts: readonly Rollout[], pad: number, temperature: number, want: ReadonlySet<string>): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = rollouts.map(() => ({}));
  if (rollouts.length === 0 || ![...want].some((s) => MODEL_SIGNALS.has(s))) return out;
  const c = model.config;
  const H = c.nHeads;
  const layers: number[] = [];
  for (let l = Math.floor(c.nLayers / 3); l <= Math.min(c.nLayers - 1, Math.floor((2 * c.nLayers) / 3)); l++) layers.push(l);
  const needAttn = want.has("attn_local") || want.has("attn_global");
  // Attention maps per rollout and head (layer-major), over response positions.
  const maps: Float64Array[][] = rollouts.map(() => []);
  const chunk = 16;
  for (let a = 0; a < rollouts.length; a += chunk) {
    const rs = rollouts.slice(a, a + chunk);
    const pb = packPairs(rs.map((r) => ({ prompt: r.prompt.tokens, response: r.tokens })), pad);
    const cap: ForwardCapture = { hidden: [], attention: needAttn ? [] : undefined };
    const logp = tf.tidy(() => tf.logSoftmax(tf.div(model.forward(pb.tokens, pb.B, pb.T, cap), temperature)));
    const lsm = want.has("probs") || want.has("full_logprobs") ? (logp.dataSync() as Float32Array) : null;
    const h = want.has("hidden") ? cap.hidden![0].dataSync() : null;
    const att = needAttn ? layers.map((l) => cap.attention![l].dataSync()) : [];
    tf.dispose([logp, ...(cap.hidden ?? []), ...(cap.attention ?? [])]);
    const V = c.vocabSize, d = c.dModel, T = pb.T;
    rs.forEach((_, i) => {
      const o = out[a + i];
      const n = pb.len[i], s0 = pb.start[i];
      const rows = (src: ArrayLike<number>, width: number): number[][] =>
        Array.from({ length: n }, (_, k) => Array.from((src as Float32Array).subarray((i * T + s0 + k) * width, (i * T + s0 + k + 1) * width)));
      if (lsm && want.has("full_logprobs")) o.full_logprobs = rows(lsm, V);
      if (lsm && want.has("probs")) o.probs = rows(lsm, V).map((row) => row.map(Math.exp));
      if (h) o.hidden = rows(h, d);
      for (const A of att) {
        for (let hd = 0; hd < H; hd++) {
          const base = (i * H + hd) * T * T;
          const m = new Float64Array(n * n);
          for (let t = 0; t < n; t++) for (let s = 0; s <= t; s++) m[t * n + s] = A[base + (s0 + t) * T + s0 + s];
          maps[a + i].push(m);
        }
      }
    });
  }
  if (needAttn) {
    const nHeads = layers.length * H;
    const dist = new Float64Array(nHeads);
    rollouts.forEach((r, i) => maps[i].forEach((m, j) => (dist[j] += headDistance(m, r.tokens.length) / rollouts.length)));
    const order = Array.from(dist.keys()).sort((x, y) => dist[x] - dist[y] || x - y);
    const k = Math.max(1, Math.round(HEAD_SHARE * nHeads));
    const groups: [string, number[]][] = [["attn_local", order.slice(0, k)], ["attn_global", order.slice(nHeads - k)]];
    rollouts.forEach((r, i) => {
      const n = r.tokens.length;
      for (const [name, heads] of groups) {
        if (!want.has(name)) continue;
        const avg: number[][] = Array.from({ length: n }, () => new Array<number>(n).fill(0));
        for (const j of heads) for (let t = 0; t < n; t++) for (let s = 0; s <= t; s++) avg[t][s] += maps[i][j][t * n + s] / heads.length;
        out[i][name] = avg;
      }
    });
  }
  return out;
}
