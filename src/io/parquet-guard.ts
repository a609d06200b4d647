/**
 * A damaged Parquet page can send the decoder (hyparquet 1.31.5, unchanged in 1.33) into an
 * endless loop (an RLE run of zero values) or make it grow an array past V8's limit, an abort no
 * handler can catch. Before decoding in-process, the same decoder runs once in a child process
 * with a time and memory limit: if it hangs or dies, the file is refused with one line; the
 * user's process never does either. Costs one extra decode and a process start per Parquet input.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { InputError } from "../core/errors.js";

const CHILD = fileURLToPath(new URL("./parquet-guard-main.js", import.meta.url));

/** Throws an InputError naming `file` unless the child decodes `bytes` cleanly. */
export function guardParquetDecode(bytes: Uint8Array, file: string): void {
  // Generous limits: decoding a sound file takes well under a second per 10 MB here.
  // CREDITFLOW_PARQUET_TIMEOUT (seconds) overrides the time limit.
  const override = Number(process.env.CREDITFLOW_PARQUET_TIMEOUT);
  const timeoutMs = Math.round(override > 0 ? override * 1000 : 10_000 + bytes.byteLength / 5_000);
  const heapMb = Math.max(512, Math.ceil((bytes.byteLength * 40) / 2 ** 20));
  const r = spawnSync(process.execPath, [`--max-old-space-size=${heapMb}`, CHILD], { input: bytes, timeout: timeoutMs, maxBuffer: 1 << 20, stdio: ["pipe", "ignore", "pipe"] });
  if (r.status === 0) return;
  const reason = r.error && (r.error as NodeJS.ErrnoException).code === "ETIMEDOUT"
    ? `the decoder did not finish in ${Math.round(timeoutMs / 1000)} s`
    : r.status === 2 ? String(r.stderr).trim() || "the decoder failed"
      : `the decoder crashed (${r.signal ?? `exit ${r.status}`})`;
  throw new InputError(file, 0, "(file)", `damaged Parquet data: ${reason}`);
}
