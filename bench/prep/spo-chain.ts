/**
 * SPO-chain benchmark input: the Monte Carlo values a trainer would have sampled, one per cutpoint
 * that `spoChainCutpoints` lists under the default options (threshold 0.9, interval 5), plus the
 * prompt value when token 0 is low-probability. Values are means of 4 Bernoulli rollouts around
 * the final reward, like the reference's N = 4 estimates.
 */
import type { RolloutRow } from "../../src/core/rows.js";
import { spoChainCutpoints } from "../../src/methods/spo-chain.js";

export const options: Record<string, unknown> = { threshold: 0.9, interval: 5 };

function mcValue(reward: number, rng: () => number): number {
  const p = 0.25 + 0.5 * reward;
  let hits = 0;
  for (let j = 0; j < 4; j++) if (rng() < p) hits++;
  return hits / 4;
}

export function prepare(rows: RolloutRow[], rng: () => number): void {
  for (const row of rows) {
    const cuts = spoChainCutpoints(row.logprobs ?? [], row.mask, { threshold: 0.9, interval: 5 });
    const cutValues: Record<string, number> = {};
    const signals: Record<string, unknown> = { ...row.signals, cut_values: cutValues };
    for (const c of cuts) {
      if (c < 0) signals.start_value = mcValue(row.reward, rng);
      else cutValues[String(c)] = mcValue(row.reward, rng);
    }
    row.signals = signals;
  }
}
