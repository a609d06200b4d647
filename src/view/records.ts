/**
 * Validation of the non-rollout records the viewer reads (advantage lines, metrics lines) and
 * the text-file loader shared by the CLI (load.ts) and files opened in the page: no Node
 * built-in here, the page bundles it.
 */
import { InputError } from "../core/errors.js";
import { knownSignals } from "../core/registry.js";
import { unpackRows } from "../core/rows.js";
import { parseRolloutsJsonl } from "../io/jsonl.js";
import { classifyText } from "./classify.js";
import type { AdvantageLine, MetricsLine, ViewFile } from "./types.js";

function finiteArray(file: string, line: number, field: string, v: unknown, nonNegative = false): number[] {
  if (!Array.isArray(v)) throw new InputError(file, line, field, "expected an array of numbers");
  for (let k = 0; k < v.length; k++) {
    const x = v[k];
    if (typeof x !== "number" || !Number.isFinite(x)) throw new InputError(file, line, field, `element ${k} is ${JSON.stringify(x)}, expected a finite number`);
    if (nonNegative && x < 0) throw new InputError(file, line, field, `element ${k} is ${x}, expected >= 0`);
  }
  return v as number[];
}

/** One advantage record (assign's output line or Parquet row): id, finite advantages, weights >= 0 of the same length. */
export function advantageLine(file: string, line: number, o: unknown): AdvantageLine {
  if (typeof o !== "object" || o === null || Array.isArray(o)) throw new InputError(file, line, "", "expected a JSON object");
  const r = o as Record<string, unknown>;
  if (typeof r.id !== "string") throw new InputError(file, line, "id", "expected a string");
  const advantages = finiteArray(file, line, "advantages", r.advantages);
  const out: AdvantageLine = { id: r.id, advantages };
  if (r.weights !== undefined && r.weights !== null) {
    out.weights = finiteArray(file, line, "weights", r.weights, true);
    if (out.weights.length !== advantages.length) throw new InputError(file, line, "weights", `has ${out.weights.length} entries, advantages has ${advantages.length}`);
  }
  return out;
}

/** One metrics line: a finite numeric `step` and every other finite number (text and nulls dropped). */
export function metricsLine(file: string, line: number, o: unknown): MetricsLine {
  if (typeof o !== "object" || o === null || Array.isArray(o)) throw new InputError(file, line, "", "expected a JSON object");
  const out: MetricsLine = {};
  for (const [k, v] of Object.entries(o as Record<string, unknown>)) {
    if (typeof v !== "number") continue;
    if (!Number.isFinite(v)) throw new InputError(file, line, k, `${v} is not finite`);
    out[k] = v;
  }
  if (typeof out.step !== "number") throw new InputError(file, line, "step", "expected a number");
  return out;
}

export function jsonLines(file: string, text: string): { line: number; value: unknown }[] {
  const out: { line: number; value: unknown }[] = [];
  const lines = text.split("\n");
  for (let k = 0; k < lines.length; k++) {
    const l = lines[k].trim();
    if (l === "") continue;
    try {
      out.push({ line: k + 1, value: JSON.parse(l) });
    } catch (e) {
      throw new InputError(file, k + 1, "", `invalid JSON (${(e as Error).message})`);
    }
  }
  return out;
}

/**
 * A text file (JSON lines or a results.json), classified by content and validated. The methods
 * must be registered (import "../methods/index.js") so rollout signals are checked.
 */
export function textViewFile(file: string, text: string): ViewFile {
  const c = classifyText(file, text);
  if (c.kind === "bench") {
    const results = JSON.parse(text);
    for (const key of ["fidelity", "efficiency"]) {
      if (!Array.isArray(results[key])) throw new InputError(file, 0, key, "expected an array (a CreditBench results.json)");
    }
    return { kind: "bench", name: file, how: c.how, results };
  }
  if (c.kind === "rollouts") {
    return { kind: "rollouts", name: file, how: c.how, rows: unpackRows(parseRolloutsJsonl(text, file, { knownSignals: knownSignals() })) };
  }
  const records = jsonLines(file, text);
  if (c.kind === "advantages") return { kind: "advantages", name: file, how: c.how, rows: records.map((r) => advantageLine(file, r.line, r.value)) };
  return { kind: "metrics", name: file, how: c.how, rows: records.map((r) => metricsLine(file, r.line, r.value)) };
}
