/**
 * SPO-tree: Segment Policy Optimization, tree variant for long chains of thought (Guo et al.,
 * arXiv 2505.23564; AIFrameResearch/SPO @ b9fc6a2, `HybridInferenceStrategy._construct_tree`,
 * `TreeEpisodeUtils.extract_edges_from_tree`).
 *
 * Each rollout is one root-to-leaf path of the group's tree; its segments are cut by `step_ends`
 * (tokens after the last end are one more segment). A node is a sequence of segments from the
 * root, so identical sibling segments of different rollouts are one node. Values are recursive
 * children means (not means over descendant leaves):
 *
 *   V(leaf) = reward,   V(node) = mean over children c of V(c),   std(node) = population std of those V(c)
 *
 * where a rollout ending at a node that also has children (or ending where another identical
 * rollout ends) is one more child of that node with its reward as value. Every token of segment d
 * of a path gets
 *
 *   rloo: A = V(node_d) - V(node_{d-1})          grpo: A = (V(node_d) - V(node_{d-1})) / (std(node_{d-1}) + eps)
 *
 * Edges with zero advantage are dropped by the reference (`only_adv_greater_than_zero`); here they
 * output 0. The tree is taken as given: its depth, branching and the reference's replay buffer
 * are the sampler's business. No probability mask and no whitening (those are trainer-side).
 * Reward is the outcome score s = reward + sum(token_rewards). Segments are compared by token ids,
 * tool (mask-0) tokens included since they are part of the state; mask-0 tokens get 0.
 */
import type { RolloutBatch } from "../core/batch.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { outcomeScores } from "../core/rewards.js";
import { stepSegments } from "../core/segments.js";
import { buildSegmentTrie, childrenMeans } from "../core/trie.js";

export interface SpoTreeOptions {
  mode: "rloo" | "grpo";
  eps: number;
}

export function spoTree(batch: RolloutBatch, opts: SpoTreeOptions): Assignment {
  const segs = stepSegments(batch, true);
  const trie = buildSegmentTrie(batch, segs);
  const { value, std } = childrenMeans(trie, outcomeScores(batch), "population");
  const advantages = new Float64Array(batch.nTokens);
  const { pathOffsets, pathNodes, depth } = trie;
  const { mask } = batch;
  const grpoMode = opts.mode === "grpo";
  for (let i = 0; i < batch.n; i++) {
    // Along a stored edge every segment but the first has one child, hence advantage 0.
    for (let k = pathOffsets[i]; k < pathOffsets[i + 1] - 1; k++) {
      const from = pathNodes[k];
      let a = value[pathNodes[k + 1]] - value[from];
      if (a === 0) continue;
      if (grpoMode) {
        const denom = std[from] + opts.eps;
        // eps 0 and a std that underflowed to 0: no spread to normalise by.
        a = denom > 0 ? a / denom : 0;
      }
      const seg = segs.segOffsets[i] + depth[from];
      for (let t = segs.start[seg]; t < segs.end[seg]; t++) if (mask[t] === 1) advantages[t] = a;
    }
  }
  return { advantages };
}

export const spoTreeSpec = registerMethod<SpoTreeOptions>({
  name: "spo-tree",
  locality: "group",
  summary: "SPO tree: segment advantage V(child) - V(parent) on the group's segment tree (children-mean values)",
  paper: "SPO, arXiv 2505.23564; AIFrameResearch/SPO tree_episode_generator.py, hybrid_inference_strategy.py",
  status: "reference-code",
  requires: ["step_ends"],
  example: "tree.jsonl",
  options: {
    mode: { type: "enum", values: ["rloo", "grpo"], default: "rloo", doc: "rloo: V(child) - V(parent); grpo: that over the parent's population std + eps" },
    eps: { type: "number", default: 1e-8, min: 0, doc: "added to the parent's std in grpo mode" },
  },
  assign: spoTree,
});
