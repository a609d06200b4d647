/**
 * The one place tfjs is loaded and a backend chosen. The wasm backend (XNNPACK, SIMD) is the
 * fast one on these machines; the pure-JS "cpu" backend is the reference the ops tests compare
 * against. Nothing is fetched at run time: the .wasm binaries are resolved from the installed
 * package on disk, so this works from any output directory (dist/ or a scratch build).
 */
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { existsSync } from "node:fs";

export { tf };

export type BackendName = "wasm" | "cpu";

function wasmDir(): string {
  // Resolve from this file first, then from the working directory: compiled code may live
  // outside the repository (a scratch outDir), where node_modules is not an ancestor.
  const candidates = [import.meta.url, join(process.cwd(), "package.json")];
  for (const from of candidates) {
    try {
      const req = createRequire(from);
      const entry = req.resolve("@tensorflow/tfjs-backend-wasm");
      // entry is .../tfjs-backend-wasm/dist/index.js (or a bundle in dist/)
      let dir = dirname(entry);
      while (!existsSync(join(dir, "tfjs-backend-wasm-simd.wasm")) && dir !== dirname(dir)) {
        if (existsSync(join(dir, "dist", "tfjs-backend-wasm-simd.wasm"))) { dir = join(dir, "dist"); break; }
        dir = dirname(dir);
      }
      if (existsSync(join(dir, "tfjs-backend-wasm-simd.wasm"))) return dir;
    } catch {
      // try the next root
    }
  }
  throw new Error("cannot find the tfjs wasm binaries (is @tensorflow/tfjs-backend-wasm installed?)");
}

let current: BackendName | null = null;

/** Selects (and on first use initialises) a backend. Idempotent. */
export async function useBackend(name: BackendName = "wasm"): Promise<void> {
  if (current === name && tf.getBackend() === name) return;
  if (name === "wasm") setWasmPaths(wasmDir() + "/");
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`tfjs backend '${name}' failed to initialise`);
  await tf.ready();
  current = name;
}
