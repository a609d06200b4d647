/**
 * Parquet rollout and advantage files (rollouts.md: "the same columns in a Parquet file, lists
 * for arrays"). Reading turns each Parquet row into exactly the object JSON.parse would give for
 * the equivalent JSONL line, so one validator (validateRow) serves both formats; writing uses
 * typed list columns so other tools (pyarrow, DuckDB, pandas) read the files natively.
 *
 * Column types written: strings for id/group/episode/anchor; LIST<INT32> for tokens, mask and
 * step_ends (token ids are at most 2^31 - 1 by the contract); LIST<DOUBLE> for float arrays;
 * DOUBLE reward, BOOLEAN finished, INT32 t; `signals`, `meta` and `diag` as JSON text in UTF8
 * string columns, because their shape differs from row to row.
 *
 * Reading accepts what other writers produce too: INT64 columns (BigInt, converted when exactly
 * representable), typed arrays, structs, and JSON kept as plain strings.
 */
import { parquetMetadata, parquetReadObjects, type FileMetaData, type SchemaElement } from "hyparquet";
import { parquetWriteBuffer, type ColumnSource } from "hyparquet-writer";
import { InputError } from "../core/errors.js";
import type { RolloutRow } from "../core/rows.js";

/** Columns parsed back from JSON text when they arrive as strings. */
const JSON_COLUMNS = new Set(["signals", "meta", "diag"]);

const textDecoder = new TextDecoder();

/** Parquet reads through ArrayBuffer slices; a Node Buffer may be a view into a larger pool. */
function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) return bytes.buffer;
  return bytes.slice().buffer as ArrayBuffer;
}

