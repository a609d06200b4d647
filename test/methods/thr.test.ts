import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { runMethod } from "../../src/core/registry.js";
import { InputError } from "../../src/core/errors.js";
import { assertClose, makeBatch, rowOf, type PartialRow } from "../helpers.js";

const rows = readFileSync("examples/thr.jsonl", "utf8").trim().split("\n").map((l) => JSON.parse(l) as PartialRow);

test("thr: token hidden rewards, tau and reweighted advantages of the worked example (part5 10d)", () => {
  const b = makeBatch(rows);
  const out = runMethod("thr", b);
  assertClose(out.diag!.tokens!.thr, [0.1, 0.135, 0.575, -0.575, -0.1], 1e-12, 1e-9);
  assertClose(out.advantages, [0, 0, 0.635084, -1.039229, 0], 1e-6, 0);
  const explore = runMethod("thr", b, { p: -0.1 });
  assertClose(rowOf(b, explore.advantages, 1), [0.519614], 1e-6, 0);
  assertClose(rowOf(b, explore.advantages, 2), [-1.270168, 0], 1e-6, 0);
  // tau 0 keeps every token with non-zero THR; p = 0 then leaves GRPO's advantages.
  assertClose(runMethod("thr", b, { p: 0, tau: 0 }).advantages, runMethod("grpo", b).advantages, 1e-12, 0);
});

test("thr: an explicit vocab maps columns to token ids; a token outside contributes no one-hot term", () => {
  // The same example with token ids 10 and 11 listed as the columns: identical THR.
  const mapped = rows.map((r) => ({ ...r, tokens: r.tokens.map((t) => t + 10), signals: { ...(r.signals as object), vocab: [10, 11] } }));
  assertClose(runMethod("thr", makeBatch(mapped)).diag!.tokens!.thr, [0.1, 0.135, 0.575, -0.575, -0.1], 1e-12, 1e-9);
  // Different column lists within a group are refused.
  const mixed = mapped.map((r, i) => (i === 1 ? { ...r, signals: { ...(r.signals as object), vocab: [11, 10] } } : r));
  assert.throws(() => runMethod("thr", makeBatch(mixed)), (e: unknown) => e instanceof InputError && e.field === "signals.vocab" && e.line === 2);
});

test("thr: hidden states of the wrong shape are input errors", () => {
  const bad = rows.map((r, i) => (i === 2 ? { ...r, signals: { ...(r.signals as object), hidden: [[0, 1, 0], [1, 0, 0]] } } : r));
  assert.throws(() => runMethod("thr", makeBatch(bad)), (e: unknown) => e instanceof InputError && e.field === "signals.hidden" && e.line === 3);
});
