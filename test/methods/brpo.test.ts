import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { runMethod } from "../../src/core/registry.js";
import { InputError } from "../../src/core/errors.js";
import { budgetPrior, cotAdvantages, summaryAdvantages } from "../../src/methods/brpo.js";
import { assertClose, makeBatch, rowOf, seqTokens, type PartialRow } from "../helpers.js";

const budgetRow = (ends: number[], scores: number[], extra: Partial<PartialRow> = {}): PartialRow => ({
  tokens: seqTokens(ends[ends.length - 1] + 1), step_ends: ends, signals: { budget_scores: scores }, ...extra,
});
const segValues = (row: number[], ends: number[]): number[] => ends.map((e) => row[e]);

test("methods.md §15 (d): G=2, S=2, b=[4000, 8000], linear prior, scores g0=[1,1], g1=[0,1]", () => {
  const ends = [3999, 7999];
  const batch = makeBatch([budgetRow(ends, [1, 1]), budgetRow(ends, [0, 1])]);
  const out = runMethod("brpo", batch);
  const a0 = rowOf(batch, out.advantages, 0), a1 = rowOf(batch, out.advantages, 1);
  assertClose(segValues(a0, ends), [0.166667, 0], 1e-6);
  assertClose(segValues(a1, ends), [-0.166667, 0.333333], 1e-6);
  // every token of a segment carries it
  assert.ok(a0.slice(0, 4000).every((x) => x === a0[0]) && a1.slice(4000).every((x) => x === a1[4000]));
  assertClose([a0[0], a1[0], a1[4000]], [1 / 6, -1 / 6, 1 / 3], 1e-12);
  // the same prior from option `budgets` (then step_ends only place the segments)
  const small = makeBatch([budgetRow([3, 7], [1, 1]), budgetRow([3, 7], [0, 1])]);
  const viaOption = runMethod("brpo", small, { budgets: [4000, 8000] });
  assertClose(segValues(rowOf(small, viaOption.advantages, 1), [3, 7]), [-1 / 6, 1 / 3], 1e-12);
});

test("methods.md §15 (d): R, V1, V2 of the example through cotAdvantages", () => {
  const p = budgetPrior("linear", 2, [4000, 8000]);
  assertClose(p, [1 / 3, 2 / 3], 1e-15);
  // with variance "none" the advantage is R itself
  assertClose(cotAdvantages([1, 1, 0, 1], 2, 2, p, "none"), [1, 0.666667, 0.666667, 0.666667], 1e-6);
  // v2only: R - V2, V2 = [0.833333, 0.666667]
  assertClose(cotAdvantages([1, 1, 0, 1], 2, 2, p, "v2only"), [1 - 0.833333, 0, 0.666667 - 0.833333, 0], 1e-6);
  // v1only: R - V1, V1(s=1) = [0.666667, 0], V1(s=0) = 0
  assertClose(cotAdvantages([1, 1, 0, 1], 2, 2, p, "v1only"), [1, 0, 0.666667, 0.666667], 1e-6);
});

test("methods.md §15 (d): summary advantages with A=1 (group baseline): g0=[0.5, 0], g1=[-0.5, 0]", () => {
  assert.deepEqual(summaryAdvantages([[[1], [1]], [[0], [1]]]), [[[0.5], [0]], [[-0.5], [0]]]);
  // A > 1: the baseline is the mean of the same response's summaries at that budget
  assert.deepEqual(summaryAdvantages([[[1, 0, 1, 0], [1, 1, 1, 1]]]), [[[0.5, -0.5, 0.5, -0.5], [0, 0, 0, 0]]]);
  // summary_method=grpo: only the last summary entry of each response is trained
  assert.deepEqual(summaryAdvantages([[[1, 0], [1, 0]]], "grpo"), [[[0, 0], [0, -0.5]]]);
});

