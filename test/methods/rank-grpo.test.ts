import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { runMethod } from "../../src/core/registry.js";
import { clippedObjective, itemImportanceWeights } from "../../src/methods/rank-grpo.js";
import { rankRewards } from "../../src/rewards/ranking.js";
import { assertClose, makeBatch, rowOf, seqTokens, type PartialRow } from "../helpers.js";

/** A finished completion of 2-token items plus EOS; step_rewards = relevance per item. */
function listRow(rel: number[], extra: Partial<PartialRow> = {}): PartialRow {
  const T = 2 * rel.length + 1;
  return { tokens: seqTokens(T), step_ends: rel.map((_, k) => 2 * k + 1), step_rewards: rel, ...extra };
}
const items = (xs: number[], eos: number): number[] => [...xs.flatMap((x) => [x, x]), eos];

test("methods.md §7 (d): exp_inf, G=2, N=3, hits A=[1,0,1], B=[0,1,0]: A = [0.707007, -0.707007, 0.707007], B negated", () => {
  const batch = makeBatch([listRow([1, 0, 1]), listRow([0, 1, 0])]);
  const out = runMethod("rank-grpo", batch, { ranks: 3 });
  const a = [0.707007, -0.707007, 0.707007];
  // exactly N items and EOS: +0.1 on EOS
  assertClose(rowOf(batch, out.advantages, 0), items(a, 0.1), 1e-6);
  assertClose(rowOf(batch, out.advantages, 1), items(a.map((x) => -x), 0.1), 1e-6);
  assertClose([rowOf(batch, out.advantages, 0)[0]], [0.5 / (Math.SQRT1_2 + 1e-4)], 1e-15);
  assert.equal(out.returns, undefined);
});

test("methods.md §7 (d): log_decay rewards A=[1.5, 0.5, 0.5], B=[0.630930, 0.630930, 0]; A = [0.706992, -0.706344, 0.706907]", () => {
  const batch = makeBatch([listRow([1, 0, 1]), listRow([0, 1, 0])]);
  const out = runMethod("rank-grpo", batch, { ranks: 3, reward: "log_decay", lengthShaping: false });
  const a = [0.706992, -0.706344, 0.706907];
  assertClose(rowOf(batch, out.advantages, 0), items(a, 0), 1e-6);
  assertClose(rowOf(batch, out.advantages, 1), items(a.map((x) => -x), 0), 1e-6);
});

test("methods.md §7 (d): item ratio of log-ratios [0.1, -0.3] is e^-0.1 = 0.904837; clipped objective", () => {
  const w = itemImportanceWeights([0.1, -0.3], [1, 1], [1], 3);
  assertClose(w, [0.904837, 0.904837], 1e-6);
  assertClose([clippedObjective(w[0], 1)], [0.904837], 1e-6);
  assertClose([clippedObjective(w[0], -1)], [-0.94], 1e-12);
  assertClose([clippedObjective(1.2, 1)], [1.08], 1e-12);
  assertClose([clippedObjective(1.2, 1, 0.06, 0.08, 1.05)], [1.05], 1e-12); // delta caps w
  // masked tokens take no part; overflow items share one bin; tokens after the last item keep 1
  const w2 = itemImportanceWeights([0.2, 9, 0.4, 0.1, 0.3, -0.2, 5], [1, 0, 1, 1, 1, 1, 1], [2, 3, 4, 5], 2);
  assertClose(w2, [Math.exp(0.3), Math.exp(0.3), Math.exp(0.3), Math.exp(0.1), Math.exp(0.05), Math.exp(0.05), 1], 1e-12);
});

test("length shaping: fewer items -> EOS -0.1; overflow -> -0.1 per overflow token and on EOS; off -> none", () => {
  const batch = makeBatch([listRow([1, 0]), listRow([0, 1, 1, 1])]);
  const out = runMethod("rank-grpo", batch, { ranks: 3 });
  const a0 = rowOf(batch, out.advantages, 0);
  const a1 = rowOf(batch, out.advantages, 1);
  assert.equal(a0[4], -0.1); // 2 items < 3
  assert.deepEqual(a1.slice(6), [-0.1, -0.1, -0.1]); // item 4 is overflow, EOS too
  const off = runMethod("rank-grpo", batch, { ranks: 3, lengthShaping: false });
  assert.deepEqual(rowOf(batch, off.advantages, 1).slice(6), [0, 0, 0]);
  assert.equal(rowOf(batch, off.advantages, 0)[4], 0);
  // rank 3: A has no third item (r = 0), B's is relevant
  const d = 0.5 / (Math.SQRT1_2 + 1e-4);
  assertClose(a1.slice(4, 6), [d, d], 1e-12);
  // custom shaping amounts
  const custom = runMethod("rank-grpo", batch, { ranks: 3, earlyStopPenalty: -0.3, overflowPenalty: -0.2 });
  assert.equal(rowOf(batch, custom.advantages, 0)[4], -0.3);
  assert.deepEqual(rowOf(batch, custom.advantages, 1).slice(6), [-0.2, -0.2, -0.2]);
  const exact = makeBatch([listRow([1, 0, 1]), listRow([0, 1, 0])]);
  assert.equal(rowOf(exact, runMethod("rank-grpo", exact, { ranks: 3, eosBonus: 0.5 }).advantages, 0)[6], 0.5);
});

