/**
 * A sandbox for code written by a language model (LaRe's factor functions): a QuickJS engine
 * compiled to WebAssembly (quickjs-emscripten), not Node's own context. The code sees plain
 * JavaScript only: no require, process, fetch, import(), file system or network exist inside,
 * memory and stack are capped, and a deadline interrupts loops. Values cross the boundary as
 * JSON text, so nothing of the host is reachable from inside.
 */
import RELEASE_SYNC from "@jitl/quickjs-wasmfile-release-sync";
import { newQuickJSWASMModuleFromVariant, newVariant, shouldInterruptAfterDeadline, type QuickJSSyncVariant, type QuickJSWASMModule } from "quickjs-emscripten-core";

export interface SandboxLimits {
  /** Heap limit of the engine in bytes. */
  memoryBytes: number;
  /** Wall-clock limit of one call in milliseconds. */
  timeMs: number;
  /** Native stack limit in bytes. */
  stackBytes: number;
}

export const DEFAULT_LIMITS: SandboxLimits = { memoryBytes: 32 << 20, timeMs: 1000, stackBytes: 512 << 10 };

export class SandboxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SandboxError";
  }
}

/**
 * The engine's whole WebAssembly memory is capped too: QuickJS's own limit does not see every
 * allocation (large array fills grew the heap by 1.5 GB before it reacted), while a WebAssembly
 * memory cannot grow past its maximum, so the host's memory stays bounded whatever the code does.
 */
const WASM_MAX_BYTES = 128 << 20;
const PAGE = 64 << 10;

// The WebAssembly global exists in Node 20; TypeScript's ES2022 lib only declares its types.
type WasmMemoryCtor = new (d: { initial: number; maximum: number }) => NonNullable<Parameters<typeof newVariant>[1]>["wasmMemory"];
const WasmMemory = (globalThis as unknown as { WebAssembly: { Memory: WasmMemoryCtor } }).WebAssembly.Memory;

let engine: Promise<QuickJSWASMModule> | null = null;

function quickjs(): Promise<QuickJSWASMModule> {
  // The package is CommonJS with a default export; under NodeNext its default import is the variant.
  const variant = RELEASE_SYNC as unknown as QuickJSSyncVariant;
  engine ??= newQuickJSWASMModuleFromVariant(newVariant(variant, { wasmMemory: new WasmMemory({ initial: 256, maximum: WASM_MAX_BYTES / PAGE }) }));
  return engine;
}

/**
 * Defines `code` (which must declare a function named `entry`) in a fresh engine and calls it
 * once per argument list; each call's result must be JSON-serialisable. Throws SandboxError
 * naming what went wrong (a syntax or runtime error, the deadline, the memory limit).
 */
export async function runInSandbox(code: string, entry: string, calls: readonly unknown[][], limits: SandboxLimits = DEFAULT_LIMITS): Promise<unknown[]> {
  if (limits.memoryBytes > WASM_MAX_BYTES / 2) throw new SandboxError(`memory limit ${limits.memoryBytes} is above the engine's ${WASM_MAX_BYTES / 2} bytes`);
  const QuickJS = await quickjs();
  const runtime = QuickJS.newRuntime();
  runtime.setMemoryLimit(limits.memoryBytes);
  runtime.setMaxStackSize(limits.stackBytes);
  const context = runtime.newContext();
  const evalChecked = (src: string, what: string): unknown => {
    runtime.setInterruptHandler(shouldInterruptAfterDeadline(Date.now() + limits.timeMs));
    const r = context.evalCode(src);
    if (r.error) {
      const err = context.dump(r.error) as { name?: string; message?: string } | string;
      r.error.dispose();
      const msg = typeof err === "string" ? err : `${err.name ?? "Error"}: ${err.message ?? JSON.stringify(err)}`;
      if (/interrupted/i.test(msg)) throw new SandboxError(`${what}: stopped after the ${limits.timeMs} ms time limit`);
      if (/out of memory/i.test(msg)) throw new SandboxError(`${what}: stopped at the ${limits.memoryBytes} byte memory limit`);
      throw new SandboxError(`${what}: ${msg}`);
    }
    const value: unknown = context.dump(r.value);
    r.value.dispose();
    // Settle the promises the code created (they run under the same deadline).
    const jobs = runtime.executePendingJobs();
    if (jobs.error) jobs.error.dispose();
    return value;
  };
  try {
    evalChecked(code, "defining the code");
    if (evalChecked(`typeof ${entry}`, "looking up the entry") !== "function") throw new SandboxError(`the code defines no function '${entry}'`);
    return calls.map((args, k) => {
      const text = evalChecked(`JSON.stringify(${entry}(...${JSON.stringify(args)}))`, `call ${k}`);
      if (typeof text !== "string") throw new SandboxError(`call ${k}: the result is not JSON-serialisable`);
      return JSON.parse(text) as unknown;
    });
  } finally {
    context.dispose();
    runtime.dispose();
  }
}
