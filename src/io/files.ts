/**
 * File plumbing for the CLI: read a whole input (file or stdin), and write an output atomically
 * (a temporary file in the target's folder, renamed into place only once complete), so a failed
 * run never leaves a partial output behind.
 */
import { accessSync, closeSync, constants, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, realpathSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
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

const TMP_PREFIX = ".creditflow-tmp-";

/** Temporary files of this process not yet committed or aborted: removed if a signal ends it. */
const pendingTemps = new Set<string>();
let signalsHooked = false;

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/**
 * On SIGINT/SIGTERM/SIGHUP, removes this process's temporary outputs, then dies of the same
 * signal (exit status 128 + signal number, as the shell expects). kill -9 cannot be caught: its
 * leftovers are swept by the next run in that folder (see sweepStaleTemps).
 */
function hookSignals(): void {
  if (signalsHooked) return;
  signalsHooked = true;
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(sig, () => {
      for (const t of pendingTemps) removeQuietly(t);
      pendingTemps.clear();
      process.kill(process.pid, sig);
    });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Removes temporary outputs in `dir` left by creditflow processes that no longer run (kill -9, power loss). */
export function sweepStaleTemps(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(TMP_PREFIX)) continue;
    const pid = Number(name.slice(TMP_PREFIX.length).split("-")[0]);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !processAlive(pid)) removeQuietly(join(dir, name));
  }
}

function sameFile(a: string, b: string): boolean {
  try {
    const sa = statSync(a), sb = statSync(b);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}

/**
 * Checks an output path before any input is read or anything is written: its folder exists and
 * is writable, it is not a directory, and it is none of the inputs (compared as files, so `..`,
 * symlinks and hard links are seen through). Each problem is one input error naming the path.
 */
export function checkOutputPath(out: string | undefined, inputs: readonly (string | undefined)[] = []): void {
  if (isStdio(out)) return;
  const path = out as string;
  const dir = dirname(resolve(path));
  let dirStat;
  try {
    dirStat = statSync(dir);
  } catch {
    throw new InputError(path, 0, "", `cannot write output: folder '${dirname(path)}' does not exist`);
  }
  if (!dirStat.isDirectory()) throw new InputError(path, 0, "", `cannot write output: '${dirname(path)}' is not a folder`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new InputError(path, 0, "", `cannot write output: folder '${dirname(path)}' is not writable`);
  }
  let st;
  try {
    st = statSync(path);
  } catch {
    st = null;
  }
  if (st?.isDirectory()) throw new InputError(path, 0, "", "cannot write output: it is a directory");
  for (const input of inputs) {
    if (isStdio(input)) continue;
    const same = sameFile(path, input as string) || (st === null && realTarget(path) === realTarget(input as string));
    if (same) throw new InputError(path, 0, "", `the output is the input file '${input}': refusing to overwrite it (choose another --out)`);
  }
}

/** The real path a (possibly not yet existing) file path names. */
function realTarget(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    try {
      return join(realpathSync(dirname(resolve(path))), basename(path));
    } catch {
      return resolve(path);
    }
  }
}

/** Writes to a temporary file next to `path`, renamed to `path` on commit. */
export function atomicFileSink(path: string): ChunkSink {
  const dir = dirname(path);
  sweepStaleTemps(dir);
  const tmp = join(dir, `${TMP_PREFIX}${process.pid}-${basename(path)}`);
  // Handlers first: a signal arriving between the file's creation and their installation would
  // take Node's default action (die at once) and leave the temporary file behind.
  hookSignals();
  let fd: number;
  try {
    fd = openSync(tmp, "w");
  } catch (e) {
    throw new InputError(path, 0, "", `cannot write output (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  pendingTemps.add(tmp);
  let open = true;
  let chunks = 0;
  return {
    async write(chunk) {
      // Writers hand over ASCII text (see advantagesJsonl): latin1 is then an exact, copy-only encoding.
      if (typeof chunk === "string") writeSync(fd, Buffer.from(chunk, "latin1"));
      else writeSync(fd, chunk);
      // Let the event loop turn now and then, so a Ctrl-C during a long write is acted on at once.
      if (++chunks % 16 === 0) await new Promise((r) => setImmediate(r));
    },
    async commit() {
      closeSync(fd);
      open = false;
      renameSync(tmp, path);
      pendingTemps.delete(tmp);
    },
    abort() {
      if (open) closeSync(fd);
      open = false;
      removeQuietly(tmp);
      pendingTemps.delete(tmp);
    },
  };
}

/**
 * The project's one way to write a whole file: a temporary file in the same folder (named and
 * cleaned up like atomicFileSink's), flushed to disk, then renamed over `path`, so a kill at any
 * moment leaves the old file or the new one, never half. Creates missing folders.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `${TMP_PREFIX}${process.pid}-${basename(path)}`);
  pendingTemps.add(tmp);
  hookSignals();
  try {
    const fd = openSync(tmp, "w");
    try {
      if (typeof data === "string") writeSync(fd, data);
      else writeSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    removeQuietly(tmp);
    throw e;
  } finally {
    pendingTemps.delete(tmp);
  }
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
