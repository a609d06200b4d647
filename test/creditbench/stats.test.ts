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
