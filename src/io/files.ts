/**
 * File plumbing for the CLI: read a whole input (file or stdin), and write an output atomically
 * (a temporary file in the target's folder, renamed into place only once complete), so a failed
 * run never leaves a partial output behind.
 */
import { closeSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { InputError } from "../core/errors.js";

export const STDIN_NAME = "<stdin>";

export function isStdio(path: string | undefined): boolean {
  return path === undefined || path === "-";
}

/** Reads a file, or all of stdin for "-"/undefined. A missing file is an input error. */
export function readInput(path: string | undefined): Uint8Array {
  if (isStdio(path)) {
    try {
      return readFileSync(0);
    } catch (e) {
      // An interactive terminal or closed stdin reads as empty.
      if ((e as NodeJS.ErrnoException).code === "EAGAIN" || (e as NodeJS.ErrnoException).code === "EOF") return new Uint8Array(0);
      throw e;
    }
  }
  try {
    return readFileSync(path as string);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(path as string, 0, "", code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : `cannot read (${code ?? String(e)})`);
  }
}

/** A sink that receives output in chunks. */
export interface ChunkSink {
  write(chunk: string | Uint8Array): Promise<void>;
  /** Makes the output visible (renames the temporary file into place). */
  commit(): Promise<void>;
  /** Discards everything written. */
  abort(): void;
}

/** Writes to a temporary file next to `path`, renamed to `path` on commit. */
export function atomicFileSink(path: string): ChunkSink {
  const tmp = join(dirname(path), `.creditflow-tmp-${process.pid}-${basename(path)}`);
  let fd: number;
  try {
    fd = openSync(tmp, "w");
  } catch (e) {
    throw new InputError(path, 0, "", `cannot write output (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let open = true;
  return {
    async write(chunk) {
      // Writers hand over ASCII text (see advantagesJsonl): latin1 is then an exact, copy-only encoding.
      if (typeof chunk === "string") writeSync(fd, Buffer.from(chunk, "latin1"));
      else writeSync(fd, chunk);
    },
    async commit() {
      closeSync(fd);
      open = false;
      renameSync(tmp, path);
    },
    abort() {
      if (open) closeSync(fd);
      open = false;
      try {
        unlinkSync(tmp);
      } catch {
        // already gone
      }
    },
  };
}

/** Writes to stdout, honouring backpressure. */
export function stdoutSink(): ChunkSink {
  return {
    write(chunk) {
      return new Promise((resolve, reject) => {
        const ok = process.stdout.write(chunk, (err) => (err ? reject(err) : undefined));
        if (ok) resolve();
        else process.stdout.once("drain", () => resolve());
      });
    },
    async commit() {
      // stdout needs no commit: output was only started once everything was computed.
    },
    abort() {},
  };
}

export function sinkFor(path: string | undefined): ChunkSink {
  return isStdio(path) ? stdoutSink() : atomicFileSink(path as string);
}
