/**
 * R3L benchmark input: a retry pivot on every rollout with more than one turn (synth gives every
 * 4th rollout a masked tool span, hence two turns), so the pivot-masking path and the weights are
 * exercised, not only the amplification.
 */
import type { RolloutRow } from "../../src/core/rows.js";

export const options: Record<string, unknown> = {};

export function prepare(rows: RolloutRow[], _rng: () => number): void {
  for (const row of rows) {
    const mask = row.mask;
    if (mask === undefined) continue;
    let turns = 0;
    for (let t = 0; t < mask.length; t++) if (mask[t] === 1 && (t === 0 || mask[t - 1] === 0)) turns++;
    if (turns > 1) row.signals = { ...row.signals, pivot: 1 };
  }
}
