/**
 * THR: Token Hidden Reward (Deng et al., arXiv 2510.03669, ICLR 2026). SECONDARY: the equations
 * come from a paper note (methods-part5.md section 10); alpha and tau are partly PROPOSALS.
 *
 * For a correct response y_i and token k' of any response y_j of the group (r_j in {0, 1}):
 *
 *   THR(y_i, y_j, k') = (2 r_j - 1) sum_k alpha_{k,k'} <h_{i,<k}, h_{j,<k'}>
 *   alpha_{k,k'}     = <e_{y_ik} - pi_ik, e_{y_jk'} - pi_jk'>     (prediction-error similarity; PROPOSAL)
 *   THR_{j,k'}       = sum_{i correct} THR(y_i, y_j, k') / |y_i|  (i = j included; PROPOSAL)
 *   A'_{j,k'}        = [|THR_{j,k'}| > tau] (1 + sign(THR_{j,k'}) p) A_j
 *
 * with A_j the GRPO advantage (unbiased std) and tau the mean THR over the group's
 * correct-response tokens (PROPOSAL; `tau` takes a number instead). p > 0 favours exploitation,
 * p < 0 exploration, p = 0 keeps the dominant tokens only.
 *
 * Inputs per rollout: `signals.hidden` (T x d final-layer hidden states before each token),
 * `signals.probs` (T x V next-token distributions over a vocabulary subset shared by the group,
 * NTHR's restriction) and optionally `signals.vocab` (the token id of each of the V columns;
 * default: column v is token v). A token outside the columns contributes no one-hot term.
 * Correctness: `signals.solved`, else outcome score > 0. Cost O((sum T)^2 (d + V)) per group.
 */
import type { RolloutBatch } from "../core/batch.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { outcomeScores } from "../core/rewards.js";
import { signalBoolean, signalError, signalMatrix, signalNumbers } from "../core/signals.js";
import { grpoSequenceAdvantages } from "./grpo.js";

export interface ThrOptions {
  p: number;
  tau: number | null;
  eps: number;
}

interface Response {
  i: number;
  T: number;
  hidden: Float64Array;
  probs: Float64Array;
  /** Column of each token in the probability rows, -1 when absent. */
  col: Int32Array;
}

/** THR of every token of the group's responses [member][token], given who is correct. */
export function thrScores(group: readonly Response[], correct: readonly boolean[], d: number, V: number): Float64Array[] {
  const out = group.map((r) => new Float64Array(r.T));
  group.forEach((rj, j) => {
    const sign = correct[j] ? 1 : -1;
    for (let kp = 0; kp < rj.T; kp++) {
      let total = 0;
      group.forEach((ri, i) => {
        if (!correct[i] || ri.T === 0) return;
        let s = 0;
        for (let k = 0; k < ri.T; k++) {
          // alpha = <e_a - pi_a, e_b - pi_b> = [a = b] - pi_b[a] - pi_a[b] + <pi_a, pi_b>
          const ca = ri.col[k], cb = rj.col[kp];
          let alpha = ca >= 0 && ca === cb ? 1 : 0;
          if (ca >= 0) alpha -= rj.probs[kp * V + ca];
          if (cb >= 0) alpha -= ri.probs[k * V + cb];
          let pp = 0;
          for (let v = 0; v < V; v++) pp += ri.probs[k * V + v] * rj.probs[kp * V + v];
          alpha += pp;
          let hh = 0;
          for (let x = 0; x < d; x++) hh += ri.hidden[k * d + x] * rj.hidden[kp * d + x];
          s += alpha * hh;
        }
        total += s / ri.T;
      });
      out[j][kp] = sign * total;
    }
  });
  return out;
}

export function thr(batch: RolloutBatch, o: ThrOptions): Assignment {
  const scores = outcomeScores(batch);
  const seq = grpoSequenceAdvantages(batch, { eps: o.eps, normByStd: true, std: "unbiased" }, scores);
  const advantages = new Float64Array(batch.nTokens);
  const thrOut = new Float64Array(batch.nTokens);
  for (let g = 0; g < batch.groupNames.length; g++) {
    const members = Array.from(batch.groupMembers.subarray(batch.groupOffsets[g], batch.groupOffsets[g + 1]));
    let d = -1, V = -1;
    let vocabKey: string | null = null;
    const group: Response[] = members.map((i) => {
      const T = batch.offsets[i + 1] - batch.offsets[i];
      const h = signalMatrix(batch, i, "hidden", "thr", T);
      const p = signalMatrix(batch, i, "probs", "thr", T);
      if (T > 0) {
        if (d < 0) d = h.cols;
        else if (h.cols !== d) throw signalError(batch, i, "hidden", `rows of ${h.cols} values, the group's have ${d}`);
        if (V < 0) V = p.cols;
        else if (p.cols !== V) throw signalError(batch, i, "probs", `rows of ${p.cols} values, the group's have ${V}`);
      }
      const vocab = signalNumbers(batch, i, "vocab", "thr", T > 0 ? p.cols : undefined, false);
      const key = vocab ? Array.from(vocab).join(",") : "";
      if (vocabKey === null) vocabKey = key;
      else if (key !== vocabKey) throw signalError(batch, i, "vocab", "differs from the group's: every response must list the same columns");
      const col = new Int32Array(T);
      for (let k = 0; k < T; k++) {
        const tok = batch.tokens[batch.offsets[i] + k];
        col[k] = vocab ? vocab.indexOf(tok) : tok < p.cols ? tok : -1;
      }
      return { i, T, hidden: h.data, probs: p.data, col };
    });
    const correct = members.map((i) => signalBoolean(batch, i, "solved", "thr", scores[i] > 0));
    const t = thrScores(group, correct, Math.max(d, 0), Math.max(V, 0));
    let tau = o.tau;
    if (tau === null) {
      let s = 0, n = 0;
      group.forEach((r, j) => {
        if (!correct[j]) return;
        for (const x of t[j]) {
          s += x;
          n++;
        }
      });
      tau = n > 0 ? s / n : 0;
    }
    group.forEach((r, j) => {
      const from = batch.offsets[r.i];
      for (let k = 0; k < r.T; k++) {
        const x = t[j][k];
        thrOut[from + k] = x;
        advantages[from + k] = Math.abs(x) > tau ? (1 + Math.sign(x) * o.p) * seq[r.i] : 0;
      }
    });
  }
  return { advantages, returns: advantages, diag: { tokens: { thr: thrOut } } };
}

export const thrSpec = registerMethod<ThrOptions>({
  name: "thr",
  locality: "group",
  summary: "Token hidden reward: keep and reweight the tokens whose hidden-state influence on correct responses is large",
  paper: "THR, Deng et al., arXiv 2510.03669, ICLR 2026; from a paper note (alpha, tau PROPOSALS)",
  status: "secondary",
  example: "thr.jsonl",
  signals: ["hidden", "probs", "vocab", "solved"],
  requiredSignals: ["hidden", "probs"],
  options: {
    p: { type: "number", default: 0.1, min: -1, max: 1, doc: "reweighting: > 0 exploitation (greedy accuracy), < 0 exploration (pass@k), 0 dominant tokens only" },
    tau: { type: "number", default: null, nullable: true, min: 0, doc: "THR threshold; null: the mean THR over the group's correct-response tokens (PROPOSAL)" },
    eps: { type: "number", default: 1e-6, min: 0, doc: "added to the group std of the GRPO advantage" },
  },
  assign: thr,
});
