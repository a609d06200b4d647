/**
 * Benchmark input for rank-grpo: the generated step ends serve as item ends (about 8 items per
 * rollout), and step_rewards become 0/1 relevance (30% hits). `ranks` 6 makes most lists overflow
 * and some end early, so every branch of the length shaping runs; log_decay is the costlier reward.
 */
import type { RolloutRow } from "../../src/core/rows.js";

export const options: Record<string, unknown> = { ranks: 6, reward: "log_decay" };

export function prepare(rows: RolloutRow[], rng: () => number): void {
  for (const row of rows) {
    const n = row.step_ends ? row.step_ends.length : 0;
    row.step_rewards = Array.from({ length: n }, () => (rng() < 0.3 ? 1 : 0));
  }
}
