/**
 * The child side of the Parquet decoding guard (parquet-guard.ts): decodes the Parquet file on
 * standard input and exits 0, or prints the decoder's message and exits 2. A hang or a V8 abort
 * inside the decoder ends only this process.
 */
import { readFileSync } from "node:fs";
import { parquetMetadata, parquetReadObjects } from "hyparquet";

const buffer = readFileSync(0);
const file = buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength);
try {
  await parquetReadObjects({ file, metadata: parquetMetadata(file), parsers: { jsonFromBytes: (b: Uint8Array) => b } });
  process.exit(0);
} catch (e) {
  process.stderr.write(String(e instanceof Error ? e.message : e).split("\n")[0]);
  process.exit(2);
}
