/** Shared helpers of the service tests: an in-process server on a random port, requests, expected answers. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { tableFromIPC } from "apache-arrow";
import { join } from "node:path";
import { batchFromObjects } from "../../src/core/rows.js";
import { knownSignals, runMethod } from "../../src/core/registry.js";
import "../../src/methods/index.js";
import { startServer, type RunningServer, type ServeOptions } from "../../src/serve/server.js";

export const ROOT = process.cwd();

export function startTestServer(opts: Partial<ServeOptions> = {}): Promise<RunningServer> {
  return startServer({ host: "127.0.0.1", port: 0, workers: 2, logLevel: "silent", ...opts });
}

export function exampleRows(file: string): Record<string, unknown>[] {
  return readFileSync(join(ROOT, "examples", file), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export interface AdvantageRowJson {
  id: string;
  advantages: number[];
  returns?: number[];
  weights?: number[];
  diag?: Record<string, unknown>;
}

/** The advantage rows `runMethod` gives in process, as plain arrays (the reference every encoding must equal). */
export function expectedRows(method: string, rows: readonly unknown[], config: unknown = {}): AdvantageRowJson[] {
  const batch = batchFromObjects(rows, "expected", { knownSignals: knownSignals() });
  const out = runMethod(method, batch, config);
  const slice = (a: Float64Array | undefined, i: number): number[] | undefined => (a ? Array.from(a.subarray(batch.offsets[i], batch.offsets[i + 1])) : undefined);
  return batch.ids.map((id, i) => {
    const row: AdvantageRowJson = { id, advantages: slice(out.advantages, i) as number[] };
    if (out.returns) row.returns = slice(out.returns, i);
    if (out.weights) row.weights = slice(out.weights, i);
    const diag: Record<string, unknown> = {};
    for (const [k, col] of Object.entries(out.diag?.tokens ?? {})) diag[k] = slice(col, i);
    for (const [k, col] of Object.entries(out.diag?.rollouts ?? {})) diag[k] = col[i];
    if (Object.keys(diag).length) row.diag = diag;
    return row;
  });
}

/** Equal numbers, element by element (=== so -0 equals 0, as JSON writes it). */
export function assertSameNumbers(actual: ArrayLike<number> | undefined, expected: ArrayLike<number> | undefined, what: string): void {
  if (expected === undefined) {
    assert.equal(actual, undefined, `${what}: not expected`);
    return;
  }
  assert.ok(actual, `${what}: missing`);
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let k = 0; k < expected.length; k++) assert.ok(actual[k] === expected[k], `${what}[${k}] = ${actual[k]}, expected ${expected[k]}`);
}

export function assertSameRows(actual: readonly AdvantageRowJson[], expected: readonly AdvantageRowJson[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: rows`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    assert.equal(a.id, e.id, `${what}: id of row ${i}`);
    assertSameNumbers(a.advantages, e.advantages, `${what} ${e.id} advantages`);
    assertSameNumbers(a.returns, e.returns, `${what} ${e.id} returns`);
    assertSameNumbers(a.weights, e.weights, `${what} ${e.id} weights`);
    assert.deepEqual(a.diag === undefined ? undefined : JSON.parse(JSON.stringify(a.diag)), e.diag === undefined ? undefined : JSON.parse(JSON.stringify(e.diag)), `${what} ${e.id} diag`);
  }
}

export interface Answer {
  status: number;
  headers: Headers;
  body: Buffer;
}

export async function post(url: string, body: string | Uint8Array, contentType: string, path = "/v1/assign"): Promise<Answer> {
  const r = await fetch(url + path, { method: "POST", body, headers: { "content-type": contentType } });
  return { status: r.status, headers: r.headers, body: Buffer.from(await r.arrayBuffer()) };
}

export function postJson(url: string, payload: unknown): Promise<Answer> {
  return post(url, JSON.stringify(payload), "application/json");
}

export function ndjsonBody(header: unknown, rows: readonly unknown[]): string {
  return [JSON.stringify(header), ...rows.map((r) => JSON.stringify(r))].join("\n") + "\n";
}

export function ndjsonLines(body: Buffer): unknown[] {
  return body
    .toString("utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as unknown);
}

/** The value of one sample of the Prometheus text (0 when absent). */
export function metricValue(text: string, sample: string): number {
  for (const line of text.split("\n")) if (line.startsWith(sample + " ")) return Number(line.slice(sample.length + 1));
  return 0;
}

/** Rollouts for `groups` groups of `size`, `tokens` tokens each, deterministic rewards. */
export function syntheticRows(groups: number, size: number, tokens: number, prefix = "q"): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (let g = 0; g < groups; g++) {
    for (let k = 0; k < size; k++) {
      const toks = Array.from({ length: tokens }, (_, t) => (g * 31 + k * 7 + t) % 1000);
      rows.push({ id: `${prefix}${g}-${k}`, group: `${prefix}${g}`, tokens: toks, reward: ((g * 13 + k * 5) % 7) / 6 });
    }
  }
  return rows;
}

/** The rows of an Arrow IPC advantage table (diag parsed from its JSON text). */
export function arrowRows(bytes: Uint8Array): AdvantageRowJson[] {
  const t = tableFromIPC(bytes);
  const col = (name: string) => t.getChild(name);
  const rows: AdvantageRowJson[] = [];
  for (let i = 0; i < t.numRows; i++) {
    const row: AdvantageRowJson = { id: col("id")?.get(i) as string, advantages: Array.from(col("advantages")?.get(i).toArray() as Float64Array) };
    for (const k of ["returns", "weights"] as const) {
      const c = col(k);
      if (c) row[k] = Array.from(c.get(i).toArray() as Float64Array);
    }
    const d = col("diag")?.get(i) as string | null | undefined;
    if (d) row.diag = JSON.parse(d) as Record<string, unknown>;
    rows.push(row);
  }
  return rows;
}
