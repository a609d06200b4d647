import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { runMethod } from "../../src/core/registry.js";
import { tvmLoss } from "../../src/methods/tvm.js";
import { assertClose, makeBatch, rowOf } from "../helpers.js";

test("tvm: prefix value labels and the loss of the worked example (part5 2d)", () => {
  // Paths abc (correct), abd, aef (correct), gh; a=1 b=2 c=3 d=4 e=5 f=6 g=7 h=8.
  const b = makeBatch([
    { tokens: [1, 2, 3], reward: 1 },
    { tokens: [1, 2, 4], reward: 0 },
    { tokens: [1, 5, 6], reward: 1 },
    { tokens: [7, 8], reward: 0 },
  ]);
  const out = runMethod("tvm", b);
  assertClose(rowOf(b, out.returns!, 0), [2 / 3, 0.5, 1], 1e-12, 0);
  assertClose(rowOf(b, out.returns!, 1), [2 / 3, 0.5, 0], 1e-12, 0);
  assertClose(rowOf(b, out.returns!, 2), [2 / 3, 1, 1], 1e-12, 0);
  assertClose(rowOf(b, out.returns!, 3), [0, 0], 1e-12, 0);
  const half = new Array(11).fill(0.5);
  assertClose([tvmLoss(half, out.returns!, "bce"), tvmLoss(half, out.returns!, "mse")], [0.693147, 0.143939], 1e-6, 0);
  // Increments from the group's success rate 0.5.
  assertClose(rowOf(b, out.advantages, 0), [2 / 3 - 0.5, 0.5 - 2 / 3, 0.5], 1e-12, 0);
});

test("tvm: increments telescope to the response's own outcome minus the group mean", () => {
  fc.assert(
    fc.property(fc.array(fc.record({ toks: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 5 }), r: fc.constantFrom(0, 1) }), { minLength: 1, maxLength: 6 }), (rows) => {
      // Distinct tails so that no response is a strict prefix of another with a different outcome.
      const b = makeBatch(rows.map((x, k) => ({ tokens: [...x.toks, 100 + k], reward: x.r })));
      const out = runMethod("tvm", b);
      const mean = rows.reduce((s, x) => s + x.r, 0) / rows.length;
      rows.forEach((x, i) => {
        const sum = rowOf(b, out.advantages, i).reduce((s, v) => s + v, 0);
        assertClose([sum], [x.r - mean], 1e-12, 1e-9);
        assert.equal(rowOf(b, out.returns!, i).at(-1), x.r);
      });
    }),
    { numRuns: 200 },
  );
});
