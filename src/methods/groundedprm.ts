/**
 * GroundedPRM: tree-guided, tool-verified process rewards (Zhang et al., arXiv 2510.14942;
 * reference code JerryPlain/GroundedPRMCode `pipeline/MCTS/mcts.py` `backpropagate`). The paper's
 * closed-form aggregation was not retrieved: this follows the code.
 *
 * A simulation's per-step verifications v_i in {+1, -1} (tool result judged against the step; 0
 * when unparsable) and the final-answer check F (+1 correct, -1 wrong) give
 *
 *   s = [v_exp (= 0), v_1 .. v_d] with the last entry overwritten by F, minus its first and last
 *   V = sum_{i<N} (1/N) s_i (N - i)/N            (earlier steps weigh more), N = d - 1
 *   final_V = V + F/N                            (N = 0: final_V = F)
 *
 * and backpropagation adds final_V to the expanded node (QUIRK: its visits are not counted) and
 * 0.9^k final_V to its ancestor at distance k (visits + 1). Inference reward of the generative
 * PRM: P(Right) / (P(Right) + P(Wrong)) from the label-token log-probs.
 *
 * Through assign: each rollout is a path whose steps (`step_ends`) were verified
 * (`signals.verifications`, one per step) and whose outcome F is `signals.solved` or reward > 0.
 * Its final_V is backed up along its own steps (the last step is the expanded node, the step k
 * before it an ancestor at distance k); paths of a group that share a step prefix share those
 * nodes, so a node's value is the sum over the paths through it, as in the tree. A step's tokens
 * get its node's value / max(visits, 1) (option `perVisit`, default) or the raw sum, and its
 * step label (the code's training label) is sign(value).
 */
import type { RolloutBatch } from "../core/batch.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { outcomeScores } from "../core/rewards.js";
import { broadcastSteps } from "../core/segments.js";
import { signalBoolean, signalError, signalNumbers } from "../core/signals.js";

export interface GroundedPrmOptions {
  decay: number;
  perVisit: boolean;
}

/** final_V of one simulation from its step verifications and the final check F (the code's backpropagate). */
export function groundedValue(verifications: readonly number[], F: number): { V: number; finalV: number } {
  const s = [0, ...verifications];
  s[s.length - 1] = F;
  const inner = s.slice(1, -1);
  const N = inner.length;
  if (N === 0) return { V: 0, finalV: F };
  let V = 0;
  inner.forEach((x, i) => (V += (1 / N) * x * ((N - i) / N)));
  return { V, finalV: V + F / N };
}

/** The generative PRM's reward from the log-probs of its "Right" and "Wrong" label tokens. */
export function groundedInferenceReward(logpRight: number, logpWrong: number): number {
  const r = Math.exp(logpRight), w = Math.exp(logpWrong);
  return r / (r + w);
}

export function groundedPrm(batch: RolloutBatch, o: GroundedPrmOptions): Assignment {
  const scores = outcomeScores(batch);
  const stepValue = new Float64Array(batch.stepOffsets[batch.n]);
  const stepLabel = new Float64Array(batch.stepOffsets[batch.n]);
  for (let g = 0; g < batch.groupNames.length; g++) {
    const nodes = new Map<string, { value: number; visits: number }>();
    const members = batch.groupMembers.subarray(batch.groupOffsets[g], batch.groupOffsets[g + 1]);
    const keysOf = (i: number): string[] => {
      const keys: string[] = [];
      for (let s = batch.stepOffsets[i]; s < batch.stepOffsets[i + 1]; s++) keys.push(Array.from(batch.tokens.subarray(batch.offsets[i], batch.offsets[i] + batch.stepEnds[s] + 1)).join(","));
      return keys;
    };
    for (const i of members) {
      const d = batch.stepOffsets[i + 1] - batch.stepOffsets[i];
      const v = signalNumbers(batch, i, "verifications", "groundedprm", d) as Float64Array;
      v.forEach((x, k) => {
        if (x !== 1 && x !== -1 && x !== 0) throw signalError(batch, i, "verifications", `entry ${k} is ${x}; expected 1, -1 or 0`);
      });
      const F = signalBoolean(batch, i, "solved", "groundedprm", scores[i] > 0) ? 1 : -1;
      const { finalV } = groundedValue(Array.from(v), F);
      const keys = keysOf(i);
      keys.forEach((key, s) => {
        const node = nodes.get(key) ?? { value: 0, visits: 0 };
        const k = keys.length - 1 - s; // distance from the expanded node (the last step)
        node.value += o.decay ** k * finalV;
        if (k > 0) node.visits++;
        nodes.set(key, node);
      });
    }
    for (const i of members) {
      keysOf(i).forEach((key, s) => {
        const node = nodes.get(key)!;
        stepValue[batch.stepOffsets[i] + s] = o.perVisit ? node.value / Math.max(node.visits, 1) : node.value;
        stepLabel[batch.stepOffsets[i] + s] = node.value > 0 ? 1 : -1;
      });
    }
  }
  const advantages = broadcastSteps(batch, stepValue);
  const labels = broadcastSteps(batch, stepLabel);
  return { advantages, returns: advantages, diag: { tokens: { step_label: labels } } };
}

export const groundedPrmSpec = registerMethod<GroundedPrmOptions>({
  name: "groundedprm",
  locality: "group",
  summary: "Tool-verified step values backed up along a group's step tree, as GroundedPRM's MCTS",
  paper: "GroundedPRM, Zhang et al., arXiv 2510.14942; JerryPlain/GroundedPRMCode backpropagate",
  status: "reference-code",
  example: "grounded.jsonl",
  requires: ["step_ends"],
  signals: ["verifications", "solved"],
  requiredSignals: ["verifications"],
  options: {
    decay: { type: "number", default: 0.9, min: 0, max: 1, doc: "ancestor discount per level of backpropagation" },
    perVisit: { type: "boolean", default: true, doc: "a step's credit is its node value per visit (false: the raw backed-up sum)" },
  },
  assign: groundedPrm,
});
