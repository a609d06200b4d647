/**
 * LaRe's generated code runs in a WebAssembly QuickJS engine (issue 15): it computes what it is
 * asked to, and code that loops forever, allocates without bound, or reaches for the host is
 * stopped with a clear error and no effect on this process.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, rmSync } from "node:fs";
import { runInSandbox, SandboxError } from "../../src/sandbox/quickjs.js";

const limits = { memoryBytes: 8 << 20, timeMs: 300, stackBytes: 256 << 10 };

test("a factor function runs on each input and returns its factors", async () => {
  const code = `function evaluationFunc(obs, action) { return [obs[0] * 2, Math.abs(action[0]), obs.length]; }`;
  const out = await runInSandbox(code, "evaluationFunc", [[[1, 2], [-3]], [[0.5], [4]]], limits);
  assert.deepEqual(out, [[2, 3, 2], [1, 4, 1]]);
});

test("an infinite loop is stopped at the time limit", async () => {
  const t0 = Date.now();
  await assert.rejects(runInSandbox("function f() { for (;;) {} }", "f", [[]], limits), (e: unknown) => e instanceof SandboxError && /time limit/.test(e.message));
  assert.ok(Date.now() - t0 < 5000);
});

test("unbounded allocation is stopped at the memory limit, and the host's memory is untouched", async () => {
  const before = process.memoryUsage().rss;
  await assert.rejects(runInSandbox("function f() { const a = []; for (;;) a.push(new Array(1e5).fill(1)); }", "f", [[]], { ...limits, timeMs: 5000 }), (e: unknown) => e instanceof SandboxError && /memory limit|out of memory/i.test(e.message));
  assert.ok(process.memoryUsage().rss - before < 256 << 20, `host RSS grew by ${(process.memoryUsage().rss - before) >> 20} MB`);
});

test("require, process, fetch, import() and the file system do not exist inside", async () => {
  const marker = "/tmp/creditflow-sandbox-escape";
  rmSync(marker, { force: true });
  const probes = [
    `function f() { return require("fs").writeFileSync("${marker}", "x"); }`,
    `function f() { return process.exit(3); }`,
    `function f() { return fetch("http://127.0.0.1:9/"); }`,
    `function f() { return globalThis.require || globalThis.process || globalThis.fetch || globalThis.Deno || null; }`,
  ];
  for (const code of probes.slice(0, 3)) {
    await assert.rejects(runInSandbox(code, "f", [[]], limits), (e: unknown) => e instanceof SandboxError && /ReferenceError|not defined/.test(e.message), code);
  }
  assert.deepEqual(await runInSandbox(probes[3], "f", [[]], limits), [null]);
  // A dynamic import finds no module loader: the promise is rejected (jobs run between calls).
  const dyn = `var state = "pending"; function f(k) { if (k === 0) { import("fs").then(() => { state = "loaded"; }, () => { state = "rejected"; }); } return state; }`;
  assert.deepEqual(await runInSandbox(dyn, "f", [[0], [1]], limits), ["pending", "rejected"]);
  assert.equal(existsSync(marker), false);
  assert.equal(process.exitCode ?? 0, 0);
});

test("syntax errors and a missing entry point are clear errors", async () => {
  await assert.rejects(runInSandbox("function f( {", "f", [[]], limits), (e: unknown) => e instanceof SandboxError && /SyntaxError/.test(e.message));
  await assert.rejects(runInSandbox("const g = 1;", "f", [[]], limits), (e: unknown) => e instanceof SandboxError && /no function 'f'/.test(e.message));
});
