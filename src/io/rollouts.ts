/**
 * Reading rollout files and writing advantage files in either format, chosen by extension:
 * `.parquet` is Parquet, anything else (and stdin/stdout) is JSON Lines.
 */
import { isAscii } from "node:buffer";
import type { RolloutBatch } from "../core/batch.js";
import type { Assignment } from "../core/registry.js";
import { packRows, unpackRows, validateRow, type RolloutRow, type ValidateOptions } from "../core/rows.js";
import { isStdio, readInput, sinkFor, STDIN_NAME } from "./files.js";
import { advantagesJsonl, parseRolloutsJsonl, rolloutsJsonl } from "./jsonl.js";
import { readParquetObjects, writeAdvantagesParquet, writeRolloutsParquet } from "./parquet.js";

export function isParquetPath(path: string | undefined): boolean {
  return !isStdio(path) && (path as string).toLowerCase().endsWith(".parquet");
}

export async function readRollouts(path: string | undefined, opts: ValidateOptions = {}): Promise<RolloutBatch> {
  const file = isStdio(path) ? STDIN_NAME : (path as string);
  const bytes = readInput(path);
  if (isParquetPath(path)) {
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

/** Writes the advantage file for `out`; atomic for files, nothing written on failure. */
export async function writeAdvantages(path: string | undefined, batch: RolloutBatch, out: Assignment): Promise<void> {
  const sink = sinkFor(path);
  try {
    if (isParquetPath(path)) {
      const rows = [];
      for (let i = 0; i < batch.n; i++) {
        const a = batch.offsets[i], b = batch.offsets[i + 1];
        const diag: Record<string, unknown> = {};
        for (const [k, col] of Object.entries(out.diag?.tokens ?? {})) diag[k] = Array.from(col.subarray(a, b));
        for (const [k, col] of Object.entries(out.diag?.rollouts ?? {})) diag[k] = col[i];
        rows.push({
          id: batch.ids[i],
          advantages: out.advantages.subarray(a, b),
          returns: out.returns?.subarray(a, b),
          weights: out.weights?.subarray(a, b),
          diag: Object.keys(diag).length ? diag : undefined,
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
    if (isParquetPath(path)) await sink.write(writeRolloutsParquet(rows));
    else for (const chunk of rolloutsJsonl(rows)) await sink.write(chunk);
    await sink.commit();
  } catch (e) {
    sink.abort();
    throw e;
  }
}
