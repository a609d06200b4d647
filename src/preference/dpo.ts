/**
 * DPO (Rafailov et al., NeurIPS 2023, arXiv 2305.18290) and IPO (Azar et al., AISTATS 2024,
 * arXiv 2310.12036): the sequence-level baselines of the token-level family.
 *
 *   DPO: z = beta [(sum lp_w - sum ref_w) - (sum lp_l - sum ref_l)],
 *        L = -(1 - ls) log sigma(z) - ls log sigma(-z)            (ls: conservative label smoothing)
 *   IPO: h = (lp_w - ref_w) - (lp_l - ref_l) over token-MEAN log-probs (TRL's `ipo`, which
 *        averages per token), L = (h - 1/(2 beta))^2. `average: false` gives the paper's sums.
 *
 * Gradients are with respect to the policy's per-token log-probs: every chosen token gets the same
 * dL/dz * beta and every rejected token its negative, which is what the token-level methods reweight.
 */
import { assertFinite, logRatio, logSigmoid, sigmoid, type PairLoss, type SeqLogps } from "./common.js";

export interface DpoOptions {
  beta: number;
  /** cDPO-style label smoothing of the Bradley-Terry target (TRL's `label_smoothing`), default 0. */
  labelSmoothing?: number;
}

/** Bradley-Terry loss of a margin z with label smoothing, and dL/dz. */
export function bradleyTerry(z: number, labelSmoothing = 0): { loss: number; dz: number } {
  const ls = labelSmoothing;
  return {
    loss: -(1 - ls) * logSigmoid(z) - ls * logSigmoid(-z),
    dz: -(1 - ls) * sigmoid(-z) + ls * sigmoid(z),
  };
}

/** Fills a gradient array of length n with one value. */
export function constantGrad(n: number, value: number): Float64Array {
  return new Float64Array(n).fill(value);
}

function checkPair(chosen: SeqLogps, rejected: SeqLogps): void {
  assertFinite("chosen policy log-probs", chosen.policy);
  assertFinite("chosen reference log-probs", chosen.ref);
  assertFinite("rejected policy log-probs", rejected.policy);
  assertFinite("rejected reference log-probs", rejected.ref);
}

/** DPO loss of one pair; `margin` is z / beta (the implicit reward difference over beta). */
export function dpoLoss(chosen: SeqLogps, rejected: SeqLogps, o: DpoOptions): PairLoss & { margin: number } {
  checkPair(chosen, rejected);
  const margin = logRatio(chosen) - logRatio(rejected);
  const { loss, dz } = bradleyTerry(o.beta * margin, o.labelSmoothing ?? 0);
  return {
    loss,
    margin,
    chosen: constantGrad(chosen.policy.length, o.beta * dz),
    rejected: constantGrad(rejected.policy.length, -o.beta * dz),
  };
}

export interface IpoOptions {
  beta: number;
  /** Token-mean log-probs (TRL's `ipo`; default true) or sums (the paper's sequence log-probs). */
  average?: boolean;
}

/** IPO loss of one pair. */
export function ipoLoss(chosen: SeqLogps, rejected: SeqLogps, o: IpoOptions): PairLoss & { margin: number } {
  checkPair(chosen, rejected);
  const average = o.average ?? true;
  const nw = average ? Math.max(1, chosen.policy.length) : 1;
  const nl = average ? Math.max(1, rejected.policy.length) : 1;
  const margin = logRatio(chosen) / nw - logRatio(rejected) / nl;
  const d = margin - 1 / (2 * o.beta);
  return {
    loss: d * d,
    margin,
    chosen: constantGrad(chosen.policy.length, (2 * d) / nw),
    rejected: constantGrad(rejected.policy.length, (-2 * d) / nl),
  };
}
