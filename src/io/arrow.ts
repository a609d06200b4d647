/**
 * Apache Arrow IPC rollout and advantage data, shared by `creditflow assign`/`convert` (`.arrow`
 * files, `--format arrow`) and `creditflow serve` (`application/vnd.apache.arrow.stream`).
 *
 * The columns are the contract's fields (rollouts.md sections 1 and 2), as in Parquet: strings
 * for id/group/episode/anchor, lists for per-token and per-step arrays, `signals`, `meta` and
 * `diag` as JSON text (their shape differs from row to row). Reading turns each row into the
 * object JSON.parse would give for the equivalent JSONL line, so one validator (validateRow)
 * serves every format and errors name the row and column; a null cell is an absent field.
 * Other writers' types are accepted: any integer or float width (64-bit integers when exactly
 * representable), large lists and strings, dictionary-encoded strings, structs, and record
 * batches compressed with LZ4 or ZSTD (pyarrow's Feather default is LZ4).
 *
 * Advantage columns are written straight from the packed arrays: a list column is the flat
 * [nTokens] Float64Array plus the batch's offsets, no per-row copy.
 */
import { Bool, CompressionType, compressionRegistry, Field, Float64, Int32, List, makeData, makeVector, Table, tableFromIPC, tableToIPC, Utf8, Vector, vectorFromArray, type DataType } from "apache-arrow";
import { Decompress as ZstdStream } from "fzstd";
import { decompressFrame as lz4DecompressFrame } from "lz4js";
import type { RolloutBatch } from "../core/batch.js";
import { InputError } from "../core/errors.js";
import type { Assignment } from "../core/registry.js";
import { packRows, validateRow, type RolloutRow, type ValidateOptions } from "../core/rows.js";

// pyarrow compresses Feather/IPC files with LZ4 by default (and offers ZSTD); apache-arrow
// decodes compressed record batches only with codecs registered here (pure JS, decoding only:
// what we write is uncompressed).
//
// Each compressed buffer declares its decoded length (an int64 that apache-arrow reads and strips
// just before calling the codec). The codecs decode into exactly that many bytes, so a buffer
// cannot grow past what it declares, and the declared lengths of one input add up against a
// budget: a small compressed body cannot expand into gigabytes (a decompression bomb).

/** What the compressed buffers of the input being decoded may still expand to (see decodeTable). */
let decodeBudget = Infinity;
let decodeLimit = Infinity;

/** A compressed buffer that lies about its length, or an input over its decode budget. */
class ArrowDecodeError extends Error {}

function boundedDecode(data: Uint8Array, codec: string, decodeInto: (src: Uint8Array, dst: Uint8Array) => number): Uint8Array {
  const declared = data.byteOffset >= 8 ? Number(new DataView(data.buffer, data.byteOffset - 8, 8).getBigInt64(0, true)) : -1;
  if (!Number.isSafeInteger(declared) || declared < 0) throw new ArrowDecodeError(`a ${codec}-compressed buffer declares no valid decoded length`);
  if (declared > decodeBudget) {
    throw new ArrowDecodeError(`its compressed buffers decode to more than ${decodeLimit} bytes, the limit for this input (a body may not expand past the size limit it would have uncompressed)`);
  }
  decodeBudget -= declared;
  // One byte of room more than declared: a buffer that holds more fills it, and is refused.
  const out = new Uint8Array(declared + 1);
  const n = decodeInto(data, out);
  if (n !== declared) throw new ArrowDecodeError(`a ${codec}-compressed buffer declares ${declared} decoded bytes but holds ${n > declared ? "more" : n}`);
  // Offset 0: aligned for the typed arrays of up to 8-byte elements that read it.
  return out.subarray(0, declared);
}

/** ZSTD through fzstd's stream decoder: its one-shot call into a given buffer does not report how much it wrote. */
function zstdDecodeInto(src: Uint8Array, dst: Uint8Array): number {
  let n = 0;
  const stream = new ZstdStream((chunk) => {
    // Stop at the first byte past the buffer: the rest is never decoded.
    if (n + chunk.length > dst.length) throw new ArrowDecodeError(`a ZSTD-compressed buffer declares ${dst.length - 1} decoded bytes but holds more`);
    dst.set(chunk, n);
    n += chunk.length;
  });
  stream.push(src, true);
  return n;
}

compressionRegistry.set(CompressionType.LZ4_FRAME, { decode: (data) => boundedDecode(data, "LZ4", lz4DecompressFrame) });
compressionRegistry.set(CompressionType.ZSTD, { decode: (data) => boundedDecode(data, "ZSTD", zstdDecodeInto) });

/** Columns holding JSON text. */
const JSON_COLUMNS = new Set(["signals", "meta", "diag"]);

