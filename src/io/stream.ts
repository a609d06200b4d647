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

/** The validated rows of one group with their line numbers. */
export interface RowGroup {
  readonly rows: RolloutRow[];
  readonly lines: number[];
  /** Tokens over the group's rows. */
  readonly tokens: number;
}

/**
 * Yields every rollout of JSONL lines, parsed and validated, with its line number (lines are
 * numbered from 1 as they come; blank lines count but hold no row). `source` names the input in
 * errors. Shared by `assign` (a file) and `serve` (an NDJSON request body).
 */
export async function* rowsOfLines(lines: AsyncIterable<string>, source: string, opts: ValidateOptions = {}): AsyncGenerator<{ row: RolloutRow; line: number }> {
  let lineNo = 0;
  for await (let line of lines) {
    lineNo++;
    if (lineNo === 1 && line.charCodeAt(0) === 0xfeff) line = line.slice(1);
    if (line.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw new InputError(source, lineNo, "", `invalid JSON (${(e as Error).message})`);
    }
    yield { row: validateRow(value, { file: source, line: lineNo }, opts), line: lineNo };
  }
}

/**
 * Yields the rows of one group at a time from JSONL lines, checking that ids are unique across
 * all lines and that the rows of a group are adjacent (NotContiguousError otherwise).
 */
export async function* rowGroupsOfLines(lines: AsyncIterable<string>, source: string, opts: ValidateOptions = {}): AsyncGenerator<RowGroup> {
  const done = new Set<string>();
  // Ids are unique across the input, as packRows checks within one batch.
  const idLines = new Map<string, number>();
  let group: { rows: RolloutRow[]; lines: number[]; tokens: number } = { rows: [], lines: [], tokens: 0 };
  let current: string | null = null;
  for await (const { row, line } of rowsOfLines(lines, source, opts)) {
    const prevLine = idLines.get(row.id);
    if (prevLine !== undefined) throw new InputError(source, line, "id", `'${row.id}' is not unique (already used on line ${prevLine})`);
    idLines.set(row.id, line);
    if (row.group !== current) {
      if (done.has(row.group)) throw new NotContiguousError(source, line, row.group);
      if (current !== null) {
        done.add(current);
        yield group;
      }
      current = row.group;
      group = { rows: [], lines: [], tokens: 0 };
    }
    group.rows.push(row);
    group.lines.push(line);
    group.tokens += row.tokens.length;
  }
  if (group.rows.length > 0) yield group;
}

/** Yields one packed batch per group of a JSONL file, in file order, with the file's line numbers. */
export async function* groupsOfJsonl(path: string, opts: ValidateOptions = {}): AsyncGenerator<RolloutBatch> {
  const lines = createInterface({ input: createReadStream(path, { highWaterMark: 1 << 20 }), crlfDelay: Infinity });
  try {
    for await (const g of rowGroupsOfLines(lines, path, opts)) yield packRows(g.rows, g.lines, path);
  } finally {
    lines.close();
  }
}
