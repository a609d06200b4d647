/**
 * POAD: Policy Optimization with Action Decomposition, with the BAD backup (Wen et al.,
 * NeurIPS 2024, arXiv 2405.15821; reference code morning9393/ADRL `batch_process_tppo`).
 *
 * An agent's action a_t is a run of tokens w^1..w^|a|; the environment reward r_t comes after
 * the whole action. With a token-level critic V(o_t, w^{1:j-1}) (the rollout's `values`: the value
 * before each token), GAE runs backwards over token positions with the discount applied only at
 * action boundaries:
 *
 *   last token of a_t:   delta = r_t + gamma V(o_{t+1}, first) m_{t+1} - V_j,  gae = delta + gamma lambda m_{t+1} gae
 *   inside a_t (j<|a|):  delta = V_{j+1} - V_j,                               gae = delta + lambda gae
 *   A = gae, return = gae + V_j
 *
 * `ntpo: true` is the naive token MDP baseline of the same file (inside an action:
 * delta = gamma V_{j+1} - V_j, gae = delta + gamma lambda gae).
 *
 * Actions are the rollout's steps (`step_ends`; only their mask-1 tokens) or, without steps, its
 * turns (maximal mask-1 runs). Per-action rewards are `step_rewards` when given (then `reward`
 * is not added), else the outcome score on the last action. m_{t+1} is 0 after the last action
 * of a finished rollout; an unfinished one bootstraps from `signals.next_value` (default 0).
 *
 * QUIRK (default `normalize: "nonzero"`): the code normalises A <- (A - mean)/(std + 1e-8) with
 * the population std over the batch, treating every entry exactly 0.0 as padding (excluded from
 * the statistics; such entries are still shifted and scaled here). "all" includes them, "none"
 * leaves the advantages raw. Returns are never normalised.
 */
import type { RolloutBatch } from "../core/batch.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { outcomeScores } from "../core/rewards.js";
import { maskRuns, stepSegments } from "../core/segments.js";
import { signalNumber } from "../core/signals.js";

export interface PoadOptions {
  gamma: number;
  lambda: number;
  ntpo: boolean;
  normalize: "nonzero" | "all" | "none";
  eps: number;
}

export function poad(batch: RolloutBatch, opts: PoadOptions): Assignment {
  const { gamma, lambda, ntpo } = opts;
  const values = batch.values!.data;
  const { mask } = batch;
  const scores = outcomeScores(batch);
  // Actions: steps where a rollout has step_ends, turns otherwise (rollouts may mix both).
  const steps = stepSegments(batch);
  const turns = maskRuns(batch);
  const adv = new Float64Array(batch.nTokens);
  const ret = new Float64Array(batch.nTokens);
  const stepR = batch.stepRewards;
  const tokenBuf: number[] = [];
  for (let i = 0; i < batch.n; i++) {
    const segs = batch.hasSteps[i] === 1 ? steps : turns;
    const s0 = segs.segOffsets[i];
    const s1 = segs.segOffsets[i + 1];
    const useStepRewards = batch.hasSteps[i] === 1 && stepR !== null && stepR.present[i] === 1;
    const bootstrap = signalNumber(batch, i, "next_value", "poad", 0);
    let vNext = bootstrap;
    let mNext = batch.finished[i] === 1 ? 0 : 1;
    let gae = 0;
    // The last action that holds a trainable token gets the outcome reward.
    let lastAction = -1;
    for (let s = s1 - 1; s >= s0 && lastAction < 0; s--) for (let k = segs.start[s]; k < segs.end[s]; k++) if (mask[k] === 1) lastAction = s;
    for (let s = s1 - 1; s >= s0; s--) {
      tokenBuf.length = 0;
      for (let k = segs.start[s]; k < segs.end[s]; k++) if (mask[k] === 1) tokenBuf.push(k);
      if (tokenBuf.length === 0) continue;
      const r = useStepRewards ? stepR.data[batch.stepOffsets[i] + (s - s0)] : s === lastAction ? scores[i] : 0;
      const last = tokenBuf[tokenBuf.length - 1];
      const delta = r + gamma * vNext * mNext - values[last];
      gae = delta + gamma * lambda * mNext * gae;
      adv[last] = gae;
      ret[last] = gae + values[last];
      for (let j = tokenBuf.length - 2; j >= 0; j--) {
        const k = tokenBuf[j];
        const next = values[tokenBuf[j + 1]];
        if (ntpo) {
          gae = gamma * next - values[k] + gamma * lambda * gae;
        } else {
          gae = next - values[k] + lambda * gae;
        }
        adv[k] = gae;
        ret[k] = gae + values[k];
      }
      vNext = values[tokenBuf[0]];
      mNext = 1;
    }
  }
  if (opts.normalize !== "none") normalizeAdvantages(adv, mask, opts.normalize === "nonzero", opts.eps);
  return { advantages: adv, returns: ret };
}

/** (A - mean) / (pop std + eps) over mask-1 tokens; with `skipZeros`, exact zeros are left out of the statistics. */
export function normalizeAdvantages(adv: Float64Array, mask: Uint8Array, skipZeros: boolean, eps: number): void {
  let n = 0;
  let sum = 0;
  for (let k = 0; k < adv.length; k++) {
    if (mask[k] !== 1 || (skipZeros && adv[k] === 0)) continue;
    n++;
    sum += adv[k];
  }
  if (n === 0) return;
  const mean = sum / n;
  let ss = 0;
  for (let k = 0; k < adv.length; k++) {
    if (mask[k] !== 1 || (skipZeros && adv[k] === 0)) continue;
    ss += (adv[k] - mean) ** 2;
  }
  const std = Math.sqrt(ss / n);
  for (let k = 0; k < adv.length; k++) if (mask[k] === 1) adv[k] = (adv[k] - mean) / (std + eps);
}

export const poadSpec = registerMethod<PoadOptions>({
  name: "poad",
  summary: "Token-level GAE inside actions, discounted only at action boundaries (BAD backup); NTPO as an option",
  paper: "POAD/BAD, Wen et al. NeurIPS 2024, arXiv 2405.15821; morning9393/ADRL batch_process_tppo",
  status: "reference-code",
  example: "poad.jsonl",
  requires: ["values"],
  signals: ["next_value"],
  options: {
    gamma: { type: "number", default: 0.95, min: 0, max: 1, doc: "discount between actions (mappo/config.py)" },
    lambda: { type: "number", default: 0.95, min: 0, max: 1, doc: "GAE lambda" },
    ntpo: { type: "boolean", default: false, doc: "naive token MDP: discount every token (the paper's baseline)" },
    normalize: { type: "enum", values: ["nonzero", "all", "none"], default: "nonzero", doc: "batch normalisation: the code's (exact zeros left out of the statistics), all tokens, or none" },
    eps: { type: "number", default: 1e-8, min: 0, doc: "added to the std when normalising" },
  },
  assign: poad,
});