/** An Arrow IPC file starts with "ARROW1"; a stream with a 0xFFFFFFFF continuation marker. */
export function looksLikeArrow(bytes: Uint8Array): boolean {
  if (bytes.length >= 6 && String.fromCharCode(...bytes.subarray(0, 6)) === "ARROW1") return true;
  return bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xff && bytes[2] === 0xff && bytes[3] === 0xff;
}

function setField(o: Record<string, unknown>, k: string, v: unknown): void {
  // Assignment would turn a column named "__proto__" into the prototype; JSON.parse keeps it a field.
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** One Arrow cell as the value JSON.parse would give; undefined means "absent". */
function plainCell(v: unknown, file: string, line: number, field: string): unknown {
  if (v === null || v === undefined) return undefined;
  switch (typeof v) {
    case "number":
    case "string":
    case "boolean":
      return v;
    case "bigint": {
      const n = Number(v);
      if (!Number.isSafeInteger(n)) throw new InputError(file, line, field, `integer ${v} cannot be represented exactly as a number (beyond +-(2^53 - 1))`);
      return n;
    }
  }
  if (v instanceof Vector) {
    const arr: unknown = v.toArray();
    // Numeric lists arrive as typed arrays: one copy into the plain array validation expects.
    if (ArrayBuffer.isView(arr) && !(arr instanceof BigInt64Array) && !(arr instanceof BigUint64Array)) return Array.from(arr as unknown as ArrayLike<number>);
    return Array.from(arr as ArrayLike<unknown>, (x) => {
      const p = plainCell(x, file, line, field);
      return p === undefined ? null : p;
    });
  }
  if (ArrayBuffer.isView(v)) throw new InputError(file, line, field, "binary data is not a JSON value");
  if (v instanceof Date) return v.toISOString();
  if (typeof v === "object") {
    // Struct and map rows: their JSON form, converted field by field.
    const json = (v as { toJSON?: () => unknown }).toJSON ? (v as { toJSON: () => unknown }).toJSON() : v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(json as Record<string, unknown>)) {
      const p = plainCell(x, file, line, `${field}.${k}`);
      if (p !== undefined) setField(out, k, p);
    }
    return out;
  }
  throw new InputError(file, line, field, `unsupported Arrow value of type ${typeof v}`);
}

