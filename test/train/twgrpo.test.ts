/** TW-GRPO's worked example (methods.md Part 3 §9 d), through the pure functions and through `runMethod`. */
import test from "node:test";
import assert from "node:assert/strict";
import { twGrpoAdvantages, twGrpoGroupWeights } from "../../src/methods/tw-grpo.js";
import { runMethod } from "../../src/core/registry.js";
import { packRows } from "../../src/core/rows.js";
import "../../src/methods/index.js";

const ls = (p: number[]) => p.map(Math.log);

test("TW-GRPO weights and advantages match the worked example", () => {
  // Completion 2's second position is past its end: replaced by uniform.
  const w = twGrpoGroupWeights([{ data: Float64Array.from([...ls([0.9, 0.1]), ...ls([0.5, 0.5])]), rows: 2 }, { data: Float64Array.from(ls([0.1, 0.9])), rows: 1 }], 2, 1.7);
  assert.ok(Math.abs(w[0][0] - 1.7) < 1e-6 && Math.abs(w[0][1] - 1.0) < 1e-6 && Math.abs(w[1][0] - 1.7) < 1e-6, String(w));
  const a = twGrpoAdvantages([1.0, 0.5]);
  assert.ok(Math.abs(a[0] - 0.706907) < 1e-6 && Math.abs(a[1] + 0.706907) < 1e-6, String(a));
  // Loss at ratio 1 = -(1.7 A1 + 1.0 A1 + 1.7 A2) / 3.
  const loss = -(w[0][0] * a[0] + w[0][1] * a[0] + w[1][0] * a[1]) / 3;
  assert.ok(Math.abs(loss + 0.235636) < 1e-6, String(loss));
});

test("tw-grpo through assign: the worked example from signals.full_logprobs", () => {
  const rows = [
    { id: "a", group: "g", tokens: [0, 1], reward: 1.0, signals: { full_logprobs: [ls([0.9, 0.1]), ls([0.5, 0.5])] } },
    { id: "b", group: "g", tokens: [1], reward: 0.5, signals: { full_logprobs: [ls([0.1, 0.9])] } },
  ];
  const batch = packRows(rows, Int32Array.from([1, 2]), "t.jsonl");
  const out = runMethod("tw-grpo", batch, { alpha: 1.7 });
  const w = out.weights as Float64Array;
  assert.deepEqual(Array.from(w, (x) => +x.toFixed(6)), [1.7, 1, 1.7]);
  assert.deepEqual(Array.from(out.advantages, (x) => +x.toFixed(6)), [0.706907, 0.706907, -0.706907]);
  // A vocabulary that differs within a group names the row and signal.
  const bad = packRows([rows[0], { ...rows[1], signals: { full_logprobs: [ls([0.2, 0.3, 0.5])] } }], Int32Array.from([1, 2]), "t.jsonl");
  assert.throws(() => runMethod("tw-grpo", bad, {}), /t\.jsonl:2.*full_logprobs.*vocabulary/);
});
