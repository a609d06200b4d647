import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { getMethod, runMethod } from "../../src/core/registry.js";
import { InputError } from "../../src/core/errors.js";
import { implicitStepReward, implicitStepRewards, prmDpoLoss } from "../../src/methods/oprl.js";
import { assertClose, makeBatch, rowOf, seqTokens } from "../helpers.js";

// methods.md §14 (d): tau1 (r_o = 1) has 2 turns, tau2 (r_o = 0) has 3; turns are 2 tokens each.
const PRM = [[-10, -8], [-7, -11, -5]];
const OLD = [[-12, -9], [-6, -10, -5]];
const RPHI = [[0.1, 0.05], [-0.05, -0.05, 0]];
const vectorRows = () => [
  { tokens: seqTokens(4), reward: 1, step_ends: [1, 3], step_rewards: RPHI[0] },
  { tokens: seqTokens(6, 10), reward: 0, step_ends: [1, 3, 5], step_rewards: RPHI[1] },
];
const perTurn = (xs: number[]): number[] => xs.flatMap((x) => [x, x]);

test("methods.md §14 (d): implicit step rewards beta log(pi_phi / pi_old) with beta 0.05", () => {
  for (let t = 0; t < 2; t++) {
    assertClose(PRM[t].map((p, j) => implicitStepReward(p, OLD[t][j], 0.05)), RPHI[t], 1e-12);
  }
  // the same from per-token log-probs: each turn's sum split over its 2 tokens, plus a masked token
  const batch = makeBatch([
    { tokens: seqTokens(5), reward: 1, mask: [1, 1, 1, 0, 1], step_ends: [1, 4], logprobs: [-6, -6, -4.5, -99, -4.5] },
    { tokens: seqTokens(6), reward: 0, step_ends: [1, 3, 5], logprobs: [-3, -3, -5, -5, -2.5, -2.5] },
  ]);
  const prm = [-5, -5, -4, 123, -4, -3.5, -3.5, -5.5, -5.5, -2.5, -2.5];
  assertClose(implicitStepRewards(batch, prm, 0.05), [...RPHI[0], ...RPHI[1]], 1e-12);
});

test("methods.md §14 (d): PRM DPO loss for log-ratio sums +3 and -2 is 0.575939", () => {
  assertClose([prmDpoLoss(3, -2, 0.05)], [0.575939], 1e-6);
  assertClose([prmDpoLoss(3, -2, 0.05)], [Math.log(1 + Math.exp(-0.25))], 1e-15);
  assert.ok(Number.isFinite(prmDpoLoss(-1e6, 1e6, 1)) && prmDpoLoss(1e6, -1e6, 1) === 0);
});

test("methods.md §14 (d): unbiased std, alpha 1", () => {
  const batch = makeBatch(vectorRows());
  const out = runMethod("oprl", batch);
  assertClose(out.diag!.rollouts!.episodeAdvantage, [0.707107, -0.707107], 1e-6);
  assertClose(rowOf(batch, out.advantages, 0), perTurn([2.087644, 1.320679]), 1e-6);
  assertClose(rowOf(batch, out.advantages, 1), perTurn([-1.627465, -1.627465, -0.8605]), 1e-6);
  // A^S alone (alpha 0 leaves the episode term only)
  const aS = [1.380537, 0.613572, -0.920358, -0.920358, -0.153393];
  const onlyE = runMethod("oprl", batch, { alpha: 0 }).advantages;
  assertClose(Array.from(out.advantages, (a, k) => a - onlyE[k]), perTurn(aS), 1e-6);
});

test("methods.md §14 (d): population std gives A^E = [1, -1], A^S = [1.543487, 0.685994, -1.028992, -1.028992, -0.171499]", () => {
  const batch = makeBatch(vectorRows());
  const out = runMethod("oprl", batch, { std: "population", alpha: 0.5 });
  assertClose(out.diag!.rollouts!.episodeAdvantage, [1, -1], 1e-12);
  const aS = [1.543487, 0.685994, -1.028992, -1.028992, -0.171499];
  assertClose(Array.from(out.advantages), perTurn([1 + 0.5 * aS[0], 1 + 0.5 * aS[1], -1 + 0.5 * aS[2], -1 + 0.5 * aS[3], -1 + 0.5 * aS[4]]), 1e-6);
});

