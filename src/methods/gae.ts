/**
 * GAE (Schulman et al., arXiv 1506.02438) with a critic's values, as verl's
 * `compute_gae_advantage_return`:
 *
 *   delta_t = r_t + gamma V_{t+1} - V_t,   A_t = delta_t + gamma lambda A_{t+1},   returns = A + V
 *
 * then A is whitened over all mask-1 tokens of the batch. Mask-0 tokens are skipped: "t+1" is
 * the next mask-1 token, so values at masked positions never change the result.
 */
import type { RolloutBatch } from "../core/batch.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { outcomeTokenGae } from "../core/returns.js";
import { maskedWhitenChecked } from "../core/whiten.js";

export interface GaeOptions {
  gamma: number;
  lambda: number;
  whiten: boolean;
}

export function gae(batch: RolloutBatch, opts: GaeOptions): Assignment {
  const values = batch.values!.data; // presence checked by the runner (requires: values)
  // One reverse pass places the rewards, runs GAE, gathers the advantages' statistics and checks
  // the returns; whitening then rewrites the advantages in place, checking them: two [nTokens]
  // arrays and two passes in all, and the runner needs no checking pass of its own.
  const out = { advantages: new Float64Array(batch.nTokens), returns: new Float64Array(batch.nTokens) };
  const { stats, returnsFinite } = outcomeTokenGae(batch, values, opts.gamma, opts.lambda, out);
  const advantagesFinite = opts.whiten
    ? maskedWhitenChecked(out.advantages, batch.mask, {}, stats, out.advantages).finite
    : stats.finite;
  return { ...out, finiteChecked: returnsFinite && advantagesFinite };
}

export const gaeSpec = registerMethod<GaeOptions>({
  name: "gae",
  summary: "Generalised advantage estimation with critic values, whitened over the batch",
  paper: "GAE, arXiv 1506.02438; verl compute_gae_advantage_return",
  status: "standard",
  requires: ["values"],
  example: "plain.jsonl",
  options: {
    gamma: { type: "number", default: 1, min: 0, max: 1, doc: "discount factor" },
    lambda: { type: "number", default: 1, min: 0, max: 1, doc: "GAE lambda" },
    whiten: { type: "boolean", default: true, doc: "whiten advantages over the batch (verl does)" },
  },
  assign: gae,
});
