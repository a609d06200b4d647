/**
 * Corrupted Parquet files (issue 10, section 5): byte flips in the footer metadata and in page
 * headers give one line naming the file and exit 2, never a stack trace or an unhandled rejection
 * from a column read still pending when the first one failed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parquetMetadata } from "hyparquet";
import { parquetHeader } from "hyparquet/src/column.js";
import { mulberry32 } from "../../src/core/random.js";
import { cf, ERROR_LINE, ROOT } from "../cli/run.js";

/** Byte positions of every page header and of the footer (metadata, its length, the magic). */
function headerBytes(buf: Uint8Array): number[] {
  const ab = new Uint8Array(buf).buffer;
  const md = parquetMetadata(ab);
  const out: number[] = [];
  const metaLen = new DataView(ab).getUint32(ab.byteLength - 8, true);
  for (let k = ab.byteLength - 8 - metaLen; k < ab.byteLength; k++) out.push(k);
  for (const rg of md.row_groups) {
    for (const col of rg.columns) {
      const m = col.meta_data!;
      const start = Number(m.dictionary_page_offset ?? m.data_page_offset);
      const end = start + Number(m.total_compressed_size);
      const reader = { view: new DataView(ab, start, end - start), offset: 0 };
      while (reader.offset < end - start - 1) {
        const before = reader.offset;
        const h = parquetHeader(reader);
        for (let k = before; k < reader.offset; k++) out.push(start + k);
        reader.offset += Number(h.compressed_page_size);
      }
    }
  }
  return out;
}

test("byte flips in Parquet headers and metadata: one line naming the file, exit 2, no stack", () => {
  const dir = mkdtempSync(join(tmpdir(), "cf-pq-"));
  const good = join(dir, "good.parquet");
  assert.equal(cf(["convert", "--in", join(ROOT, "examples", "plain.jsonl"), "--out", good]).code, 0);
  const bytes = readFileSync(good);
  const positions = headerBytes(bytes);
  const rng = mulberry32(7);
  let refused = 0;
  for (let c = 0; c < 40; c++) {
    const bad = Buffer.from(bytes);
    const flips = 1 + Math.floor(rng() * 3);
    for (let f = 0; f < flips; f++) bad[positions[Math.floor(rng() * positions.length)]] ^= 1 + Math.floor(rng() * 255);
    const path = join(dir, `bad${c}.parquet`);
    writeFileSync(path, bad);
    const r = cf(["assign", "--method", "grpo", "--in", path]);
    if (r.code === 0) continue; // a flip the format tolerates (e.g. in statistics)
    refused++;
    assert.equal(r.code, 2, `case ${c}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, ERROR_LINE, `case ${c}`);
    assert.ok(r.stderr.includes(path), `case ${c}: ${r.stderr}`);
    assert.equal(r.stdout, "", `case ${c}: partial output`);
  }
  assert.ok(refused >= 20, `only ${refused} of 40 corrupted files were refused`);
});

test("damaged page data that hangs the decoder: refused with one line after the time limit, no output", () => {
  // A byte flip inside a data page (a fuzzing find, tool-turns.jsonl converted by creditflow): an
  // RLE run that never advances sends hyparquet into an endless loop. The guard's child process
  // is stopped by its time limit; the user's process stays in control.
  const path = join(ROOT, "test", "io", "fixtures", "rle-hang.parquet");
  const r = spawnSync(process.execPath, [join(ROOT, "bin", "creditflow.js"), "assign", "--method", "grpo", "--in", path], {
    encoding: "utf8", env: { ...process.env, CREDITFLOW_PARQUET_TIMEOUT: "2" }, timeout: 60_000,
  });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, ERROR_LINE);
  assert.match(r.stderr, /rle-hang\.parquet.*damaged Parquet data: the decoder did not finish in 2 s/);
  assert.equal(r.stdout, "");
});
