/**
 * JSON Lines: rollouts in (rollouts.md section 1), advantages out (section 2).
 * Lines are parsed one by one so an error names its line; blank lines are ignored.
 */
import { InputError } from "../core/errors.js";
import type { RolloutBatch } from "../core/batch.js";
import type { Assignment } from "../core/registry.js";
import { packRows, validateRow, type RolloutRow, type ValidateOptions } from "../core/rows.js";

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
 * Numbers per natively joined block: each block is one flat string, so chunks are cheap to turn
 * into bytes. A block is at most 1/1024 of a chunk (25 characters a number at most), so a piece
 * outgrows the chunk by under 3%.
 */
const LIST_BLOCK = 1024;

/** Appends arr[a..b) as a JSON list to st.buf, yielding the buffer whenever it reaches chunkChars. */
function* numberListChunks(arr: Float64Array, a: number, b: number, st: { buf: string }, chunkChars: number): Generator<string> {
  // join writes each number as String(x) does: the shortest round-trip form of a float64, as the
  // contract asks (and -0 as 0). Appending number by number instead builds a string of millions
  // of pieces, which costs more to flatten into bytes than to build.
  st.buf += "[";
  const block = Math.max(1, Math.min(LIST_BLOCK, chunkChars >> 10));
  for (let k = a; k < b; k += block) {
    const end = Math.min(b, k + block);
    st.buf += k > a ? "," + arr.subarray(k, end).join(",") : arr.subarray(k, end).join(",");
    if (st.buf.length >= chunkChars) {
      yield st.buf;
      st.buf = "";
    }
  }
  st.buf += "]";
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

/**
 * Yields the advantage file line by line ({"id", "advantages", "returns"?, "weights"?, "diag"?}),
 * in input order, batched into chunks of about `chunkChars` characters. The text is pure ASCII.
 * `lineEnd` ends each line (the service's JSON answer asks for "," to make an array).
 */
export function* advantagesJsonl(batch: RolloutBatch, out: Assignment, chunkChars = 1 << 20, lineEnd = "\n"): Generator<string> {
  // Output is built in one buffer flushed every chunkChars, inside number lists too: a rollout of
  // millions of tokens makes a line longer than the longest string V8 can hold.
  const st = { buf: "" };
  const diagTokens = Object.entries(out.diag?.tokens ?? {});
  const diagRollouts = Object.entries(out.diag?.rollouts ?? {});
  for (let i = 0; i < batch.n; i++) {
    const a = batch.offsets[i], b = batch.offsets[i + 1];
    st.buf += `{"id":${asciiJsonString(batch.ids[i])},"advantages":`;
    yield* numberListChunks(out.advantages, a, b, st, chunkChars);
    if (out.returns) {
      st.buf += `,"returns":`;
      yield* numberListChunks(out.returns, a, b, st, chunkChars);
    }
    if (out.weights) {
      st.buf += `,"weights":`;
      yield* numberListChunks(out.weights, a, b, st, chunkChars);
    }
    if (diagTokens.length || diagRollouts.length) {
      st.buf += `,"diag":{`;
      let first = true;
      for (const [k, col] of diagTokens) {
        st.buf += `${first ? "" : ","}${asciiJsonString(k)}:`;
        first = false;
        yield* numberListChunks(col, a, b, st, chunkChars);
      }
      for (const [k, col] of diagRollouts) {
        st.buf += `${first ? "" : ","}${asciiJsonString(k)}:${col[i] === 0 ? "0" : String(col[i])}`;
        first = false;
      }
      st.buf += "}";
    }
    st.buf += "}" + lineEnd;
    if (st.buf.length >= chunkChars) {
      yield st.buf;
      st.buf = "";
    }
  }
  if (st.buf) yield st.buf;
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
