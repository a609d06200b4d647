/**
 * TVM: Token-Supervised Value Models (Lee et al., ICLR 2025, arXiv 2407.12863). The estimator
 * and loss are NOT FOUND in primary form; this is methods-part5.md's PROPOSAL (section 2).
 *
 * A value model is trained to output, for every token of a sampled solution, the probability
 * of reaching a correct final answer. Its empirical label is the share of correct solutions
 * among the group's solutions that share this exact token prefix:
 *
 *   y_{n,k} = sum_m [t_{m,1:k} = t_{n,1:k}] c_m / sum_m [t_{m,1:k} = t_{n,1:k}]
 *
 * computed on the group's prefix trie (the core's, as TEMPO). `creditflow assign --method tvm`
 * writes these labels as `returns` (value targets) and their increments y_k - y_{k-1} as
 * `advantages` (y_{-1} = the group's mean: the first token's change of the success probability).
 * c_m is the outcome score (0/1 for a verifier; any score gives its prefix mean). `tvmLoss` is the
 * per-token regression: BCE with soft targets (PROPOSAL) or MSE (its predecessor OVM's).
 */
import type { RolloutBatch } from "../core/batch.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { outcomeScores } from "../core/rewards.js";
import { groupStats } from "../core/stats.js";
import { tokenPrefixValues } from "../core/trie.js";

export type TvmOptions = Record<string, never>;

/** Mean per-token loss of value predictions against labels: "bce" (soft targets) or "mse". */
export function tvmLoss(pred: ArrayLike<number>, labels: ArrayLike<number>, kind: "bce" | "mse"): number {
  let s = 0;
  for (let k = 0; k < labels.length; k++) {
    const p = Math.min(1 - 1e-12, Math.max(1e-12, pred[k]));
    const y = labels[k];
    s += kind === "bce" ? -(y * Math.log(p) + (1 - y) * Math.log(1 - p)) : (pred[k] - y) ** 2;
  }
  return labels.length > 0 ? s / labels.length : 0;
}

export function tvm(batch: RolloutBatch): Assignment {
  const scores = outcomeScores(batch);
  const labels = tokenPrefixValues(batch, scores);
  const root = groupStats(batch, scores, { singleton: "natural" }).mean;
  const advantages = new Float64Array(batch.nTokens);
  for (let i = 0; i < batch.n; i++) {
    let prev = root[batch.group[i]];
    for (let k = batch.offsets[i]; k < batch.offsets[i + 1]; k++) {
      advantages[k] = labels[k] - prev;
      prev = labels[k];
    }
  }
  return { advantages, returns: labels };
}

export const tvmSpec = registerMethod<TvmOptions>({
  name: "tvm",
  locality: "group",
  summary: "Token value labels: share of correct solutions among those sharing each token prefix (returns), and their increments",
  paper: "TVM, Lee et al., ICLR 2025, arXiv 2407.12863 (estimator NOT FOUND: PROPOSAL)",
  status: "not-found",
  example: "tree.jsonl",
  options: {},
  assign: tvm,
});
