/**
 * Benchmark input for laser: signals.self_reward on finished rows, a noisy score around the
 * verifier reward (some outside [0, 1], so the clamp is exercised); truncated rows get none.
 */
import type { RolloutRow } from "../../src/core/rows.js";

export const options: Record<string, unknown> = { lambda: 0.1, tau: 0.1 };

export function prepare(rows: RolloutRow[], rng: () => number): void {
  for (const row of rows) {
    if (row.finished === false) continue;
    row.signals = { ...row.signals, self_reward: row.reward + 0.6 * (rng() - 0.5) };
  }
}