test("unfinished rollouts have no EOS: the last token belongs to its item and gets no shaping", () => {
  const batch = makeBatch([
    { tokens: seqTokens(4), step_ends: [1, 3], step_rewards: [1, 0], finished: false },
    { tokens: seqTokens(4), step_ends: [1, 3], step_rewards: [0, 1], finished: false },
  ]);
  const out = runMethod("rank-grpo", batch, { ranks: 2 });
  const d = 0.5 / (Math.SQRT1_2 + 1e-4);
  assertClose(rowOf(batch, out.advantages, 0), [d, d, -d, -d], 1e-12);
});

test("tokens between the last item and EOS get 0; an item holding only EOS is no item; masked tokens get 0", () => {
  const batch = makeBatch([
    { tokens: seqTokens(6), step_ends: [1, 3], step_rewards: [1, 1] }, // tokens 4 (tail) and 5 (EOS)
    { tokens: seqTokens(5), step_ends: [1, 3, 4], step_rewards: [0, 0, 1], mask: [1, 0, 1, 1, 1] }, // item 3 = EOS only
  ]);
  const out = runMethod("rank-grpo", batch, { ranks: 2 });
  const d = 0.5 / (Math.SQRT1_2 + 1e-4);
  assertClose(rowOf(batch, out.advantages, 0), [d, d, d, d, 0, 0.1], 1e-12);
  assertClose(rowOf(batch, out.advantages, 1), [-d, 0, -d, -d, 0.1], 1e-12);
});

test("a singleton group gets 0 everywhere, length shaping included; scaleRewards false is r - mean", () => {
  const solo = makeBatch([listRow([1, 1], { group: "solo" }), listRow([1, 0, 1, 1], { group: "solo2" })]);
  assert.ok(runMethod("rank-grpo", solo, { ranks: 3 }).advantages.every((a) => a === 0));
  const batch = makeBatch([listRow([1, 0, 1]), listRow([0, 1, 0])]);
  const out = runMethod("rank-grpo", batch, { ranks: 3, scaleRewards: false, lengthShaping: false });
  assertClose(rowOf(batch, out.advantages, 0), items([0.5, -0.5, 0.5], 0), 1e-15);
});

test("property: per rank, the group's item advantages sum to 0; tokens follow their item; output finite", () => {
  const arb = fc.array(fc.array(fc.constantFrom(0, 1), { minLength: 0, maxLength: 6 }), { minLength: 2, maxLength: 6 });
  fc.assert(fc.property(arb, fc.integer({ min: 1, max: 5 }), fc.constantFrom("exp_inf", "log_decay"), (rels, ranks, reward) => {
    const batch = makeBatch(rels.map((r) => listRow(r)));
    const out = runMethod("rank-grpo", batch, { ranks, reward, lengthShaping: false });
    // independent computation of the per-rank rewards and group statistics
    const R = rels.map((r) => rankRewards(Array.from({ length: ranks }, (_, k) => (k < r.length ? r[k] : 0)), reward));
    for (let k = 0; k < ranks; k++) {
      const col = R.map((r) => r[k]);
      const mean = col.reduce((a, b) => a + b, 0) / col.length;
      const std = Math.sqrt(col.reduce((a, b) => a + (b - mean) ** 2, 0) / (col.length - 1));
      let sum = 0;
      rels.forEach((r, i) => {
        const row = rowOf(batch, out.advantages, i);
        const expected = (col[i] - mean) / (std + 1e-4);
        if (k < r.length) {
          assert.ok(Math.abs(row[2 * k] - expected) < 1e-12 && row[2 * k + 1] === row[2 * k]);
          sum += row[2 * k];
        }
        sum += k < r.length ? 0 : expected;
      });
      assert.ok(Math.abs(sum) < 1e-9);
    }
    rels.forEach((r, i) => {
      const row = rowOf(batch, out.advantages, i);
      for (let k = ranks; k < r.length; k++) assert.ok(row[2 * k] === 0 && row[2 * k + 1] === 0);
      assert.equal(row[row.length - 1], 0);
    });
  }));
});

test("examples/ranked.jsonl runs with defaults: finite, EOS of short lists penalised", () => {
  const rows = readFileSync("examples/ranked.jsonl", "utf8").split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as PartialRow);
  const batch = makeBatch(rows);
  const out = runMethod("rank-grpo", batch);
  for (const a of out.advantages) assert.ok(Number.isFinite(a));
  const r0 = rowOf(batch, out.advantages, 0);
  assert.equal(r0[r0.length - 1], -0.1);
  // u1-0 (relevant at rank 1) beats u1-1 (not relevant) on its first item
  assert.ok(r0[0] > rowOf(batch, out.advantages, 1)[0]);
});