test("tokens after the last step end and mask-0 tokens get 0; action-less steps leave the pool", () => {
  // Row 0 of the vector with two tail tokens and a masked tool span; row 1 has an extra tool-only turn
  // whose reward (999) must not move the statistics.
  const batch = makeBatch([
    { tokens: seqTokens(7), reward: 1, mask: [1, 1, 1, 0, 1, 1, 1], step_ends: [1, 4], step_rewards: RPHI[0] },
    { tokens: seqTokens(9), reward: 0, mask: [1, 1, 1, 1, 0, 0, 1, 1, 1], step_ends: [1, 3, 5, 8], step_rewards: [-0.05, -0.05, 999, 0] },
  ]);
  const out = runMethod("oprl", batch);
  assertClose(rowOf(batch, out.advantages, 0), [2.087644, 2.087644, 1.320679, 0, 1.320679, 0, 0], 1e-6);
  assertClose(rowOf(batch, out.advantages, 1), [-1.627465, -1.627465, -1.627465, -1.627465, 0, 0, -0.8605, -0.8605, -0.8605], 1e-6);
});

test("edge cases: singleton group keeps its outcome as A^E, zero variance gives 0, empty response", () => {
  const batch = makeBatch([
    { tokens: seqTokens(4), reward: 0.5, group: "solo", step_ends: [1, 3], step_rewards: [0.2, -0.2] },
    { tokens: seqTokens(2), reward: 1, group: "flat", step_ends: [1], step_rewards: [0.3] },
    { tokens: seqTokens(2), reward: 1, group: "flat", step_ends: [1], step_rewards: [0.3] },
    { tokens: [], reward: 1, group: "empty", step_ends: [], step_rewards: [] },
    { tokens: seqTokens(3), reward: 0.1, group: "one-step", step_ends: [2], step_rewards: [5] },
  ]);
  const out = runMethod("oprl", batch);
  // solo: A^E = 0.5 (mean 0, std 1); A^S = +-0.2 / std([0.2, -0.2]) = +-0.7071068
  assertClose(rowOf(batch, out.advantages, 0), [0.5 + Math.SQRT1_2, 0.5 + Math.SQRT1_2, 0.5 - Math.SQRT1_2, 0.5 - Math.SQRT1_2], 1e-12);
  assert.deepEqual(rowOf(batch, out.advantages, 1), [0, 0]);
  assert.deepEqual(rowOf(batch, out.advantages, 2), [0, 0]);
  assert.deepEqual(rowOf(batch, out.advantages, 3), []);
  // one pooled step: its std is undefined, so A^S = 0 and only A^E = 0.1 remains
  assertClose(rowOf(batch, out.advantages, 4), [0.1, 0.1, 0.1], 1e-12);
});

test("missing step_rewards or step_ends is an input error naming the field", () => {
  assert.throws(() => runMethod("oprl", makeBatch([{ tokens: [1, 2], step_ends: [1] }])), (e: unknown) => e instanceof InputError && e.field === "step_rewards");
  assert.throws(() => runMethod("oprl", makeBatch([{ tokens: [1, 2] }])), (e: unknown) => e instanceof InputError && e.field === "step_ends");
});

const rolloutArb = fc.integer({ min: 1, max: 12 }).chain((T) =>
  fc.record({
    T: fc.constant(T),
    ends: fc.uniqueArray(fc.integer({ min: 0, max: T - 1 }), { minLength: 1, maxLength: T }).map((xs) => xs.sort((a, b) => a - b)),
    mask: fc.array(fc.constantFrom(0, 1, 1), { minLength: T, maxLength: T }),
    // multiples of 1/8 so a "zero std" is exactly zero, never rounding noise
    reward: fc.integer({ min: -12, max: 12 }).map((x) => x / 4),
    stepR: fc.array(fc.integer({ min: -16, max: 16 }).map((x) => x / 8), { minLength: T, maxLength: T }),
  }),
);

