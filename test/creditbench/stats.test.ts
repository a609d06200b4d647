/** The benchmark's statistics: correlations with ties and constants, curves read at budgets. */
import test from "node:test";
import assert from "node:assert/strict";
import { accuracyAt, pearson, ranks, spearman, spread, tokensToReach } from "../../src/creditbench/stats.js";

test("ranks share ties; spearman is pearson of ranks", () => {
  assert.deepEqual(ranks([10, 20, 20, 5]), [2, 3.5, 3.5, 1]);
  assert.ok(Math.abs(spearman([1, 2, 3, 4], [1, 4, 9, 16]) - 1) < 1e-12);
  assert.ok(Math.abs(spearman([1, 2, 3, 4], [4, 3, 2, 1]) + 1) < 1e-12);
  assert.ok(Math.abs(pearson([1, 2, 3], [2, 4, 6]) - 1) < 1e-12);
});

test("a constant side has no correlation (NaN, not 0)", () => {
  assert.ok(Number.isNaN(pearson([1, 2, 3], [0, 0, 0])));
  assert.ok(Number.isNaN(spearman([0.5, 0.5], [1, 2])));
});

test("curves: interpolation at budgets, first crossing of a threshold, nothing past the end", () => {
  const c = [{ tokens: 0, accuracy: 0.2 }, { tokens: 100, accuracy: 0.4 }, { tokens: 200, accuracy: 0.3 }];
  assert.equal(accuracyAt(c, 0), 0.2);
  assert.ok(Math.abs((accuracyAt(c, 50) as number) - 0.3) < 1e-12);
  assert.ok(Math.abs((accuracyAt(c, 150) as number) - 0.35) < 1e-12);
  assert.equal(accuracyAt(c, 201), null);
  assert.ok(Math.abs((tokensToReach(c, 0.3) as number) - 50) < 1e-9);
  assert.equal(tokensToReach(c, 0.5), null);
  const s = spread([1, 3, null, NaN]);
  assert.equal(s.n, 2);
  assert.equal(s.mean, 2);
  assert.equal(s.min, 1);
  assert.equal(s.max, 3);
});

test("bootstrap interval of a Spearman difference: the oracle itself beats noise, paired by group", async () => {
  const { bootstrapDiff } = await import("../../src/creditbench/fidelity.js");
  const { Rng } = await import("../../src/train/rng.js");
  const rng = new Rng(9);
  const rollouts = Array.from({ length: 24 }, (_, i) => ({ group: `g${i % 6}`, tokens: [0, 0, 0, 0, 0] }));
  const adv = rollouts.map(() => Array.from({ length: 5 }, () => rng.next() - 0.5));
  const noise = rollouts.map(() => Array.from({ length: 5 }, () => rng.next()));
  const oracle = { rows: adv.map((a) => ({ advantages: a })) };
  // Only the fields bootstrapDiff reads are filled in.
  const ci = bootstrapDiff(rollouts as never, oracle as never, adv, noise, 200, new Rng(1));
  assert.ok(ci !== null);
  const [lo, hi] = ci;
  assert.ok(lo > 0.5 && hi <= 2 && lo <= hi, `interval [${lo}, ${hi}]`);
  assert.equal(bootstrapDiff(rollouts as never, oracle as never, noise, noise, 50, new Rng(1))?.join(), "0,0");
});
