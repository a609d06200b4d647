import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { runMethod } from "../../src/core/registry.js";
import { InputError } from "../../src/core/errors.js";
import { attentionGammas, fai, headDistance, waad, type AttentionCreditOptions } from "../../src/methods/attention-credit.js";
import { attentionCreditSpec } from "../../src/methods/attention-credit.js";
import { resolveOptions } from "../../src/core/schema.js";
import { assertClose, makeBatch, rowOf, type PartialRow } from "../helpers.js";

const rows = readFileSync("examples/attention.jsonl", "utf8").trim().split("\n").map((l) => JSON.parse(l) as PartialRow);
const flat = (m: number[][]) => Float64Array.from(m.flat());
const sig = rows[0].signals as { attn_local: number[][]; attn_global: number[][] };
const aLoc = flat(sig.attn_local), aGlob = flat(sig.attn_global);
// The worked example's settings (part5 9d): W 2, H_lo 1, H_hi to the end.
const opts = (strategy: AttentionCreditOptions["strategy"]): AttentionCreditOptions =>
  resolveOptions("attention-credit", attentionCreditSpec.options, { strategy, window: 2, horizonLo: 1 });

test("attention-credit: head distances, WAAD, FAI of the worked example (part5 9d)", () => {
  assertClose([headDistance(aLoc, 6), headDistance(aGlob, 6)], [0.783333, 0.966667], 1e-6, 0);
  assertClose(waad(aLoc, 6, 2), [0, 0.1, 1.3, 0.2, 0.5, 1.4], 1e-12, 1e-12);
  assertClose(fai(aGlob, 6, 1, null), [0.24, 0.125, 0.066667, 0.65, 0.1, 0], 1e-6, 0);
});

test("attention-credit: gamma of the local, global and coupled strategies (part5 9d)", () => {
  assertClose(attentionGammas(aLoc, aGlob, 6, opts("local")), [1, 1.5, 1.5, 1, 1.5, 1], 1e-12, 0);
  assertClose(attentionGammas(aLoc, aGlob, 6, opts("global")), [1.5, 1.5, 1, 1.5, 1, 1], 1e-12, 0);
  assertClose(attentionGammas(aLoc, aGlob, 6, opts("coupled")), [1.5, 1.5, 1.25, 1.25, 1, 1], 1e-12, 0);
});

test("attention-credit: A~ = gamma * GRPO advantage, signed advantages scaled alike", () => {
  const b = makeBatch(rows);
  const out = runMethod("attention-credit", b, { window: 2, horizonLo: 1 });
  const grpo = runMethod("grpo", b);
  const a0 = grpo.advantages[0];
  assertClose(rowOf(b, out.advantages, 0), [1.5, 1.5, 1.25, 1.25, 1, 1].map((g) => g * a0), 1e-12, 1e-12);
  const a1 = grpo.advantages[b.offsets[1]];
  assert.ok(a1 < 0);
  const g1 = rowOf(b, out.diag!.tokens!.gamma, 1);
  assertClose(rowOf(b, out.advantages, 1), g1.map((g) => g * a1), 1e-12, 1e-12);
  // amp 1 turns it into GRPO.
  assertClose(runMethod("attention-credit", b, { amp: 1 }).advantages, grpo.advantages, 1e-12, 0);
});

test("attention-credit: a map of the wrong size is an input error naming the signal", () => {
  const b = makeBatch([{ tokens: [1, 2], reward: 1, signals: { attn_local: [[1]], attn_global: [[1, 0], [0.5, 0.5]] } }]);
  assert.throws(() => runMethod("attention-credit", b), (e: unknown) => e instanceof InputError && e.field === "signals.attn_local");
});