function describeError(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Assignment would make a field named "__proto__" the prototype; it must stay a field (JSON.parse keeps it). */
function setField(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** Converts one decoded Parquet value into its JSON.parse equivalent; undefined means "omit". */
function plain(v: unknown, file: string, line: number, field: string): unknown {
  if (v === null || v === undefined) return undefined;
  if (typeof v === "bigint") {
    const n = Number(v);
    if (!Number.isSafeInteger(n)) throw new InputError(file, line, field, `integer ${v} is too large to represent exactly (limit 2^53 - 1)`);
    return n;
  }
  if (typeof v === "number" || typeof v === "string" || typeof v === "boolean") return v;
  if (ArrayBuffer.isView(v)) {
    if (v instanceof BigInt64Array || v instanceof BigUint64Array) return Array.from(v, (x) => plain(x, file, line, field));
    if (v instanceof DataView) throw new InputError(file, line, field, "binary data is not a JSON value");
    return Array.from(v as unknown as ArrayLike<number>);
  }
  if (Array.isArray(v)) {
    // Elements keep their positions: a null element stays null, as JSON shows it (validation rejects it).
    return v.map((x) => {
      const p = plain(x, file, line, field);
      return p === undefined ? null : p;
    });
  }
  if (v instanceof Date) return v.toISOString();
  if (typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const p = plain(x, file, line, `${field}.${k}`);
      if (p !== undefined) setField(out, k, p);
    }
    return out;
  }
  throw new InputError(file, line, field, `unsupported Parquet value of type ${typeof v}`);
}

/**
 * Reads a Parquet rollout file into plain objects, one per row, in file order; the caller
 * validates each with validateRow using line = row number (1-based).
 * A file that is not Parquet (or cannot be decoded) is an InputError on field "(file)".
 */
export async function readParquetObjects(bytes: Uint8Array, file: string): Promise<unknown[]> {
  const buffer = toArrayBuffer(bytes);
  let metadata: FileMetaData;
  try {
    metadata = parquetMetadata(buffer);
  } catch (e) {
    throw new InputError(file, 0, "(file)", `not a Parquet file: ${describeError(e)}`);
  }
  let rows: Record<string, unknown>[];
  try {
    rows = await parquetReadObjects({
      file: buffer,
      metadata,
      // JSON columns come back as text so that every JSON column is parsed in one place,
      // with errors that name the row.
      parsers: { jsonFromBytes: (b: Uint8Array) => (b ? textDecoder.decode(b) : b) },
    });
  } catch (e) {
    const msg = describeError(e);
    if (/compress|codec/i.test(msg)) throw new InputError(file, 0, "(file)", `unsupported Parquet compression (${msg}); write it uncompressed or with snappy`);
    throw new InputError(file, 0, "(file)", `not a Parquet file: ${msg}`);
  }
  const out: unknown[] = new Array(rows.length);
  for (let r = 0; r < rows.length; r++) {
    const line = r + 1;
    const src = rows[r];
    const obj: Record<string, unknown> = {};
    for (const key of Object.keys(src)) {
      let v = src[key];
      if (JSON_COLUMNS.has(key) && typeof v === "string") {
        try {
          v = JSON.parse(v) as unknown;
        } catch (e) {
          throw new InputError(file, line, key, `invalid JSON text: ${describeError(e)}`);
        }
        // Already what JSON.parse gives (including a JSON null, unlike a missing cell).
        setField(obj, key, v);
        continue;
      }
      const p = plain(v, file, line, key);
      if (p !== undefined) setField(obj, key, p);
    }
    out[r] = obj;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writing

type LeafType = "INT32" | "DOUBLE";

function listSchema(name: string, leaf: LeafType, optional: boolean): SchemaElement[] {
  return [
    { name, repetition_type: optional ? "OPTIONAL" : "REQUIRED", converted_type: "LIST", num_children: 1 },
    { name: "list", repetition_type: "REPEATED", num_children: 1 },
    { name: "element", type: leaf, repetition_type: "REQUIRED" },
  ];
}

class TableBuilder {
  readonly schema: SchemaElement[] = [{ name: "root", num_children: 0 }];
  readonly columns: ColumnSource[] = [];

  private add(elements: SchemaElement[], name: string, data: unknown[]): void {
    this.schema.push(...elements);
    this.schema[0] = { ...this.schema[0], num_children: this.columns.length + 1 };
    this.columns.push({ name, data });
  }
  string(name: string, data: (string | null)[], optional: boolean): void {
    this.add([{ name, type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: optional ? "OPTIONAL" : "REQUIRED" }], name, data);
  }
  /**
   * JSON text in a UTF8 column, not hyparquet-writer's JSON type: that type stringifies the value
   * itself and writes a JSON null as a missing cell, which would turn `"meta": null` into no meta.
   */
  json(name: string, data: (string | null)[]): void {
    this.string(name, data, true);
  }
  scalar(name: string, type: "DOUBLE" | "INT32" | "BOOLEAN", data: unknown[], optional: boolean): void {
    this.add([{ name, type, repetition_type: optional ? "OPTIONAL" : "REQUIRED" }], name, data);
  }
  list(name: string, leaf: LeafType, data: (number[] | null)[], optional: boolean): void {
    this.add(listSchema(name, leaf, optional), name, data);
  }
  write(): Uint8Array {
    // Statistics (min/max per page) are of no use to a reader of whole rollout files and cost
    // a pass over every value.
    return new Uint8Array(parquetWriteBuffer({ columnData: this.columns, schema: this.schema, statistics: false }));
  }
}

function asArray(v: ArrayLike<number>): number[] {
  return Array.isArray(v) ? (v as number[]) : Array.from(v);
}

const INT_LISTS = ["mask", "step_ends"] as const;
const FLOAT_LISTS = ["token_rewards", "logprobs", "ref_logprobs", "entropies", "values", "step_rewards"] as const;

/**
 * Writes validated rollout rows as Parquet. An optional field becomes a column only if some row
 * has it; rows without it hold null there (read back as an absent key).
 */
export function writeRolloutsParquet(rows: readonly RolloutRow[]): Uint8Array {
  const t = new TableBuilder();
  const has = (k: keyof RolloutRow): boolean => rows.some((r) => r[k] !== undefined);
  t.string("id", rows.map((r) => r.id), false);
  t.string("group", rows.map((r) => r.group), false);
  t.list("tokens", "INT32", rows.map((r) => asArray(r.tokens)), false);
  t.scalar("reward", "DOUBLE", rows.map((r) => r.reward), false);
  for (const k of INT_LISTS) if (has(k)) t.list(k, "INT32", rows.map((r) => (r[k] === undefined ? null : asArray(r[k]))), true);
  for (const k of FLOAT_LISTS) if (has(k)) t.list(k, "DOUBLE", rows.map((r) => (r[k] === undefined ? null : asArray(r[k]))), true);
  if (has("finished")) t.scalar("finished", "BOOLEAN", rows.map((r) => r.finished ?? null), true);
  if (has("episode")) t.string("episode", rows.map((r) => r.episode ?? null), true);
  if (has("t")) t.scalar("t", "INT32", rows.map((r) => r.t ?? null), true);
  if (has("anchor")) t.string("anchor", rows.map((r) => r.anchor ?? null), true);
  if (has("signals")) t.json("signals", rows.map((r) => (r.signals === undefined ? null : JSON.stringify(r.signals))));
  if (has("meta")) t.json("meta", rows.map((r) => (r.meta === undefined ? null : JSON.stringify(r.meta))));
  return t.write();
}

export interface AdvantageRow {
  id: string;
  advantages: ArrayLike<number>;
  returns?: ArrayLike<number>;
  weights?: ArrayLike<number>;
  diag?: Record<string, unknown>;
}

/** Writes an advantage file (rollouts.md section 2) as Parquet; `diag` is a JSON-text column. */
export function writeAdvantagesParquet(rows: readonly AdvantageRow[]): Uint8Array {
  const t = new TableBuilder();
  t.string("id", rows.map((r) => r.id), false);
  t.list("advantages", "DOUBLE", rows.map((r) => asArray(r.advantages)), false);
  if (rows.some((r) => r.returns !== undefined)) t.list("returns", "DOUBLE", rows.map((r) => (r.returns === undefined ? null : asArray(r.returns))), true);
  if (rows.some((r) => r.weights !== undefined)) t.list("weights", "DOUBLE", rows.map((r) => (r.weights === undefined ? null : asArray(r.weights))), true);
  if (rows.some((r) => r.diag !== undefined)) t.json("diag", rows.map((r) => (r.diag === undefined ? null : JSON.stringify(r.diag))));
  return t.write();
}

