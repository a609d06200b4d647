/**
 * Reads, classifies and validates the files given to `creditflow view` into the page's data
 * (types.ts). Every file is checked here, before the server starts, so bad input gets one line
 * naming file, line and field (exit 2) and the page never sees a NaN. Parquet is parsed here
 * (hyparquet, as `assign` does) and sent to the browser as JSON rows; text files go through
 * the same validation the page applies to files opened in it (records.ts).
 */
import { InputError } from "../core/errors.js";
import { knownSignals } from "../core/registry.js";
import { unpackRows, validateRow, packRows, type RolloutRow } from "../core/rows.js";
import "../methods/index.js";
import { readInput } from "../io/files.js";
import { readParquetObjects } from "../io/parquet.js";
import { isParquetBytes, recordKind } from "./classify.js";
import { advantageLine, textViewFile } from "./records.js";
import type { ViewFile } from "./types.js";

function rolloutRows(file: string, objects: unknown[]): RolloutRow[] {
  const opts = { knownSignals: knownSignals() };
  const lines = new Int32Array(objects.length);
  const rows = objects.map((o, k) => {
    lines[k] = k + 1;
    return validateRow(o, { file, line: k + 1 }, opts);
  });
  // Packing checks what spans rows; unpacking gives the canonical JSON rows.
  return unpackRows(packRows(rows, lines, file));
}

/** Loads one file given to `creditflow view`. */
export async function loadViewFile(file: string): Promise<ViewFile> {
  const bytes = readInput(file);
  if (isParquetBytes(bytes)) {
    const objects = await readParquetObjects(bytes, file);
    const kind = objects.length ? recordKind(objects[0]) : null;
    const how = (key: string) => `Parquet (starts with PAR1); row 1 has '${key}'`;
    if (kind === "rollouts") return { kind, name: file, how: how("tokens"), rows: rolloutRows(file, objects) };
    if (kind === "advantages") {
      return { kind, name: file, how: how("advantages"), rows: objects.map((o, k) => advantageLine(file, k + 1, o)) };
    }
    throw new InputError(file, objects.length ? 1 : 0, "", "a Parquet file for the viewer holds rollouts (a 'tokens' column) or advantages (an 'advantages' column)");
  }
  return textViewFile(file, new TextDecoder().decode(bytes));
}
