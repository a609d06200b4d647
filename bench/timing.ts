/**
 * Timing a method in process, shared by the credit benches.
 */
import type { RolloutBatch } from "../src/core/batch.js";
import { runMethod } from "../src/core/registry.js";

/**
 * Minimum of n timed runs after one untimed run: on a shared machine other jobs only ever add
 * time, so the minimum is the least disturbed figure and the one ratios are taken from.
 */
export function timeMin(fn: () => void, n: number): number {
  fn();
  let best = Infinity;
  for (let k = 0; k < n; k++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

/**
 * A full garbage collection when the process runs with --expose-gc (else nothing), so no method
 * is timed with garbage left by the one before.
 */
export const collectGarbage: () => void = (globalThis as { gc?: () => void }).gc ?? (() => {});

/**
 * Runs a method 20 times on a small batch before it meets the large one. V8 may compile a hot
 * loop while its first call is still running, before the code after the loop has any type
 * feedback; that code then deoptimises and the loop stays up to 4x slower for the rest of the
 * process, at random from run to run. Small calls give every site its feedback first.
 */
export function warmUp(method: string, small: RolloutBatch, options: Record<string, unknown>): void {
  for (let k = 0; k < 20; k++) runMethod(method, small, options);
}
