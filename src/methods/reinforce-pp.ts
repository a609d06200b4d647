/**
 * REINFORCE++ (arXiv 2501.03262), as verl's `compute_reinforce_plus_plus_outcome_advantage`:
 * token-level discounted return G_t = r_t + gamma G_{t+1}, then whitened over all mask-1
 * tokens of the batch: A = (G - mean) * rsqrt(var + 1e-8). returns = G.
 *
 * Mask-0 tokens (tool output) are transparent by default; `maskedTokens: "reset"` reproduces
 * verl's older loop, where the running return restarts at every mask-0 token.
 */
import type { RolloutBatch } from "../core/batch.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { discountedReturns, outcomeTokenReturns } from "../core/returns.js";
import { tokenLevelRewards } from "../core/rewards.js";
import { maskedWhiten, maskedWhitenChecked } from "../core/whiten.js";

export interface ReinforcePPOptions {
  gamma: number;
  maskedTokens: "skip" | "reset";
}

export function reinforcePP(batch: RolloutBatch, opts: ReinforcePPOptions): Assignment {
  if (opts.maskedTokens === "reset") {
    const returns = discountedReturns(tokenLevelRewards(batch), batch.mask, batch.offsets, opts.gamma, "reset");
    return { advantages: maskedWhiten(returns, batch.mask), returns };
  }
  // Hot path: reward placement, returns and their statistics in one reverse pass, then one
  // whitening pass. Both passes check what they write (the returns are finite iff their
  // statistics are), so the runner needs no checking pass of its own.
  const returns = new Float64Array(batch.nTokens);
  const stats = outcomeTokenReturns(batch, opts.gamma, returns);
  const whitened = maskedWhitenChecked(returns, batch.mask, {}, stats);
  return { advantages: whitened.out, returns, finiteChecked: stats.finite && whitened.finite };
}

export const reinforcePPSpec = registerMethod<ReinforcePPOptions>({
  name: "reinforce++",
  summary: "Discounted token returns, whitened over the batch",
  paper: "REINFORCE++, arXiv 2501.03262; verl compute_reinforce_plus_plus_outcome_advantage",
  status: "standard",
  example: "plain.jsonl",
  options: {
    gamma: { type: "number", default: 1, min: 0, max: 1, doc: "discount factor" },
    maskedTokens: { type: "enum", values: ["skip", "reset"], default: "skip", doc: "mask-0 tokens: transparent (skip) or restart the return (reset, older verl)" },
  },
  assign: reinforcePP,
});
