/**
 * Decides what a file given to `creditflow view` is, from its content (never its name alone):
 *  - bytes starting with "PAR1": Parquet; rows with `tokens` are rollouts, rows with
 *    `advantages` an advantage file;
 *  - text that parses whole as one JSON object with `format: "creditbench-results"`: CreditBench;
 *  - otherwise JSON lines, decided by the first non-blank line: `tokens` -> rollouts,
 *    `advantages` -> advantage file, a numeric `step` -> trainer metrics.
 * Anything else is an input error naming the file and line.
 */
import { InputError } from "../core/errors.js";

export type FileKind = "rollouts" | "advantages" | "metrics" | "bench";

export interface Classified {
  kind: FileKind;
  format: "jsonl" | "json" | "parquet";
  how: string;
}

const PARQUET_MAGIC = [0x50, 0x41, 0x52, 0x31]; // "PAR1"

export function isParquetBytes(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && PARQUET_MAGIC.every((b, k) => bytes[k] === b);
}

/** The kind of one decoded record (a JSONL line or a Parquet row), or null. */
export function recordKind(o: unknown): "rollouts" | "advantages" | "metrics" | null {
  if (typeof o !== "object" || o === null || Array.isArray(o)) return null;
  const r = o as Record<string, unknown>;
  if ("tokens" in r) return "rollouts";
  if ("advantages" in r) return "advantages";
  if (typeof r.step === "number") return "metrics";
  return null;
}

const WHAT = "expected rollouts (lines with 'tokens'), an advantage file ('advantages'), trainer metrics ('step') or a CreditBench results.json";

/** Classifies a text file: CreditBench results, or JSON lines by their first non-blank line. */
export function classifyText(file: string, text: string): Classified {
  const trimmed = text.trimStart();
  if (trimmed.startsWith("{")) {
    // A results.json spans many lines; a one-line JSONL file also parses whole and falls through.
    let whole: unknown;
    try {
      whole = JSON.parse(text);
    } catch {
      whole = undefined;
    }
    if (whole && typeof whole === "object" && (whole as Record<string, unknown>).format === "creditbench-results") {
      return { kind: "bench", format: "json", how: "one JSON object with format \"creditbench-results\"" };
    }
  }
  const lines = text.split("\n");
  for (let k = 0; k < lines.length; k++) {
    const line = lines[k].trim();
    if (line === "") continue;
    let first: unknown;
    try {
      first = JSON.parse(line);
    } catch (e) {
      throw new InputError(file, k + 1, "", `not JSON (${(e as Error).message}); ${WHAT}`);
    }
    const kind = recordKind(first);
    if (kind === null) throw new InputError(file, k + 1, "", `cannot tell what this file is: ${WHAT}`);
    const key = kind === "rollouts" ? "tokens" : kind === "advantages" ? "advantages" : "step";
    return { kind, format: "jsonl", how: `JSON lines; line ${k + 1} has '${key}'` };
  }
  throw new InputError(file, 0, "", `empty file; ${WHAT}`);
}
