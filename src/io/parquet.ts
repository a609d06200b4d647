/**
 * Parquet rollout and advantage files (rollouts.md: "the same columns in a Parquet file, lists
 * for arrays"). Reading turns each Parquet row into exactly the object JSON.parse would give for
 * the equivalent JSONL line, so one validator (validateRow) serves both formats; writing uses
 * typed list columns that standard Parquet readers load as such (checked against arrow-rs).
 *
 * Column types written: strings for id/group/episode/anchor; LIST<INT32> for tokens, mask and
 * step_ends (token ids are at most 2^31 - 1 by the contract); LIST<DOUBLE> for float arrays;
 * DOUBLE reward, BOOLEAN finished, INT32 t; `signals`, `meta` and `diag` as JSON text in UTF8
 * string columns, because their shape differs from row to row.
 *
 * Reading accepts what other writers produce too: INT64 columns (BigInt, converted when exactly
 * representable), typed arrays, structs, and JSON kept as plain strings.
 */
import { parquetMetadata, parquetReadObjects, type ColumnChunk, type FileMetaData, type SchemaElement } from "hyparquet";
import { parquetHeader } from "hyparquet/src/column.js";
import { guardParquetDecode } from "./parquet-guard.js";
import { ByteWriter, ParquetWriter } from "hyparquet-writer";
import { writeColumn } from "hyparquet-writer/src/column.js";
import { schemaPathResolver } from "hyparquet-writer/src/schema.js";
import { InputError } from "../core/errors.js";
import type { RolloutRow } from "../core/rows.js";

/** Columns parsed back from JSON text when they arrive as strings. */
const JSON_COLUMNS = new Set(["signals", "meta", "diag"]);

const textDecoder = new TextDecoder();

