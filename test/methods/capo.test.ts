import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { getMethod, runMethod } from "../../src/core/registry.js";
import { InputError } from "../../src/core/errors.js";
import { assertClose, makeBatch, rowOf, seqTokens } from "../helpers.js";

/** Population-std normalisation written out, for expectations. */
function normalise(xs: number[]): number[] {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length);
  const constant = xs.every((x) => x === xs[0]);
  return xs.map((x) => (sd > 0 && !constant ? (x - m) / sd : 0));
}

// methods.md §12: 2 steps of 2 tokens each; W = 2 / 1.
const vectorRows = () => [
  { tokens: seqTokens(4), reward: 1, step_ends: [1, 3], signals: { critiques: [[]], solved: true } },
  { tokens: seqTokens(4), reward: 1, step_ends: [1, 3], signals: { critiques: [[1]], solved: true } },
  { tokens: seqTokens(4), reward: 0, step_ends: [1, 3], signals: { critiques: [[]], solved: false } },
  { tokens: seqTokens(4), reward: 0, step_ends: [1, 3], signals: { critiques: [[0]], solved: false } },
];

test("methods.md §12 vector: token rewards and advantages (population std 1.089725)", () => {
  const batch = makeBatch(vectorRows());
  const out = runMethod("capo", batch);
  const R = [[2, 2, 2, 2], [2, 2, 1, 1], [0, 0, 0, 0], [-1, -1, 0, 0]];
  R.forEach((r, i) => assert.deepEqual(rowOf(batch, out.diag!.tokens!.tokenReward, i), r));
  const [hi, mid, zero, low] = [1.147079, 0.229416, -0.688247, -1.60591];
  assertClose(Array.from(out.advantages), [hi, hi, hi, hi, hi, hi, mid, mid, zero, zero, zero, zero, low, low, zero, zero], 1e-6);
  assertClose(Array.from(out.advantages), normalise(R.flat()), 1e-12);
});

test("solved falls back to reward > 0 when signals.solved is absent", () => {
  const rows = vectorRows().map((r) => ({ ...r, signals: { critiques: r.signals.critiques } }));
  assertClose(runMethod("capo", makeBatch(rows)).advantages, runMethod("capo", makeBatch(vectorRows())).advantages, 0);
  // signals.solved wins over reward
  const flipped = vectorRows().map((r) => ({ ...r, reward: 1 - r.reward }));
  assertClose(runMethod("capo", makeBatch(flipped)).advantages, runMethod("capo", makeBatch(vectorRows())).advantages, 0);
});

test("voting example: K=4 critiques {2},{2},{},{2,3}: majority {2}, intersection {}, average 3/4 and 1/4", () => {
  const critiques = [[2], [2], [], [2, 3]];
  const rows = [
    { tokens: seqTokens(8), reward: 1, step_ends: [1, 3, 5, 7], signals: { critiques } },
    { tokens: seqTokens(2), reward: 0, step_ends: [1] },
  ];
  const rewards = (p: number[]): number[] => [...p.flatMap((x) => [2 - x, 2 - x]), 0, 0];
  const batch = makeBatch(rows);
  assertClose(runMethod("capo", batch, { vote: "majority" }).advantages, normalise(rewards([0, 0, 1, 0])), 1e-12);
  assertClose(runMethod("capo", batch, { vote: "intersection" }).advantages, normalise(rewards([0, 0, 0, 0])), 1e-12);
  assertClose(runMethod("capo", batch, { vote: "average" }).advantages, normalise(rewards([0, 0, 0.75, 0.25])), 1e-12);
  // exactly K/2 is not a majority; a step flagged twice by one critique counts once
  const half = makeBatch([{ ...rows[0], signals: { critiques: [[1, 1, 1], [1], [], []] } }, rows[1]]);
  assertClose(runMethod("capo", half).advantages, normalise(rewards([0, 0, 0, 0])), 1e-12);
  assertClose(runMethod("capo", half, { vote: "average" }).advantages, normalise(rewards([0, 0.5, 0, 0])), 1e-12);
});

test("mask-0 tokens and tokens after the last step end get 0 and stay out of the statistics", () => {
  const batch = makeBatch([
    { tokens: seqTokens(7), reward: 1, mask: [1, 1, 0, 0, 1, 1, 1], step_ends: [1, 5], signals: { critiques: [[1]] } },
    { tokens: seqTokens(3), reward: 0, step_ends: [1] },
  ]);
  const out = runMethod("capo", batch);
  // statistics over [2, 2, 1, 1] and [0, 0]
  const a = normalise([2, 2, 1, 1, 0, 0]);
  assertClose(rowOf(batch, out.advantages, 0), [a[0], a[1], 0, 0, a[2], a[3], 0], 1e-12);
  assertClose(rowOf(batch, out.advantages, 1), [a[4], a[5], 0], 1e-12);
});

test("edge cases: singleton group, zero variance, empty response, no step_ends entries, weight scaling", () => {
  const batch = makeBatch([
    { tokens: seqTokens(4), reward: 1, group: "solo", step_ends: [1, 3], signals: { critiques: [[0], [0], [1]] } },
    { tokens: seqTokens(2), reward: 1, group: "flat", step_ends: [1] },
    { tokens: seqTokens(3), reward: 1, group: "flat", step_ends: [2] },
    { tokens: [], reward: 1, group: "empty", step_ends: [] },
    { tokens: seqTokens(3), reward: 1, group: "nosteps", step_ends: [] },
  ]);
  const out = runMethod("capo", batch);
  // solo: step 0 wrong by majority, rewards [1, 1, 2, 2] -> [-1, -1, 1, 1]
  assertClose(rowOf(batch, out.advantages, 0), [-1, -1, 1, 1], 1e-12);
  assert.deepEqual(rowOf(batch, out.advantages, 1), [0, 0]);
  assert.deepEqual(rowOf(batch, out.advantages, 2), [0, 0, 0]);
  assert.deepEqual(rowOf(batch, out.advantages, 3), []);
  assert.deepEqual(rowOf(batch, out.advantages, 4), [0, 0, 0]);
  const scaled = runMethod("capo", batch, { wOutcome: 6, wProcess: 3 });
  assertClose(scaled.advantages, out.advantages, 1e-12);
});

