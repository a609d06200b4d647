import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { maskRuns, stepSegments } from "../../src/core/segments.js";
import { makeBatch } from "../helpers.js";

describe("segments", () => {
  it("maskRuns finds the maximal runs of mask-1 tokens", () => {
    const b = makeBatch([{ tokens: [1, 2, 3, 4, 5, 6], mask: [1, 1, 0, 1, 0, 0] }, { tokens: [] }, { tokens: [7, 8], mask: [0, 1] }]);
    const r = maskRuns(b);
    assert.deepEqual(Array.from(r.segOffsets), [0, 2, 2, 3]);
    assert.deepEqual(Array.from(r.start), [0, 3, 7]);
    assert.deepEqual(Array.from(r.end), [2, 4, 8]);
  });
  it("maskRuns: runs cover exactly the mask-1 tokens (property)", () => {
    fc.assert(fc.property(fc.array(fc.array(fc.constantFrom(0, 1), { maxLength: 9 }), { minLength: 1, maxLength: 6 }), (masks) => {
      const b = makeBatch(masks.map((m) => ({ tokens: m.map((_, k) => k), mask: m })));
      const r = maskRuns(b);
      const covered = new Uint8Array(b.nTokens);
      for (let i = 0; i < b.n; i++) {
        for (let s = r.segOffsets[i]; s < r.segOffsets[i + 1]; s++) {
          assert.ok(r.start[s] >= b.offsets[i] && r.end[s] <= b.offsets[i + 1] && r.start[s] < r.end[s]);
          if (s > r.segOffsets[i]) assert.ok(r.start[s] > r.end[s - 1], "runs are maximal and ordered");
          for (let k = r.start[s]; k < r.end[s]; k++) covered[k] = 1;
        }
      }
      assert.deepEqual(Array.from(covered), Array.from(b.mask));
    }));
  });
  it("stepSegments: steps from step_ends, optional tail", () => {
    const b = makeBatch([{ tokens: [1, 2, 3, 4, 5], step_ends: [1, 3] }, { tokens: [6, 7] }]);
    const s = stepSegments(b);
    assert.deepEqual([Array.from(s.segOffsets), Array.from(s.start), Array.from(s.end)], [[0, 2, 2], [0, 2], [2, 4]]);
    const t = stepSegments(b, true);
    assert.deepEqual([Array.from(t.segOffsets), Array.from(t.start), Array.from(t.end)], [[0, 3, 4], [0, 2, 4, 5], [2, 4, 5, 7]]);
  });
});
