/** Shared test helpers: build batches from partial rows, compare arrays with a tolerance. */
import assert from "node:assert/strict";
import type { RolloutBatch } from "../src/core/batch.js";
import { batchFromObjects } from "../src/core/rows.js";
import { knownSignals } from "../src/core/registry.js";
import "../src/methods/index.js";

/** A rollout with defaults: id "r<k>", group "g", reward 0. Only the fields a test cares about. */
export type PartialRow = Record<string, unknown> & { tokens: number[] };

export function makeBatch(rows: PartialRow[]): RolloutBatch {
  const full = rows.map((r, k) => ({ id: `r${k}`, group: "g", reward: 0, ...r }));
  return batchFromObjects(full, "test.jsonl", { knownSignals: knownSignals() });
}

/** Tokens [0, 1, ..., T-1]: distinct ids so no two responses share a prefix unless a test says so. */
export function seqTokens(T: number, start = 0): number[] {
  return Array.from({ length: T }, (_, k) => start + k);
}

/** |a - e| <= atol + rtol * |e| element-wise, with a message naming the first bad index. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol = 1e-9, rtol = 1e-9, what = "value"): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} != ${expected.length}`);
  for (let k = 0; k < expected.length; k++) {
    const a = actual[k], e = expected[k];
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      assert.fail(`${what}[${k}] = ${a}, expected ${e} (atol ${atol}, rtol ${rtol})\n actual:   ${Array.from(actual).join(", ")}\n expected: ${Array.from(expected).join(", ")}`);
    }
  }
}

/** Token slice of rollout i. */
export function rowOf(batch: RolloutBatch, arr: Float64Array, i: number): number[] {
  return Array.from(arr.subarray(batch.offsets[i], batch.offsets[i + 1]));
}