/** Parquet reads through ArrayBuffer slices; a Node Buffer may be a view into a larger pool. */
function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) return bytes.buffer;
  // A copy through the Uint8Array constructor: Buffer#slice is a view, not a copy.
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy.buffer;
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
    if (!Number.isSafeInteger(n)) throw new InputError(file, line, field, `integer ${v} cannot be represented exactly as a number (beyond +-(2^53 - 1))`);
    return n;
  }
  if (typeof v === "number" || typeof v === "string" || typeof v === "boolean") return v;
  if (ArrayBuffer.isView(v)) {
    if (v instanceof BigInt64Array || v instanceof BigUint64Array) return Array.from(v, (x) => plain(x, file, line, field));
    if (v instanceof DataView) throw new InputError(file, line, field, "binary data is not a JSON value");
    return Array.from(v as unknown as ArrayLike<number>);
  }
  if (Array.isArray(v)) {
    // The common case, a decoded list of numbers, is already what JSON.parse gives: no copy.
    let allNumbers = true;
    for (let k = 0; k < v.length; k++) {
      if (typeof v[k] !== "number") {
        allNumbers = false;
        break;
      }
    }
    if (allNumbers) return v;
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
/** No legitimate rollout file holds a column with more values than this (JS arrays hold < 2^27). */
const MAX_VALUES = 100_000_000;

/**
 * Walks every page header of every column chunk before anything is decoded, so that a corrupt
 * header (a flipped byte in a size or a value count) is an input error rather than a decoder
 * asked to grow an array past V8's limit, which aborts the process uncatchably.
 */
function checkPageHeaders(buffer: ArrayBuffer, metadata: FileMetaData, file: string): void {
  const bad = (what: string): never => {
    throw new InputError(file, 0, "(file)", `corrupt Parquet file: ${what}`);
  };
  const fileBytes = buffer.byteLength;
  for (const [g, rg] of metadata.row_groups.entries()) {
    for (const col of rg.columns) {
      const meta = col.meta_data;
      if (!meta) continue;
      const name = meta.path_in_schema.join(".");
      const numValues = Number(meta.num_values);
      if (!(numValues >= 0 && numValues <= MAX_VALUES)) bad(`column '${name}' of row group ${g} claims ${String(meta.num_values)} values`);
      const start = Number(meta.dictionary_page_offset ?? meta.data_page_offset);
      const end = start + Number(meta.total_compressed_size);
      if (!(start >= 0 && end <= fileBytes && start <= end)) bad(`column '${name}' of row group ${g} lies outside the file`);
      const reader = { view: new DataView(buffer, start, end - start), offset: 0 };
      let seen = 0;
      while (reader.offset < end - start - 1) {
        let header: ReturnType<typeof parquetHeader>;
        try {
          header = parquetHeader(reader);
        } catch (e) {
          return bad(`unreadable page header in column '${name}' (${describeError(e)})`);
        }
        const size = Number(header.compressed_page_size);
        const raw = Number(header.uncompressed_page_size);
        if (!(size >= 0 && reader.offset + size <= end - start)) bad(`a page of column '${name}' runs past its column chunk`);
        // Snappy expands at most ~21x; uncompressed pages are their own size.
        if (!(raw >= 0 && raw <= 32 * size + (1 << 20))) bad(`a page of column '${name}' claims ${raw} bytes uncompressed from ${size}`);
        const pageValues = Number(header.data_page_header?.num_values ?? header.data_page_header_v2?.num_values ?? header.dictionary_page_header?.num_values ?? 0);
        if (!(pageValues >= 0 && pageValues <= numValues)) bad(`a page of column '${name}' claims ${pageValues} values of the column's ${numValues}`);
        if (header.type !== "DICTIONARY_PAGE") seen += pageValues;
        reader.offset += size;
      }
      if (seen > numValues) bad(`the pages of column '${name}' hold ${seen} values, its metadata says ${numValues}`);
    }
  }
}

export async function readParquetObjects(bytes: Uint8Array, file: string): Promise<unknown[]> {
  const buffer = toArrayBuffer(bytes);
  let metadata: FileMetaData;
  try {
    metadata = parquetMetadata(buffer);
  } catch (e) {
    throw new InputError(file, 0, "(file)", `not a Parquet file: ${describeError(e)}`);
  }
  checkPageHeaders(buffer, metadata, file);
  guardParquetDecode(bytes, file);
  let rows: Record<string, unknown>[];
  // A corrupt column fails one of several concurrent column reads: the others may reject after
  // the first error has been reported. Those late rejections are expected, not crashes.
  const late = (): void => {};
  process.on("unhandledRejection", late);
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
  } finally {
    // Give the other column reads a turn of the event loop to settle before listening stops.
    await new Promise((r) => setImmediate(r));
    process.off("unhandledRejection", late);
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
//
// hyparquet-writer's generic Dremel encoder walks every list element through a recursive visitor
// and was most of the write time (about 1.3 s of 1.7 s per million-element column). Rollout
// lists are one shape only (a list of required numbers), whose levels are simple: so the levels
// and flat value arrays are built here, and the library's column writer (pages, dictionary,
// snappy) and file writer (row groups, footer) do the rest. Both packages are pinned.

type WriteColumnArgs = Parameters<typeof writeColumn>[0];
type PageData = WriteColumnArgs["pageData"];
type ColumnEncoder = WriteColumnArgs["column"];
type Encoding = NonNullable<ColumnEncoder["encoding"]>;

type LeafType = "INT32" | "DOUBLE";
type NumberList = ArrayLike<number>;

/** Rows per row group: large enough that per-group overhead is negligible, small enough to bound level arrays. */
const ROW_GROUP_ROWS = 16384;
const PAGE_SIZE = 1 << 20;

interface ColumnPlan {
  /** Schema path from the top-level column to its leaf. */
  readonly path: string[];
  /** Doubles are written PLAIN: a dictionary of measured floats never pays and costs a sampling pass. */
  readonly encoding?: Encoding;
  encode(a: number, b: number): PageData;
}

/** Levels and values of rows [a, b) of a flat column. */
function flatPage(data: readonly unknown[], optional: boolean, a: number, b: number): PageData {
  const values = data.slice(a, b);
  const definitionLevels: number[] = [];
  if (optional) for (let i = a; i < b; i++) definitionLevels.push(data[i] === null || data[i] === undefined ? 0 : 1);
  return { values, definitionLevels, repetitionLevels: [], maxDefinitionLevel: optional ? 1 : 0 };
}

/**
 * Levels and values of rows [a, b) of a LIST<required number> column, as the Dremel encoding
 * defines them: a null list has definition 0, an empty list maxDef - 1, an element maxDef; the
 * first slot of a row has repetition 0, later elements 1. Values are aligned with the levels
 * (the writer drops the slots of null and empty lists), so they are a typed array unless the
 * range holds such slots.
 */
function listPage(data: readonly (NumberList | null)[], leaf: LeafType, optional: boolean, a: number, b: number): PageData {
  const maxDef = optional ? 2 : 1;
  let slots = 0;
  let holes = false;
  for (let i = a; i < b; i++) {
    const l = data[i];
    if (l === null || l.length === 0) {
      slots++;
      holes = true;
    } else slots += l.length;
  }
  // Levels go in byte arrays: the writer only indexes, slices and measures them, and a
  // million-entry number[] (built by push, or `new Array(n)`, which is a dictionary-mode array in
  // V8 beyond 100k entries) costs several times the time and memory.
  const definitionLevels = new Uint8Array(slots);
  const repetitionLevels = new Uint8Array(slots);
  const typed = leaf === "DOUBLE" ? new Float64Array(holes ? 0 : slots) : new Int32Array(holes ? 0 : slots);
  const loose: (number | undefined)[] = [];
  let s = 0;
  for (let i = a; i < b; i++) {
    const l = data[i];
    if (l === null || l.length === 0) {
      definitionLevels[s] = l === null ? 0 : maxDef - 1;
      s++;
      loose.push(undefined);
      continue;
    }
    const n = l.length;
    definitionLevels.fill(maxDef, s, s + n);
    repetitionLevels.fill(1, s + 1, s + n);
    if (holes) for (let k = 0; k < n; k++) loose.push(l[k]);
    else for (let k = 0; k < n; k++) typed[s + k] = l[k];
    s += n;
  }
  // The typings say number[]; every use in the writer is indexing, slice and length.
  return { values: holes ? loose : typed, definitionLevels: definitionLevels as unknown as number[], repetitionLevels: repetitionLevels as unknown as number[], maxDefinitionLevel: maxDef };
}

class TableBuilder {
  private readonly schema: SchemaElement[] = [{ name: "root", num_children: 0 }];
  private readonly plans: ColumnPlan[] = [];

  constructor(private readonly nRows: number) {}

  private add(elements: SchemaElement[], plan: ColumnPlan): void {
    this.schema.push(...elements);
    this.plans.push(plan);
    this.schema[0] = { ...this.schema[0], num_children: this.plans.length };
  }
  string(name: string, data: (string | null)[], optional: boolean): void {
    this.add([{ name, type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: optional ? "OPTIONAL" : "REQUIRED" }], {
      path: [name],
      encode: (a, b) => flatPage(data, optional, a, b),
    });
  }
  /**
   * JSON text in a UTF8 column, not hyparquet-writer's JSON type: that type stringifies the value
   * itself and writes a JSON null as a missing cell, which would turn `"meta": null` into no meta.
   */
  json(name: string, data: (string | null)[]): void {
    this.string(name, data, true);
  }
  scalar(name: string, type: "DOUBLE" | "INT32" | "BOOLEAN", data: unknown[], optional: boolean): void {
    this.add([{ name, type, repetition_type: optional ? "OPTIONAL" : "REQUIRED" }], {
      path: [name],
      encode: (a, b) => flatPage(data, optional, a, b),
    });
  }
  list(name: string, leaf: LeafType, data: (NumberList | null)[], optional: boolean): void {
    this.add(
      [
        { name, repetition_type: optional ? "OPTIONAL" : "REQUIRED", converted_type: "LIST", num_children: 1 },
        { name: "list", repetition_type: "REPEATED", num_children: 1 },
        { name: "element", type: leaf, repetition_type: "REQUIRED" },
      ],
      { path: [name, "list", "element"], encoding: leaf === "DOUBLE" ? "PLAIN" : undefined, encode: (a, b) => listPage(data, leaf, optional, a, b) },
    );
  }
  write(): Uint8Array {
    const writer = new ByteWriter();
    // Statistics (min/max per page) are of no use to a reader of whole rollout files and cost a
    // pass over every value.
    const pq = new ParquetWriter({ writer, schema: this.schema, codec: "SNAPPY", statistics: false, createdBy: "creditflow" });
    const resolve = schemaPathResolver(this.schema);
    const encoders = this.plans.map((plan): ColumnEncoder => {
      const schemaPath = resolve(plan.path).map((node) => node.element);
      return {
        columnName: plan.path.join("."),
        element: schemaPath[schemaPath.length - 1],
        schemaPath,
        codec: "SNAPPY",
        compressors: pq.compressors,
        stats: false,
        pageSize: PAGE_SIZE,
        columnIndex: false,
        offsetIndex: true,
        encoding: plan.encoding,
      };
    });
    for (let a = 0; a < this.nRows; a += ROW_GROUP_ROWS) {
      const b = Math.min(this.nRows, a + ROW_GROUP_ROWS);
      const groupStart = writer.offset;
      const columns: ColumnChunk[] = [];
      let totalBytes = 0n;
      for (let c = 0; c < this.plans.length; c++) {
        const result = writeColumn({ writer, column: encoders[c], pageData: this.plans[c].encode(a, b) });
        columns.push(result.chunk);
        totalBytes += result.chunk.meta_data?.total_uncompressed_size ?? 0n;
        pq.pendingIndexes.push(result);
      }
      pq.num_rows += BigInt(b - a);
      pq.row_groups.push({ columns, total_byte_size: totalBytes, num_rows: BigInt(b - a), total_compressed_size: BigInt(writer.offset - groupStart) });
    }
    void pq.finish(); // synchronous with a ByteWriter
    return new Uint8Array(writer.getBuffer());
  }
}


const INT_LISTS = ["mask", "step_ends"] as const;
const FLOAT_LISTS = ["token_rewards", "logprobs", "ref_logprobs", "entropies", "values", "step_rewards"] as const;

/**
 * Writes validated rollout rows as Parquet. An optional field becomes a column only if some row
 * has it; rows without it hold null there (read back as an absent key).
 */
export function writeRolloutsParquet(rows: readonly RolloutRow[]): Uint8Array {
  const t = new TableBuilder(rows.length);
  const has = (k: keyof RolloutRow): boolean => rows.some((r) => r[k] !== undefined);
  t.string("id", rows.map((r) => r.id), false);
  t.string("group", rows.map((r) => r.group), false);
  t.list("tokens", "INT32", rows.map((r) => r.tokens), false);
  t.scalar("reward", "DOUBLE", rows.map((r) => r.reward), false);
  for (const k of INT_LISTS) if (has(k)) t.list(k, "INT32", rows.map((r) => r[k] ?? null), true);
  for (const k of FLOAT_LISTS) if (has(k)) t.list(k, "DOUBLE", rows.map((r) => r[k] ?? null), true);
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
  const t = new TableBuilder(rows.length);
  t.string("id", rows.map((r) => r.id), false);
  t.list("advantages", "DOUBLE", rows.map((r) => r.advantages), false);
  if (rows.some((r) => r.returns !== undefined)) t.list("returns", "DOUBLE", rows.map((r) => r.returns ?? null), true);
  if (rows.some((r) => r.weights !== undefined)) t.list("weights", "DOUBLE", rows.map((r) => r.weights ?? null), true);
  if (rows.some((r) => r.diag !== undefined)) t.json("diag", rows.map((r) => (r.diag === undefined ? null : JSON.stringify(r.diag))));
  return t.write();
}

