/**
 * TP-GRPO: thought-level process rewards from a generative PRM (He et al., arXiv 2507.23317;
 * ICLR 2026 "Smarter Not Harder"). SECONDARY: from a detailed paper note; the official code was
 * not available (methods-part5.md section 7).
 *
 * A judge labels every step (`step_ends`) of a response (`signals.thought_labels`): a correct
 * solution's steps are C (correct) or W (wrong, traced back from a reflection); an incorrect
 * solution's steps are M (they match the wrong final answer) or U (uncertain). Contiguous steps
 * with one label form a thought. With r_o the group-standardised outcome and the
 * capability-adaptive magnitude r_c = alpha * acc_G (acc_G: the group's accuracy), the effective
 * per-token advantages of Propositions 1-2 are
 *
 *   correct:   C -> r_o,   W -> r_o - r_c
 *   incorrect: M -> r_o,   U -> 0
 *
 * and tokens after the last step (the answer span) get r_o (PROPOSAL). Merging steps into thoughts
 * leaves these per-token values unchanged; it matters for suffix-sum placements, which the source
 * does not pin down (NOT FOUND). r_o uses the unbiased std with eps 1e-4 (TRL's GRPO; PROPOSAL),
 * alpha defaults to 1 (NOT FOUND; PROPOSAL). A response is correct when `signals.solved` says so,
 * else when its outcome score is > 0.
 */
import type { RolloutBatch } from "../core/batch.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { outcomeScores } from "../core/rewards.js";
import { signalBoolean, signalError, signalLabels } from "../core/signals.js";
import type { StdKind } from "../core/stats.js";
import { grpoSequenceAdvantages } from "./grpo.js";

export interface TpGrpoOptions {
  alpha: number;
  eps: number;
  std: StdKind;
}

const LABELS = ["C", "W", "M", "U"] as const;
type Label = (typeof LABELS)[number];

export function tpGrpo(batch: RolloutBatch, opts: TpGrpoOptions): Assignment {
  const scores = outcomeScores(batch);
  const ro = grpoSequenceAdvantages(batch, { eps: opts.eps, normByStd: true, std: opts.std }, scores);
  const correct = new Uint8Array(batch.n);
  for (let i = 0; i < batch.n; i++) correct[i] = signalBoolean(batch, i, "solved", "tp-grpo", scores[i] > 0) ? 1 : 0;
  // Group accuracy acc_G for the magnitude r_c = alpha * acc_G.
  const acc = new Float64Array(batch.groupNames.length);
  for (let g = 0; g < acc.length; g++) {
    let c = 0;
    for (let k = batch.groupOffsets[g]; k < batch.groupOffsets[g + 1]; k++) c += correct[batch.groupMembers[k]];
    acc[g] = c / (batch.groupOffsets[g + 1] - batch.groupOffsets[g]);
  }
  const advantages = new Float64Array(batch.nTokens);
  for (let i = 0; i < batch.n; i++) {
    const nSteps = batch.stepOffsets[i + 1] - batch.stepOffsets[i];
    const labels = signalLabels<Label>(batch, i, "thought_labels", "tp-grpo", LABELS, nSteps);
    const rc = opts.alpha * acc[batch.group[i]];
    const o = batch.offsets[i];
    let from = 0;
    for (let s = 0; s < nSteps; s++) {
      const label = labels[s];
      if (correct[i] === 1 ? label === "M" || label === "U" : label === "C" || label === "W") {
        throw signalError(batch, i, "thought_labels", `entry ${s} is "${label}", but the response is ${correct[i] ? "correct (C or W expected)" : "incorrect (M or U expected)"}`);
      }
      const a = label === "W" ? ro[i] - rc : label === "U" ? 0 : ro[i];
      const end = batch.stepEnds[batch.stepOffsets[i] + s] + 1;
      advantages.fill(a, o + from, o + end);
      from = end;
    }
    advantages.fill(ro[i], o + from, batch.offsets[i + 1]); // the answer span after the last step
  }
  return { advantages, returns: advantages };
}

export const tpGrpoSpec = registerMethod<TpGrpoOptions>({
  name: "tp-grpo",
  locality: "group",
  summary: "Thought-level GenPRM labels (C/W on correct, M/U on incorrect) shape the GRPO advantage per step",
  paper: "TP-GRPO (Smarter Not Harder), arXiv 2507.23317, ICLR 2026; from a paper note",
  status: "secondary",
  example: "thoughts.jsonl",
  requires: ["step_ends"],
  signals: ["thought_labels", "solved"],
  requiredSignals: ["thought_labels"],
  options: {
    alpha: { type: "number", default: 1, min: 0, doc: "r_c = alpha * group accuracy (NOT FOUND in the source; PROPOSAL 1)" },
    eps: { type: "number", default: 1e-4, min: 0, doc: "added to the group std of the outcome (TRL's GRPO)" },
    std: { type: "enum", values: ["unbiased", "population"], default: "unbiased", doc: "group std of the outcome" },
  },
  assign: tpGrpo,
});