function decodeTable(bytes: Uint8Array, file: string, maxDecodedBytes: number): Table {
  if (bytes.length === 0) throw new InputError(file, 0, "(file)", "empty input: expected an Arrow IPC stream or file");
  // The decoder reads other bytes as an empty table: refuse them by their first bytes instead.
  if (!looksLikeArrow(bytes)) throw new InputError(file, 0, "(file)", "not an Arrow IPC stream or file (it starts with neither 'ARROW1' nor a 0xFFFFFFFF message marker)");
  decodeBudget = decodeLimit = maxDecodedBytes;
  try {
    return tableFromIPC(bytes);
  } catch (e) {
    if (e instanceof ArrowDecodeError) throw new InputError(file, 0, "(file)", `Arrow input refused: ${e.message}`);
    throw new InputError(file, 0, "(file)", `not an Arrow IPC stream or file: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    decodeBudget = decodeLimit = Infinity;
  }
}

/**
 * Reads Arrow IPC (stream or file) rollouts into plain row objects in table order, one per row,
 * with JSON text columns parsed. Row r (0-based) is reported as line r + 1. `maxDecodedBytes`
 * bounds what compressed record batches may decode to (the service passes its body limit).
 */
export function readArrowObjects(bytes: Uint8Array, file: string, maxDecodedBytes = Infinity): Record<string, unknown>[] {
  const table = decodeTable(bytes, file, maxDecodedBytes);
  const n = table.numRows;
  const rows: Record<string, unknown>[] = Array.from({ length: n }, () => ({}));
  for (const field of table.schema.fields) {
    const name = field.name;
    const col = table.getChild(name);
    if (!col) continue;
    const json = JSON_COLUMNS.has(name);
    for (let r = 0; r < n; r++) {
      let v: unknown = col.get(r);
      if (json && typeof v === "string") {
        try {
          v = JSON.parse(v) as unknown;
        } catch (e) {
          throw new InputError(file, r + 1, name, `invalid JSON text: ${(e as Error).message}`);
        }
        setField(rows[r], name, v);
        continue;
      }
      const p = plainCell(v, file, r + 1, name);
      if (p !== undefined) setField(rows[r], name, p);
    }
  }
  return rows;
}

/** Validates and packs Arrow IPC rollouts; errors name the row (as the line) and the column. */
export function readArrowRollouts(bytes: Uint8Array, file: string, opts: ValidateOptions = {}, maxDecodedBytes = Infinity): RolloutBatch {
  const objects = readArrowObjects(bytes, file, maxDecodedBytes);
  const lines = new Int32Array(objects.length);
  const rows: RolloutRow[] = objects.map((o, k) => {
    lines[k] = k + 1;
    return validateRow(o, { file, line: k + 1 }, opts);
  });
  return packRows(rows, lines, file);
}

/** IPC "file" format (random access, what `pyarrow.feather` and `pa.ipc.open_file` read) or "stream" (pipes, HTTP). */
export type ArrowIpcFormat = "file" | "stream";

const FLOAT_LIST = new List(new Field("item", new Float64(), false));

/** A list column over a flat [nTokens] array cut by offsets [n+1]: no per-row copy. */
function flatListVector(flat: Float64Array, offsets: Int32Array, n: number): Vector {
  const child = makeData({ type: new Float64(), length: flat.length, nullCount: 0, data: flat });
  return makeVector(makeData({ type: FLOAT_LIST, length: n, nullCount: 0, valueOffsets: offsets, child }));
}

/** The `diag` object of rollout i (rollouts.md section 2): per-token columns as lists, per-rollout ones as numbers. */
export function diagOfRollout(batch: RolloutBatch, out: Assignment, i: number): Record<string, unknown> | undefined {
  const a = batch.offsets[i], b = batch.offsets[i + 1];
  const diag: Record<string, unknown> = {};
  for (const [k, col] of Object.entries(out.diag?.tokens ?? {})) setField(diag, k, Array.from(col.subarray(a, b)));
  for (const [k, col] of Object.entries(out.diag?.rollouts ?? {})) setField(diag, k, col[i]);
  return Object.keys(diag).length ? diag : undefined;
}

/**
 * The advantage table of a batch (id, advantages, returns?, weights?, diag? as JSON text) as
 * Arrow IPC bytes.
 */
export function advantagesArrow(batch: RolloutBatch, out: Assignment, format: ArrowIpcFormat): Uint8Array {
  // The list offsets are the batch's own [n+1] offsets; they start at 0 as Arrow requires.
  const offsets = batch.offsets;
  const columns: Record<string, Vector> = {
    id: vectorFromArray(batch.ids as string[], new Utf8()),
    advantages: flatListVector(out.advantages, offsets, batch.n),
  };
  if (out.returns) columns.returns = flatListVector(out.returns, offsets, batch.n);
  if (out.weights) columns.weights = flatListVector(out.weights, offsets, batch.n);
  if (out.diag && (Object.keys(out.diag.tokens ?? {}).length || Object.keys(out.diag.rollouts ?? {}).length)) {
    const text: (string | null)[] = [];
    for (let i = 0; i < batch.n; i++) {
      const d = diagOfRollout(batch, out, i);
      text.push(d === undefined ? null : JSON.stringify(d));
    }
    columns.diag = vectorFromArray(text, new Utf8());
  }
  return tableToIPC(new Table(columns), format);
}

function listType(item: DataType): List {
  return new List(new Field("item", item, false));
}

/**
 * Rollout rows as an Arrow IPC table (for `convert` and for clients building requests). An
 * optional field becomes a column only if some row has it; rows without it hold null.
 */
export function rolloutsArrow(rows: readonly RolloutRow[], format: ArrowIpcFormat): Uint8Array {
  const has = (k: keyof RolloutRow): boolean => rows.some((r) => r[k] !== undefined);
  const col = <K extends keyof RolloutRow>(k: K, type: DataType, map: (v: RolloutRow[K]) => unknown = (v) => v): Vector =>
    vectorFromArray(
      rows.map((r) => (r[k] === undefined ? null : map(r[k]))),
      type,
    );
  const columns: Record<string, Vector> = {
    id: col("id", new Utf8()),
    group: col("group", new Utf8()),
    tokens: col("tokens", listType(new Int32())),
    reward: col("reward", new Float64()),
  };
  for (const k of ["mask", "step_ends"] as const) if (has(k)) columns[k] = col(k, listType(new Int32()));
  for (const k of ["token_rewards", "logprobs", "ref_logprobs", "entropies", "values", "step_rewards"] as const) if (has(k)) columns[k] = col(k, listType(new Float64()));
  if (has("finished")) columns.finished = col("finished", new Bool());
  if (has("episode")) columns.episode = col("episode", new Utf8());
  if (has("t")) columns.t = col("t", new Int32());
  if (has("anchor")) columns.anchor = col("anchor", new Utf8());
  if (has("signals")) columns.signals = col("signals", new Utf8(), (v) => JSON.stringify(v));
  if (has("meta")) columns.meta = col("meta", new Utf8(), (v) => JSON.stringify(v));
  return tableToIPC(new Table(columns), format);
}