test("property: per group, token advantages are constant per step and match the formula; shifting all step rewards changes nothing", () => {
  fc.assert(
    fc.property(fc.array(rolloutArb, { minLength: 1, maxLength: 6 }), fc.double({ min: 0, max: 3, noNaN: true }), fc.integer({ min: -40, max: 40 }).map((x) => x / 8), (rs, alpha, shift) => {
      const rows = rs.map((r, i) => ({ tokens: seqTokens(r.T), mask: r.mask, reward: r.reward, step_ends: r.ends, step_rewards: r.ends.map((_, j) => r.stepR[j]), group: `g${i % 2}` }));
      const batch = makeBatch(rows);
      const out = runMethod("oprl", batch, { alpha });
      for (const x of out.advantages) assert.ok(Number.isFinite(x));
      // independent computation, group by group
      for (const g of ["g0", "g1"]) {
        const members = rows.map((r, i) => [r, i] as const).filter(([r]) => r.group === g);
        if (members.length === 0) continue;
        const scores = members.map(([r]) => r.reward);
        const mE = scores.reduce((a, b) => a + b, 0) / scores.length;
        const sdE = members.length === 1 ? 1 : Math.sqrt(scores.reduce((a, b) => a + (b - mE) ** 2, 0) / (scores.length - 1));
        const meanE = members.length === 1 ? 0 : mE;
        const pooled: number[] = [];
        for (const [r] of members) {
          r.step_ends.forEach((e, j) => {
            const a = j === 0 ? 0 : r.step_ends[j - 1] + 1;
            if (r.mask.slice(a, e + 1).includes(1)) pooled.push(r.step_rewards[j]);
          });
        }
        const mS = pooled.reduce((a, b) => a + b, 0) / Math.max(1, pooled.length);
        const sdS = pooled.length > 1 ? Math.sqrt(pooled.reduce((a, b) => a + (b - mS) ** 2, 0) / (pooled.length - 1)) : 0;
        for (const [r, i] of members) {
          const aE = sdE > 0 ? (r.reward - meanE) / sdE : 0;
          const expected = new Array<number>(r.tokens.length).fill(0);
          r.step_ends.forEach((e, j) => {
            const aS = sdS > 0 ? (r.step_rewards[j] - mS) / sdS : 0;
            for (let k = j === 0 ? 0 : r.step_ends[j - 1] + 1; k <= e; k++) if (r.mask[k] === 1) expected[k] = aE + alpha * aS;
          });
          assertClose(rowOf(batch, out.advantages, i), expected, 1e-6, 1e-6);
        }
      }
      const shifted = makeBatch(rows.map((r) => ({ ...r, step_rewards: r.step_rewards.map((x) => x + shift) })));
      assertClose(runMethod("oprl", shifted, { alpha }).advantages, out.advantages, 1e-6, 1e-6);
    }),
  );
});

test("spec and examples/implicit-steps.jsonl: labelled PAPER; group shop1 is the §14 vector with tool spans", () => {
  const spec = getMethod("oprl");
  assert.equal(spec.status, "paper");
  assert.deepEqual(spec.requires, ["step_ends", "step_rewards"]);
  const rows = readFileSync("examples/implicit-steps.jsonl", "utf8").split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as { tokens: number[] });
  const batch = makeBatch(rows);
  const out = runMethod("oprl", batch);
  const [a, b, c, d] = [2.087644, 1.320679, -1.627465, -0.8605];
  assertClose(rowOf(batch, out.advantages, 0), [a, a, a, a, 0, 0, b, b, b], 1e-6);
  assertClose(rowOf(batch, out.advantages, 1), [c, c, c, c, 0, 0, c, c, 0, d, d], 1e-6);
  for (const x of out.advantages) assert.ok(Number.isFinite(x));
});
