/**
 * TEMPO / Prefix-to-Tree (Tran, Yao, Yu, arXiv 2509.18314; ICLR'26 submission, withdrawn).
 * SECONDARY: reconstructed, no reference code. The formula below is the one the abstract, the
 * alphaXiv overview and an OpenReview review agree on (methods.md Part 2 section 2).
 *
 * The G responses of a group form a token-level prefix tree. A prefix s has the nonparametric
 * value V(s) = mean of s_j over D(s) = { j : s is a prefix of response j } (a response that ends
 * where another continues counts in D for every prefix of it). With the GRPO statistics mu, sigma
 * of the group's scores:
 *
 *   delta_{i,t} = V(y_i[0:t+1]) - V(y_i[0:t])
 *   A_{i,t}     = (s_i - mu) / (sigma + eps)  +  tdWeight * delta_{i,t} / (sigma + eps)
 *
 * The branch gate of the paper is implicit: delta is 0 wherever the prefix has one continuation
 * and no response ends there (same descendant set), so TEMPO is GRPO plus TD corrections at
 * branch tokens (the first token always branches at the root when responses differ there).
 * Summed over a response, delta telescopes to V(y_i) - mu, which is s_i - mu unless y_i is also
 * a prefix of another response (or a duplicate of one).
 *
 * Choices where the sources are silent: sigma is the unbiased std by default (verl's GRPO) and
 * a one-response group has mu 0, sigma 1 as in verl; the tree is over all token ids, tool
 * (mask-0) tokens included, since they are part of the state, but a TD term on a mask-0 token is
 * dropped with that token's advantage (the policy did not choose it).
 */
import type { RolloutBatch } from "../core/batch.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { outcomeScores } from "../core/rewards.js";
import { broadcastToTokens, groupStats, type StdKind } from "../core/stats.js";
import { buildTokenTrie, descendantMeans } from "../core/trie.js";
import { grpoSequenceAdvantages } from "./grpo.js";

export interface TempoOptions {
  std: StdKind;
  eps: number;
  tdWeight: number;
}

/**
 * Adds scale[i] * delta_{i,t} to out on every mask-1 token, delta computed on the token trie.
 * Values change along a path only where it leaves a stored node, so only those tokens are touched.
 */
function addTemporalDifferences(batch: RolloutBatch, scores: ArrayLike<number>, scale: ArrayLike<number>, out: Float64Array): void {
  const trie = buildTokenTrie(batch);
  const value = descendantMeans(trie, scores);
  const { pathOffsets, pathNodes, depth } = trie;
  const { offsets, mask } = batch;
  for (let i = 0; i < batch.n; i++) {
    const w = scale[i];
    for (let k = pathOffsets[i]; k < pathOffsets[i + 1] - 1; k++) {
      const from = pathNodes[k];
      const tok = offsets[i] + depth[from];
      if (mask[tok] === 1) out[tok] += w * (value[pathNodes[k + 1]] - value[from]);
    }
  }
}

/**
 * [nTokens] the raw TD terms delta_{i,t} = V(s_{i,t+1}) - V(s_{i,t}) of every response, from the
 * scores x [n] (0 on mask-0 tokens). Exposed for tests and diagnostics.
 */
export function tempoTemporalDifferences(batch: RolloutBatch, x: ArrayLike<number> = outcomeScores(batch)): Float64Array {
  const out = new Float64Array(batch.nTokens);
  addTemporalDifferences(batch, x, new Float64Array(batch.n).fill(1), out);
  return out;
}

export function tempo(batch: RolloutBatch, opts: TempoOptions): Assignment {
  const scores = outcomeScores(batch);
  const base = grpoSequenceAdvantages(batch, { eps: opts.eps, normByStd: true, std: opts.std }, scores);
  const advantages = broadcastToTokens(batch, base);
  if (opts.tdWeight !== 0) {
    const stats = groupStats(batch, scores, { std: opts.std });
    const scale = new Float64Array(batch.n);
    // Values of scores centred on the group mean: the same deltas, less cancellation for large rewards.
    const centred = new Float64Array(batch.n);
    for (let i = 0; i < batch.n; i++) {
      const g = batch.group[i];
      scale[i] = opts.tdWeight / (stats.std[g] + opts.eps);
      centred[i] = scores[i] - stats.mean[g];
    }
    addTemporalDifferences(batch, centred, scale, advantages);
  }
  return { advantages, returns: advantages };
}

export const tempoSpec = registerMethod<TempoOptions>({
  name: "tempo",
  locality: "group",
  summary: "GRPO plus branch TD corrections from the group's token prefix tree (descendant-mean values)",
  paper: "TEMPO / Prefix-to-Tree, arXiv 2509.18314 (reconstructed from abstract, overview and review; no reference code)",
  status: "secondary",
  example: "plain.jsonl",
  options: {
    std: { type: "enum", values: ["unbiased", "population"], default: "unbiased", doc: "group std sigma: unbiased (verl GRPO) or population" },
    eps: { type: "number", default: 1e-6, min: 0, doc: "added to sigma" },
    tdWeight: { type: "number", default: 1, doc: "weight of the TD term delta / (sigma + eps) (0 gives GRPO)" },
  },
  assign: tempo,
});