test("priors: uniform 1/S, base all on the last budget; V1 is the 2^j-discounted mean of earlier scores", () => {
  assertClose(budgetPrior("uniform", 4, null), [0.25, 0.25, 0.25, 0.25], 0);
  assertClose(budgetPrior("base", 3, null), [0, 0, 1], 0);
  // S = 3, one response, scores [1, 0, 1], uniform prior: V1(s=2) = (1*1 + 2*0)/3 * (1/3)
  const p = budgetPrior("uniform", 3, null);
  const a = cotAdvantages([1, 0, 1], 1, 3, p, "v1only");
  assertClose(a, [2 / 3, 1 / 3 - (1 * 2 / 3), 1 / 3 - (1 / 3) * (1 / 3)], 1e-12);
  // a singleton group has V2 = 0: the brpo baseline is s V1 / S
  const b = cotAdvantages([1, 0, 1], 1, 3, p, "brpo");
  assertClose(b, [2 / 3, 1 / 3 - (1 / 3) * (2 / 3), 1 / 3 - (2 / 3) * (1 / 9)], 1e-12);
  // many budgets do not overflow the 2^j weights
  const big = cotAdvantages(new Float64Array(2000).fill(1), 1, 2000, budgetPrior("uniform", 2000, null), "v1only");
  assertClose([big[0]], [1], 1e-12); // s = 0: V1 = 0, A = R = 1
  for (let s = 1; s < big.length; s++) assert.ok(Number.isFinite(big[s]) && Math.abs(big[s]) < 1e-9);
});

test("a short chain of thought: fewer step ends, S scores; the prior comes from a full rollout of the group", () => {
  const batch = makeBatch([
    budgetRow([3, 7, 9], [0, 1, 1, 1], { tokens: seqTokens(10) }), // CoT ended at token 9, before budget 3
    budgetRow([3, 7, 11, 15], [0, 0, 1, 1]),
  ]);
  const out = runMethod("brpo", batch);
  const p = budgetPrior("linear", 4, [4, 8, 12, 16]);
  const adv = cotAdvantages([0, 1, 1, 1, 0, 0, 1, 1], 2, 4, p, "brpo");
  assertClose(segValues(rowOf(batch, out.advantages, 0), [3, 7, 9]), Array.from(adv.subarray(0, 3)), 1e-15);
  assertClose(segValues(rowOf(batch, out.advantages, 1), [3, 7, 11, 15]), Array.from(adv.subarray(4, 8)), 1e-15);
  // a group with no full rollout needs option budgets for the linear prior
  const short = makeBatch([budgetRow([3], [1, 1])]);
  assert.throws(() => runMethod("brpo", short), (e: unknown) => e instanceof InputError && e.field === "step_ends");
  assert.doesNotThrow(() => runMethod("brpo", short, { budgets: [4, 8] }));
  assert.doesNotThrow(() => runMethod("brpo", short, { prior: "uniform" }));
});

test("masked tokens and tokens after the last step end get 0; reward is not used", () => {
  const rows = [
    budgetRow([1, 3], [1, 0.5], { tokens: seqTokens(6), mask: [1, 0, 1, 1, 1, 1], reward: 5 }),
    budgetRow([1, 3], [0, 1]),
  ];
  const batch = makeBatch(rows);
  const out = runMethod("brpo", batch, { prior: "uniform" });
  const r0 = rowOf(batch, out.advantages, 0);
  assert.deepEqual([r0[1], r0[4], r0[5]], [0, 0, 0]);
  assertClose([r0[0], r0[2]], [0.125, -0.1875], 1e-12); // R = [0.75, 0.25], V2 = [0.625, 0.375], V1(s=1) = 0.5
  const noReward = makeBatch([{ ...rows[0], reward: 0 }, rows[1]]);
  assertClose(runMethod("brpo", noReward, { prior: "uniform" }).advantages, out.advantages, 0);
});

