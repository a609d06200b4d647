/**
 * JSON Lines: rollouts in (rollouts.md section 1), advantages out (section 2).
 * Lines are parsed one by one so an error names its line; blank lines are ignored.
 */
import { InputError } from "../core/errors.js";
import type { RolloutBatch } from "../core/batch.js";
import type { Assignment } from "../core/registry.js";
import { packRows, validateRow, type RolloutRow, type ValidateOptions } from "../core/rows.js";
import { AsciiChunks } from "./ascii-chunks.js";

/** Parses and validates a JSONL rollout file into a packed batch. */
export function parseRolloutsJsonl(text: string, file: string, opts: ValidateOptions = {}): RolloutBatch {
  const rows: RolloutRow[] = [];
  const lines: number[] = [];
  let start = 0;
  let lineNo = 0;
  const len = text.length;
  while (start <= len) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = len;
    lineNo++;
    let line = text.slice(start, end);
    if (line.endsWith("\r")) line = line.slice(0, -1);
    if (lineNo === 1 && line.charCodeAt(0) === 0xfeff) line = line.slice(1);
    if (line.trim() !== "") {
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (e) {
        throw new InputError(file, lineNo, "", `invalid JSON (${(e as Error).message})`);
      }
      rows.push(validateRow(value, { file, line: lineNo }, opts));
      lines.push(lineNo);
    }
    start = end + 1;
  }
  return packRows(rows, lines, file);
}

/**
 * Numbers per natively joined block: each block is converted by one native join. A block is at
 * most 1/1024 of a chunk (25 characters a number at most), so a chunk outgrows its size by
 * under 3%.
 */
const LIST_BLOCK = 1024;

/**
 * Equal neighbours at least this many long are written by copying one number's bytes: most
 * methods give a rollout, segment or step one advantage, and converting each copy anew would
 * dominate the cost of writing their answers.
 */
const MIN_RUN = 8;

/** Appends arr[a..b) as a JSON list, yielding a chunk whenever the writer's chunk is full. */
function* numberList(arr: Float64Array, a: number, b: number, out: AsciiChunks): Generator<Uint8Array> {
  // join and String write each number the same way: the shortest round-trip form of a float64,
  // as the contract asks (and -0 as 0).
  out.text("[");
  const block = Math.max(1, Math.min(LIST_BLOCK, Math.floor(out.chunkBytes / 1024)));
  let first = true;
  let pending = a; // arr[pending..k) is not written yet and holds no long run
  for (let k = a; k <= b; ) {
    let j = k + 1;
    if (k < b) {
      const v = arr[k];
      while (j < b && arr[j] === v) j++;
      if (j - k < MIN_RUN) {
        k = j;
        continue;
      }
    }
    for (let p = pending; p < k; p += block) {
      const end = Math.min(k, p + block);
      if (!first) out.text(",");
      out.text(arr.subarray(p, end).join(","));
      first = false;
      if (out.full) yield out.take();
    }
    if (k === b) break;
    const text = String(arr[k]);
    for (let p = k; p < j; p += block) {
      const n = Math.min(j, p + block) - p;
      if (first) out.text(text);
      out.repeat("," + text, first ? n - 1 : n);
      first = false;
      if (out.full) yield out.take();
    }
    pending = k = j;
  }
  out.text("]");
}

/**
 * Escapes every non-ASCII character of JSON text as \uXXXX (valid JSON: such characters only
 * occur inside strings), so output files are ASCII and can be written as latin1 bytes without an
 * encoding pass.
 */
export function asciiJson(json: string): string {
  return /[\u0080-\uffff]/.test(json) ? json.replace(/[\u0080-\uffff]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0")) : json;
}

function asciiJsonString(s: string): string {
  return asciiJson(JSON.stringify(s));
}

export interface AdvantageTextOptions {
  /** The size of the yielded chunks (the last line of a chunk may run over by one list block); a `writer` has its own. */
  readonly chunkBytes?: number;
  /** Ends each line; the service's JSON answer uses "," to make an array. */
  readonly lineEnd?: string;
  /** Ends the last line instead of `lineEnd`. */
  readonly lastLineEnd?: string;
  /** Written before the first line and after the last. */
  readonly prefix?: string;
  readonly suffix?: string;
  /** A writer to reuse (see AsciiChunks' `reuse`), whose chunk size applies; by default a fresh one. */
  readonly writer?: AsciiChunks;
}

/**
 * Yields the advantage file line by line ({"id", "advantages", "returns"?, "weights"?, "diag"?}),
 * in input order, as byte chunks of about `chunkBytes` (1 MiB). The text is pure ASCII.
 */
export function* advantagesJsonl(batch: RolloutBatch, out: Assignment, opts: AdvantageTextOptions = {}): Generator<Uint8Array> {
  // Output is flushed every chunk, inside number lists too: a rollout of millions of tokens makes
  // a line longer than one chunk should be.
  const lineEnd = opts.lineEnd ?? "\n";
  const lastLineEnd = opts.lastLineEnd ?? lineEnd;
  const diagTokens = Object.entries(out.diag?.tokens ?? {});
  const diagRollouts = Object.entries(out.diag?.rollouts ?? {});
  // About 20 characters a number (a full-precision double and its comma) and 40 a rollout.
  const lists = 1 + (out.returns ? 1 : 0) + (out.weights ? 1 : 0) + diagTokens.length;
  const expected = batch.nTokens * lists * 20 + batch.n * (40 + 20 * diagRollouts.length);
  const w = opts.writer ?? new AsciiChunks(opts.chunkBytes ?? 1 << 20, expected);
  w.text(opts.prefix ?? "");
  for (let i = 0; i < batch.n; i++) {
    const a = batch.offsets[i], b = batch.offsets[i + 1];
    w.text(`{"id":${asciiJsonString(batch.ids[i])},"advantages":`);
    yield* numberList(out.advantages, a, b, w);
    if (out.returns) {
      w.text(`,"returns":`);
      yield* numberList(out.returns, a, b, w);
    }
    if (out.weights) {
      w.text(`,"weights":`);
      yield* numberList(out.weights, a, b, w);
    }
    if (diagTokens.length || diagRollouts.length) {
      w.text(`,"diag":{`);
      let first = true;
      for (const [k, col] of diagTokens) {
        w.text(`${first ? "" : ","}${asciiJsonString(k)}:`);
        first = false;
        yield* numberList(col, a, b, w);
      }
      for (const [k, col] of diagRollouts) {
        w.text(`${first ? "" : ","}${asciiJsonString(k)}:${col[i] === 0 ? "0" : String(col[i])}`);
        first = false;
      }
      w.text("}");
    }
    w.text(i === batch.n - 1 ? "}" + lastLineEnd : "}" + lineEnd);
    if (w.full) yield w.take();
  }
  w.text(opts.suffix ?? "");
  if (w.length > 0) yield w.take();
}

/** Serialises rollout rows as JSONL (for `convert`), in ASCII. */
export function* rolloutsJsonl(rows: readonly RolloutRow[]): Generator<string> {
  let buf = "";
  for (const r of rows) {
    buf += asciiJson(JSON.stringify(r)) + "\n";
    if (buf.length >= 1 << 20) {
      yield buf;
      buf = "";
    }
  }
  if (buf) yield buf;
}
