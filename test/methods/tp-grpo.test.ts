import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { runMethod } from "../../src/core/registry.js";
import { InputError } from "../../src/core/errors.js";
import { assertClose, makeBatch, rowOf, type PartialRow } from "../helpers.js";

const rows = readFileSync("examples/thoughts.jsonl", "utf8").trim().split("\n").map((l) => JSON.parse(l) as PartialRow);

test("tp-grpo: worked example (part5 7d): correct C,C,W,C and incorrect M,U,U,M", () => {
  const b = makeBatch(rows);
  const out = runMethod("tp-grpo", b);
  assertClose(rowOf(b, out.advantages, 0), [0.86595, 0.86595, 0.86595, 0.36595, 0.36595, 0.86595], 1e-5, 0);
  assertClose(rowOf(b, out.advantages, 2), [-0.86595, -0.86595, 0, 0, 0, -0.86595], 1e-5, 0);
  // All-C correct and all-M incorrect rollouts are plain GRPO with eps 1e-4.
  const grpo = runMethod("grpo", b, { eps: 1e-4 });
  assertClose(rowOf(b, out.advantages, 1), rowOf(b, grpo.advantages, 1), 1e-12, 0);
});

test("tp-grpo: r_c scales with alpha and the group accuracy; the answer span after the last step gets r_o", () => {
  const b = makeBatch([
    { tokens: [1, 2, 3, 4], reward: 1, step_ends: [0, 1], signals: { thought_labels: ["W", "C"] } },
    { tokens: [5, 6], reward: 0, step_ends: [1], signals: { thought_labels: ["M"], solved: false } },
    { tokens: [7, 8], reward: 0, step_ends: [1], signals: { thought_labels: ["U"] } },
  ]);
  const out = runMethod("tp-grpo", b, { alpha: 2 });
  const mean = 1 / 3, sd = Math.sqrt(((1 - mean) ** 2 + 2 * mean ** 2) / 2);
  const ro = (1 - mean) / (sd + 1e-4);
  assertClose(rowOf(b, out.advantages, 0), [ro - 2 / 3, ro, ro, ro], 1e-12, 1e-12);
  assertClose(rowOf(b, out.advantages, 2), [0, 0], 0, 0);
});

test("tp-grpo: labels that contradict the outcome, or the wrong count, are input errors naming signals.thought_labels", () => {
  const bad = (r: PartialRow) => () => runMethod("tp-grpo", makeBatch([r, { tokens: [9], reward: 0, step_ends: [0], signals: { thought_labels: ["U"] } }]));
  const isErr = (e: unknown) => e instanceof InputError && e.field === "signals.thought_labels" && e.line === 1;
  assert.throws(bad({ tokens: [1, 2], reward: 1, step_ends: [1], signals: { thought_labels: ["M"] } }), isErr);
  assert.throws(bad({ tokens: [1, 2], reward: 1, step_ends: [0, 1], signals: { thought_labels: ["C"] } }), isErr);
  assert.throws(bad({ tokens: [1, 2], reward: 1, step_ends: [1], signals: { thought_labels: ["X"] } }), isErr);
});
