/**
 * Benchmark input for brpo: S = 4 budgets at every quarter of the response (step_ends at
 * T/4 - 1, T/2 - 1, 3T/4 - 1, T - 1) and signals.budget_scores, the mean of 4 sampled summary
 * scores per budget, more likely correct at larger budgets. The generated step_rewards belong to
 * the old step ends and are dropped.
 */
import type { RolloutRow } from "../../src/core/rows.js";

const S = 4;
const SUMMARIES = 4;

export function prepare(rows: RolloutRow[], rng: () => number): void {
  for (const row of rows) {
    const T = row.tokens.length;
    row.step_ends = Array.from({ length: S }, (_, j) => Math.floor(((j + 1) * T) / S) - 1);
    delete row.step_rewards;
    const skill = rng();
    const scores = Array.from({ length: S }, (_, j) => {
      let correct = 0;
      for (let a = 0; a < SUMMARIES; a++) if (rng() < skill * (j + 1) / S) correct++;
      return correct / SUMMARIES;
    });
    row.signals = { ...row.signals, budget_scores: scores };
  }
}
