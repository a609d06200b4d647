/**
 * Reading rollout files and writing advantage files in any of the three formats. A file's format
 * is its extension: `.parquet` is Parquet, `.arrow`/`.arrows`/`.feather` Arrow IPC, anything else
 * JSON Lines; standard input is recognised by its first bytes; an output's format may also be
 * given explicitly (`assign --format`).
 */
import { isAscii } from "node:buffer";
import type { RolloutBatch } from "../core/batch.js";
import type { Assignment } from "../core/registry.js";
import { packRows, unpackRows, validateRow, type RolloutRow, type ValidateOptions } from "../core/rows.js";
import { isStdio, readInput, sinkFor, STDIN_NAME } from "./files.js";
import { advantagesJsonl, parseRolloutsJsonl, rolloutsJsonl } from "./jsonl.js";
import { readParquetObjects, writeAdvantagesParquet, writeRolloutsParquet } from "./parquet.js";
import { advantagesArrow, diagOfRollout, looksLikeArrow, readArrowRollouts, rolloutsArrow } from "./arrow.js";

export type DataFormat = "jsonl" | "parquet" | "arrow";
export const DATA_FORMATS: readonly DataFormat[] = ["jsonl", "parquet", "arrow"];

export function isParquetPath(path: string | undefined): boolean {
  return !isStdio(path) && (path as string).toLowerCase().endsWith(".parquet");
}

export function isArrowPath(path: string | undefined): boolean {
  return !isStdio(path) && /\.(arrow|arrows|feather)$/i.test(path as string);
}

/** The format a path names by its extension (standard input/output: JSONL unless told otherwise). */
export function formatOfPath(path: string | undefined): DataFormat {
  return isParquetPath(path) ? "parquet" : isArrowPath(path) ? "arrow" : "jsonl";
}

/** Standard input carries no name: Parquet and Arrow are recognised by their magic bytes. */
function sniffFormat(bytes: Uint8Array): DataFormat {
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x41 && bytes[2] === 0x52 && bytes[3] === 0x31) return "parquet"; // "PAR1"
  return looksLikeArrow(bytes) ? "arrow" : "jsonl";
}

export async function readRollouts(path: string | undefined, opts: ValidateOptions = {}): Promise<RolloutBatch> {
  const file = isStdio(path) ? STDIN_NAME : (path as string);
  const bytes = readInput(path);
  const format = isStdio(path) ? sniffFormat(bytes) : formatOfPath(path);
  if (format === "arrow") return readArrowRollouts(bytes, file, opts);
  if (format === "parquet") {
    const objects = await readParquetObjects(bytes, file);
    const lines = new Int32Array(objects.length);
    const rows: RolloutRow[] = objects.map((o, k) => {
      lines[k] = k + 1;
      return validateRow(o, { file, line: k + 1 }, opts);
    });
    return packRows(rows, lines, file);
  }
  // Most rollout files are pure ASCII: then latin1 decoding (a copy) gives the same string as
  // UTF-8 decoding, several times faster; otherwise Buffer's native UTF-8 decoder.
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = isAscii(buf) ? buf.toString("latin1") : buf.toString("utf8");
  return parseRolloutsJsonl(text, file, opts);
}

/**
 * Writes the advantage file for `out` in `format` (default: by extension); atomic for files,
 * nothing written on failure. Arrow goes to a file as the IPC file format, to stdout as a stream.
 */
export async function writeAdvantages(path: string | undefined, batch: RolloutBatch, out: Assignment, format: DataFormat = formatOfPath(path)): Promise<void> {
  const sink = sinkFor(path);
  try {
    if (format === "arrow") {
      await sink.write(advantagesArrow(batch, out, isStdio(path) ? "stream" : "file"));
    } else if (format === "parquet") {
      const rows = [];
      for (let i = 0; i < batch.n; i++) {
        const a = batch.offsets[i], b = batch.offsets[i + 1];
        rows.push({
          id: batch.ids[i],
          advantages: out.advantages.subarray(a, b),
          returns: out.returns?.subarray(a, b),
          weights: out.weights?.subarray(a, b),
          diag: diagOfRollout(batch, out, i),
        });
      }
      await sink.write(writeAdvantagesParquet(rows));
    } else {
      for (const chunk of advantagesJsonl(batch, out)) await sink.write(chunk);
    }
    await sink.commit();
  } catch (e) {
    sink.abort();
    throw e;
  }
}

/** Writes rollouts (JSONL or Parquet by extension), atomically. */
export async function writeRollouts(path: string | undefined, batch: RolloutBatch): Promise<void> {
  const rows = unpackRows(batch);
  const sink = sinkFor(path);
  try {
    if (isArrowPath(path)) await sink.write(rolloutsArrow(rows, "file"));
    else if (isParquetPath(path)) await sink.write(writeRolloutsParquet(rows));
    else for (const chunk of rolloutsJsonl(rows)) await sink.write(chunk);
    await sink.commit();
  } catch (e) {
    sink.abort();
    throw e;
  }
}
