/**
 * HICRA benchmark input: signals.planning marks a few strategic-gram-like spans per rollout
 * (3 to 5 tokens, about 8% of tokens), and a short gram list is configured too, so both
 * planning sources and the gram matcher are exercised.
 */
import type { RolloutRow } from "../../src/core/rows.js";

export const options: Record<string, unknown> = {
  // Token-id n-grams of the synthetic vocabulary (ids < 50000); most never occur, as real SG lists mostly miss.
  grams: Array.from({ length: 64 }, (_, j) => [(j * 7919) % 50000, (j * 104729) % 50000, (j * 1299709) % 50000]),
};

export function prepare(rows: RolloutRow[], rng: () => number): void {
  for (const row of rows) {
    const T = row.tokens.length;
    const planning = new Array<number>(T).fill(0);
    const spans = Math.floor(T / 48);
    for (let s = 0; s < spans; s++) {
      const start = Math.floor(rng() * T);
      const len = 3 + Math.floor(rng() * 3);
      for (let t = start; t < start + len && t < T; t++) planning[t] = 1;
    }
    row.signals = { ...row.signals, planning };
  }
}