test("bad signals are input errors naming the signal", () => {
  const base = { tokens: seqTokens(4), reward: 1, step_ends: [1, 3] };
  const isErr = (field: string) => (e: unknown) => e instanceof InputError && e.field === field && e.line === 1;
  assert.throws(() => runMethod("capo", makeBatch([{ ...base, signals: { critiques: [[2]] } }])), isErr("signals.critiques"));
  assert.throws(() => runMethod("capo", makeBatch([{ ...base, signals: { critiques: [[-1]] } }])), isErr("signals.critiques"));
  assert.throws(() => runMethod("capo", makeBatch([{ ...base, signals: { critiques: [1] } }])), isErr("signals.critiques"));
  assert.throws(() => runMethod("capo", makeBatch([{ ...base, signals: { critiques: [[0.5]] } }])), isErr("signals.critiques"));
  assert.throws(() => runMethod("capo", makeBatch([{ ...base, signals: { critiques: { 0: [1] } } }])), isErr("signals.critiques"));
  assert.throws(() => runMethod("capo", makeBatch([{ ...base, signals: { solved: 1 } }])), isErr("signals.solved"));
  assert.throws(() => runMethod("capo", makeBatch([{ tokens: [1], reward: 1 }])), isErr("step_ends"));
});

const rolloutArb = fc.integer({ min: 1, max: 10 }).chain((T) =>
  fc.record({
    T: fc.constant(T),
    ends: fc.uniqueArray(fc.integer({ min: 0, max: T - 1 }), { minLength: 1, maxLength: T }).map((xs) => xs.sort((a, b) => a - b)),
    mask: fc.array(fc.constantFrom(0, 1, 1), { minLength: T, maxLength: T }),
    solved: fc.boolean(),
    flags: fc.array(fc.array(fc.nat(), { maxLength: 4 }), { maxLength: 5 }),
  }),
);

test("property: group-normalised token rewards (mean 0, population variance 1 or all 0); intersection <= majority penalties", () => {
  fc.assert(
    fc.property(fc.array(rolloutArb, { minLength: 1, maxLength: 6 }), fc.constantFrom("majority", "intersection", "average"), (rs, vote) => {
      const rows = rs.map((r, i) => ({
        tokens: seqTokens(r.T), mask: r.mask, reward: 0, step_ends: r.ends, group: `g${i % 2}`,
        signals: { solved: r.solved, critiques: r.flags.map((f) => f.map((x) => x % r.ends.length)) },
      }));
      const batch = makeBatch(rows);
      const out = runMethod("capo", batch, { vote });
      for (const g of ["g0", "g1"]) {
        const idx = rows.flatMap((r, i) => (r.group === g ? [i] : []));
        const adv: number[] = [];
        const rew: number[] = [];
        for (const i of idx) {
          const a = rowOf(batch, out.advantages, i);
          const R = rowOf(batch, out.diag!.tokens!.tokenReward, i);
          const last = rows[i].step_ends[rows[i].step_ends.length - 1];
          rows[i].mask.forEach((m, k) => {
            if (m === 1 && k <= last) {
              adv.push(a[k]);
              rew.push(R[k]);
            } else assert.equal(a[k], 0);
          });
        }
        if (adv.length === 0) continue;
        assertClose(adv, normalise(rew), 1e-9, 1e-9);
        for (const x of rew) assert.ok(x >= -1 - 1e-12 && x <= 2 + 1e-12);
      }
      const inter = runMethod("capo", batch, { vote: "intersection" }).diag!.tokens!.tokenReward;
      const maj = runMethod("capo", batch, { vote: "majority" }).diag!.tokens!.tokenReward;
      for (let k = 0; k < inter.length; k++) assert.ok(inter[k] >= maj[k]);
    }),
  );
});

test("spec and examples/judged.jsonl: labelled NOT FOUND; token rewards follow the majority vote", () => {
  const spec = getMethod("capo");
  assert.equal(spec.status, "not-found");
  assert.deepEqual([...spec.signals!].sort(), ["critiques", "solved"]);
  assert.equal(spec.example, "judged.jsonl");
  const rows = readFileSync("examples/judged.jsonl", "utf8").split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as { tokens: number[] });
  const batch = makeBatch(rows);
  const out = runMethod("capo", batch);
  const R = [[2, 2, 2, 2, 2, 2], [1, 1, 2, 2, 2], [0, 0, -1, -1, -1, -1], [0, 0, 0, 0], [2, 2, 2, 2, 2], [-1, -1, 0, 0]];
  R.forEach((r, i) => assert.deepEqual(rowOf(batch, out.diag!.tokens!.tokenReward, i), r));
  assertClose(Array.from(out.advantages.subarray(0, batch.offsets[4])), normalise(R.slice(0, 4).flat()), 1e-12);
  assertClose(Array.from(out.advantages.subarray(batch.offsets[4])), normalise(R.slice(4).flat()), 1e-12);
});
