/** Benchmark input for rto: signals.dpo_logprobs as for dpo-token-reward (the rows carry logprobs, ref_logprobs and values). */
import type { RolloutRow } from "../../src/core/rows.js";
import { addDpoLogprobs } from "./dpo-token-reward.js";

export function prepare(rows: RolloutRow[], rng: () => number): void {
  addDpoLogprobs(rows, rng);
}
