/** TW-GRPO's worked example (methods.md Part 3 §9 d). */
import test from "node:test";
import assert from "node:assert/strict";
import { twGrpoAdvantages, twGrpoGroupWeights } from "../../src/train/twgrpo.js";

test("TW-GRPO weights and advantages match the worked example", () => {
  const ls = (p: number[]) => Float64Array.from(p.map(Math.log));
  // Completion 2's second position is past its end: replaced by uniform.
  const w = twGrpoGroupWeights([[ls([0.9, 0.1]), ls([0.5, 0.5])], [ls([0.1, 0.9])]], 2, 1.7);
  assert.ok(Math.abs(w[0][0] - 1.7) < 1e-6 && Math.abs(w[0][1] - 1.0) < 1e-6 && Math.abs(w[1][0] - 1.7) < 1e-6, String(w));
  const a = twGrpoAdvantages([1.0, 0.5]);
  assert.ok(Math.abs(a[0] - 0.706907) < 1e-6 && Math.abs(a[1] + 0.706907) < 1e-6, String(a));
  // Loss at ratio 1 = -(1.7 A1 + 1.0 A1 + 1.7 A2) / 3.
  const loss = -(w[0][0] * a[0] + w[0][1] * a[0] + w[1][0] * a[1]) / 3;
  assert.ok(Math.abs(loss + 0.235636) < 1e-6, String(loss));
});