test("bad budget_scores are input errors naming signals.budget_scores", () => {
  const isBad = (e: unknown): boolean => e instanceof InputError && e.field === "signals.budget_scores" && e.line > 0;
  assert.throws(() => runMethod("brpo", makeBatch([{ tokens: [1, 2], step_ends: [1] }])), isBad);
  assert.throws(() => runMethod("brpo", makeBatch([budgetRow([1], "x" as unknown as number[])])), isBad);
  assert.throws(() => runMethod("brpo", makeBatch([budgetRow([1], [])])), isBad);
  assert.throws(() => runMethod("brpo", makeBatch([budgetRow([1], [1, "a"] as unknown as number[])])), isBad);
  assert.throws(() => runMethod("brpo", makeBatch([budgetRow([0, 1], [1])])), isBad); // more segments than budgets
  assert.throws(() => runMethod("brpo", makeBatch([budgetRow([1, 3], [1, 1]), budgetRow([1, 3, 5], [1, 1, 1])])), isBad); // S differs in a group
  assert.throws(() => runMethod("brpo", makeBatch([budgetRow([1, 3], [1, 1])]), { budgets: [4, 8, 12] }), isBad);
  assert.throws(() => runMethod("brpo", makeBatch([budgetRow([1, 3], [1, 1])]), { budgets: [8, 4] }), /budgets/);
});

test("property: variance none gives R; v2only centres each budget over the group; brpo blends V1 and V2", () => {
  const arb = fc.integer({ min: 1, max: 5 }).chain((S) => fc.record({
    S: fc.constant(S),
    scores: fc.array(fc.array(fc.constantFrom<number>(0, 0.25, 0.5, 1), { minLength: S, maxLength: S }), { minLength: 1, maxLength: 5 }),
  }));
  fc.assert(fc.property(arb, fc.constantFrom("linear", "uniform", "base"), ({ S, scores }, prior) => {
    const ends = Array.from({ length: S }, (_, j) => 2 * j + 1);
    const batch = makeBatch(scores.map((s) => budgetRow(ends, s)));
    const G = scores.length;
    const p = budgetPrior(prior as "linear", S, ends.map((e) => e + 1));
    const R = scores.map((c) => c.map((_, s) => c.slice(s).reduce((acc, x, j) => acc + p[s + j] * x, 0)));
    const seg = (variance: string) => scores.map((_, i) => segValues(rowOf(batch, runMethod("brpo", batch, { prior, variance }).advantages, i), ends));
    assertClose(seg("none").flat(), R.flat(), 1e-12);
    const v2 = seg("v2only"), v1 = seg("v1only"), br = seg("brpo");
    for (let s = 0; s < S; s++) {
      const V2 = G > 1 ? R.reduce((a, r) => a + r[s], 0) / G : 0;
      for (let i = 0; i < G; i++) {
        assert.ok(Math.abs(v2[i][s] - (R[i][s] - V2)) < 1e-12);
        const V1 = R[i][s] - v1[i][s];
        assert.ok(Math.abs(br[i][s] - (R[i][s] - (s * V1 + (S - s) * V2) / S)) < 1e-12);
        if (s === 0) assert.ok(Math.abs(V1) < 1e-15);
      }
    }
  }));
});

test("examples/budgets.jsonl runs with defaults: finite, 0 after the last budget end", () => {
  const rows = readFileSync("examples/budgets.jsonl", "utf8").split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as PartialRow);
  const batch = makeBatch(rows);
  const out = runMethod("brpo", batch);
  for (const a of out.advantages) assert.ok(Number.isFinite(a));
  assert.ok(out.advantages.some((a) => a !== 0));
});

test("property: any JSON as budget_scores gives finite advantages or an InputError, never a crash", () => {
  fc.assert(fc.property(fc.array(fc.jsonValue({ maxDepth: 2 }), { minLength: 1, maxLength: 4 }), fc.constantFrom("linear", "uniform", "base"), (values, prior) => {
    const rows = values.map((v) => ({ tokens: seqTokens(4), step_ends: [1, 3], signals: { budget_scores: v } }));
    let batch;
    try {
      batch = makeBatch(rows);
    } catch (e) {
      return e instanceof InputError; // rejected by row validation
    }
    try {
      const out = runMethod("brpo", batch, { prior });
      return out.advantages.every((a) => Number.isFinite(a));
    } catch (e) {
      return e instanceof InputError && e.line > 0;
    }
  }));
});
