/**
 * Readers for method-specific `signals` of a rollout: each checks shape and finiteness and
 * throws an InputError naming the file, line and `signals.<key>` field, so every method that
 * reads a number, a per-token array or a matrix reports bad input the same way.
 */
import type { RolloutBatch } from "./batch.js";
import { InputError } from "./errors.js";

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (typeof v === "string") return JSON.stringify(v.length > 20 ? v.slice(0, 20) + "..." : v);
  return typeof v;
}

/** The raw value of signals[key] of rollout i (undefined when absent). */
export function rawSignal(batch: RolloutBatch, i: number, key: string): unknown {
  return batch.signals[i]?.[key];
}

export function signalError(batch: RolloutBatch, i: number, key: string, what: string): InputError {
  return new InputError(batch.source, batch.lines[i], `signals.${key}`, what);
}

/** A finite number, or `fallback` when absent (required when fallback is undefined). */
export function signalNumber(batch: RolloutBatch, i: number, key: string, method: string, fallback?: number): number {
  const v = rawSignal(batch, i, key);
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw signalError(batch, i, key, `required by method '${method}' but missing`);
  }
  if (typeof v !== "number" || !Number.isFinite(v)) throw signalError(batch, i, key, `expected a finite number, got ${describe(v)}`);
  return v;
}

/** A boolean, or `fallback` when absent (required when fallback is undefined). */
export function signalBoolean(batch: RolloutBatch, i: number, key: string, method: string, fallback?: boolean): boolean {
  const v = rawSignal(batch, i, key);
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw signalError(batch, i, key, `required by method '${method}' but missing`);
  }
  if (typeof v !== "boolean") throw signalError(batch, i, key, `expected true or false, got ${describe(v)}`);
  return v;
}

/**
 * An array of finite numbers of length `length` (any length when undefined), or null when
 * absent and not required.
 */
export function signalNumbers(batch: RolloutBatch, i: number, key: string, method: string, length?: number, required = true): Float64Array | null {
  const v = rawSignal(batch, i, key);
  if (v === undefined) {
    if (!required) return null;
    throw signalError(batch, i, key, `required by method '${method}' but missing`);
  }
  if (!Array.isArray(v)) throw signalError(batch, i, key, `expected an array of numbers, got ${describe(v)}`);
  if (length !== undefined && v.length !== length) throw signalError(batch, i, key, `expected ${length} entries, got ${v.length}`);
  const out = new Float64Array(v.length);
  for (let k = 0; k < v.length; k++) {
    const x: unknown = v[k];
    if (typeof x !== "number" || !Number.isFinite(x)) throw signalError(batch, i, key, `entry ${k} is ${describe(x)}; expected a finite number`);
    out[k] = x;
  }
  return out;
}

/** An array of strings from a fixed set, of length `length`. */
export function signalLabels<L extends string>(batch: RolloutBatch, i: number, key: string, method: string, allowed: readonly L[], length?: number): L[] {
  const v = rawSignal(batch, i, key);
  if (v === undefined) throw signalError(batch, i, key, `required by method '${method}' but missing`);
  if (!Array.isArray(v)) throw signalError(batch, i, key, `expected an array of labels (${allowed.join(", ")}), got ${describe(v)}`);
  if (length !== undefined && v.length !== length) throw signalError(batch, i, key, `expected ${length} entries, got ${v.length}`);
  for (let k = 0; k < v.length; k++) {
    if (!(allowed as readonly unknown[]).includes(v[k])) throw signalError(batch, i, key, `entry ${k} is ${describe(v[k])}; expected one of ${allowed.join(", ")}`);
  }
  return v as L[];
}

/**
 * A rows x cols matrix of finite numbers (an array of equal-length arrays), flattened row-major.
 * `rows`/`cols` undefined accept any size; the sizes found are returned.
 */
export function signalMatrix(batch: RolloutBatch, i: number, key: string, method: string, rows?: number, cols?: number): { data: Float64Array; rows: number; cols: number } {
  const v = rawSignal(batch, i, key);
  if (v === undefined) throw signalError(batch, i, key, `required by method '${method}' but missing`);
  if (!Array.isArray(v)) throw signalError(batch, i, key, `expected an array of rows, got ${describe(v)}`);
  if (rows !== undefined && v.length !== rows) throw signalError(batch, i, key, `expected ${rows} rows, got ${v.length}`);
  const r = v.length;
  let c = cols ?? -1;
  for (let k = 0; k < r; k++) {
    const row: unknown = v[k];
    if (!Array.isArray(row)) throw signalError(batch, i, key, `row ${k} is ${describe(row)}; expected an array of numbers`);
    if (c < 0) c = row.length;
    if (row.length !== c) throw signalError(batch, i, key, `row ${k} has ${row.length} entries, expected ${c}`);
  }
  if (c < 0) c = 0;
  const data = new Float64Array(r * c);
  for (let k = 0; k < r; k++) {
    const row = v[k] as unknown[];
    for (let j = 0; j < c; j++) {
      const x = row[j];
      if (typeof x !== "number" || !Number.isFinite(x)) throw signalError(batch, i, key, `row ${k} entry ${j} is ${describe(x)}; expected a finite number`);
      data[k * c + j] = x;
    }
  }
  return { data, rows: r, cols: c };
}
