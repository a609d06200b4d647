/**
 * Streaming JSONL rollouts one group at a time, for methods whose credit depends only on the
 * rollouts of a group (`locality: "group"` in the registry): memory is bounded by the largest
 * group instead of the whole file. Rows of a group must be adjacent; a group that comes back
 * after another started is reported with NotContiguousError so the caller can fall back to
 * reading the whole batch.
 */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { RolloutBatch } from "../core/batch.js";
import { InputError } from "../core/errors.js";
import { packRows, validateRow, type RolloutRow, type ValidateOptions } from "../core/rows.js";

export class NotContiguousError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly group: string,
  ) {
    super(`${file}:${line}: group '${group}' appears again after other groups (rows of a group are not adjacent)`);
    this.name = "NotContiguousError";
  }
}

/** Yields one packed batch per group of a JSONL file, in file order, with the file's line numbers. */
export async function* groupsOfJsonl(path: string, opts: ValidateOptions = {}): AsyncGenerator<RolloutBatch> {
  const lines = createInterface({ input: createReadStream(path, { highWaterMark: 1 << 20 }), crlfDelay: Infinity });
  const done = new Set<string>();
  // Ids are unique across the file, as packRows checks within one batch.
  const idLines = new Map<string, number>();
  let rows: RolloutRow[] = [];
  let rowLines: number[] = [];
  let current: string | null = null;
  let lineNo = 0;
  try {
    for await (let line of lines) {
      lineNo++;
      if (lineNo === 1 && line.charCodeAt(0) === 0xfeff) line = line.slice(1);
      if (line.trim() === "") continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (e) {
        throw new InputError(path, lineNo, "", `invalid JSON (${(e as Error).message})`);
      }
      const row = validateRow(value, { file: path, line: lineNo }, opts);
      const prevLine = idLines.get(row.id);
      if (prevLine !== undefined) throw new InputError(path, lineNo, "id", `'${row.id}' is not unique (already used on line ${prevLine})`);
      idLines.set(row.id, lineNo);
      if (row.group !== current) {
        if (done.has(row.group)) throw new NotContiguousError(path, lineNo, row.group);
        if (current !== null) {
          done.add(current);
          yield packRows(rows, rowLines, path);
        }
        current = row.group;
        rows = [];
        rowLines = [];
      }
      rows.push(row);
      rowLines.push(lineNo);
    }
  } finally {
    lines.close();
  }
  if (rows.length > 0) yield packRows(rows, rowLines, path);
}
