/**
 * Benchmark input for dpo-token-reward: a DPO policy's log-probs near the reference's
 * (signals.dpo_logprobs = ref_logprobs + a small random shift, kept <= 0).
 */
import type { RolloutRow } from "../../src/core/rows.js";

export function addDpoLogprobs(rows: RolloutRow[], rng: () => number): void {
  for (const row of rows) {
    const ref = row.ref_logprobs ?? row.tokens.map(() => -1);
    const dpo = new Array<number>(ref.length);
    for (let t = 0; t < ref.length; t++) dpo[t] = Math.min(0, ref[t] + 0.4 * (rng() - 0.5));
    row.signals = { ...row.signals, dpo_logprobs: dpo };
  }
}

export function prepare(rows: RolloutRow[], rng: () => number): void {
  addDpoLogprobs(rows, rng);
}
