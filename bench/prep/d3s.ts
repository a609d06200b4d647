/**
 * D3S benchmark input: the generated rows already carry entropies; the options make both
 * selection levels do work (6 of each group's 8 rollouts, 20% of their tokens), as an early
 * training step would.
 */
import type { RolloutRow } from "../../src/core/rows.js";

export const options: Record<string, unknown> = { sampleKeep: 6, tokenKeep: 0.2 };

export function prepare(_rows: RolloutRow[], _rng: () => number): void {
  // Nothing to add: sampleKeep and tokenKeep are options, and entropies are in every row.
}
