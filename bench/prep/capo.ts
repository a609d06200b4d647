/**
 * CAPO benchmark input: K = 4 judge critiques per rollout over its step_ends, and signals.solved.
 * Each step is truly wrong with probability 0.2 (more often in unsolved rollouts); a critique
 * flags a wrong step with probability 0.8 and a right one with 0.05, so the votes disagree as
 * real judges do and every voting rule has work to do.
 */
import type { RolloutRow } from "../../src/core/rows.js";

const K = 4;

export function prepare(rows: RolloutRow[], rng: () => number): void {
  for (const row of rows) {
    const nSteps = row.step_ends?.length ?? 0;
    const solved = row.reward > 0;
    const pWrong = solved ? 0.1 : 0.3;
    const wrong = Array.from({ length: nSteps }, () => rng() < pWrong);
    const critiques: number[][] = [];
    for (let c = 0; c < K; c++) {
      const flags: number[] = [];
      for (let s = 0; s < nSteps; s++) if (rng() < (wrong[s] ? 0.8 : 0.05)) flags.push(s);
      critiques.push(flags);
    }
    row.signals = { ...row.signals, critiques, solved };
  }
}
