/**
 * The core and the methods are browser-safe: bundled for the browser, they pull in no Node
 * built-in and nothing of io, cli or train, and the bundle runs in a bare JS context (no
 * process, no require) and assigns credit.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { build } from "esbuild";
import { runInNewContext } from "node:vm";
import { join } from "node:path";

describe("browser bundle", () => {
  it("bundles src/index.ts with no Node built-ins and runs GRPO in a bare context", async () => {
    const result = await build({
      entryPoints: [join(process.cwd(), "src", "index.ts")],
      bundle: true,
      platform: "browser",
      format: "iife",
      globalName: "creditflow",
      write: false,
      metafile: true,
      logLevel: "silent",
    });
    const inputs = Object.keys(result.metafile.inputs);
    for (const f of inputs) {
      assert.match(f, /^src\/(index\.ts$|core\/|methods\/|rewards\/|preference\/)/, `browser bundle pulls in ${f}`);
    }
    const code = result.outputFiles[0].text;
    assert.doesNotMatch(code, /\brequire\(|from "node:|process\.(env|argv|stdout)/);
    const lib = runInNewContext(`${code}; creditflow`, {}) as {
      batchFromObjects(rows: unknown[]): unknown;
      runMethod(name: string, batch: unknown): { advantages: Float64Array };
    };
    const batch = lib.batchFromObjects([
      { id: "a", group: "g", tokens: [1, 2], reward: 1 },
      { id: "b", group: "g", tokens: [3], reward: 0 },
    ]);
    const out = lib.runMethod("grpo", batch);
    const s = Math.SQRT1_2;
    assert.deepEqual(Array.from(out.advantages).map((x) => Math.round(x * 1e6) / 1e6), [0.5 / (s + 1e-6), 0.5 / (s + 1e-6), -0.5 / (s + 1e-6)].map((x) => Math.round(x * 1e6) / 1e6));
  });
});
