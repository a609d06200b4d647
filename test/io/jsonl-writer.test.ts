import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { advantagesJsonl } from "../../src/io/jsonl.js";
import type { Assignment } from "../../src/core/registry.js";
import { makeBatch } from "../helpers.js";
import { AsciiChunks } from "../../src/io/ascii-chunks.js";
import { runMethod } from "../../src/core/registry.js";
import { jsonAnswerChunks } from "../../src/serve/codec.js";
import { chunksText } from "../../src/io/ascii-chunks.js";

// The writer repeats one number's text for runs of equal values; the reference converts every
// value on its own. Both must give the same bytes for any mix of runs, chunk size and rollout cut.
const special = fc.constantFrom(0, -0, 1, -1, 1 / 3, -2.5e300, 5e-324, 1e-7, 123456789.125, 0.1 + 0.2);
const value = fc.oneof(special, fc.double({ noNaN: true, noDefaultInfinity: true }));
const runs = fc.array(fc.tuple(value, fc.integer({ min: 1, max: 40 })), { minLength: 1, maxLength: 30 });

function reference(values: number[], lengths: number[], ids: string[], withReturns: boolean): string {
  let text = "";
  let at = 0;
  for (let i = 0; i < lengths.length; i++) {
    const list = "[" + values.slice(at, at + lengths[i]).map(String).join(",") + "]";
    text += `{"id":${JSON.stringify(ids[i])},"advantages":${list}${withReturns ? `,"returns":${list}` : ""}}\n`;
    at += lengths[i];
  }
  return text;
}

test("advantage lists: runs of equal values are written exactly as value-by-value conversion writes them", () => {
  fc.assert(
    fc.property(runs, fc.integer({ min: 1, max: 5 }), fc.integer({ min: 8, max: 4096 }), fc.boolean(), (spec, cuts, chunkChars, withReturns) => {
      const values = spec.flatMap(([v, n]) => new Array<number>(n).fill(v));
      // Cut the values into `cuts` rollouts of at least one token each.
      const lengths: number[] = [];
      let left = values.length;
      for (let i = 0; i < cuts && left > 0; i++) {
        const n = i === cuts - 1 ? left : Math.max(1, Math.floor(left / (cuts - i)));
        lengths.push(n);
        left -= n;
      }
      if (left > 0) lengths[lengths.length - 1] += left;
      const batch = makeBatch(lengths.map((n, i) => ({ id: `r${i}`, tokens: new Array<number>(n).fill(1), reward: 0 })));
      const adv = Float64Array.from(values);
      const out: Assignment = { advantages: adv, returns: withReturns ? adv.slice() : undefined } as Assignment;
      const text = chunksText(advantagesJsonl(batch, out, { chunkBytes: chunkChars }));
      assert.equal(text, reference(values, lengths, lengths.map((_, i) => `r${i}`), withReturns));
    }),
    { numRuns: 300 },
  );
});

test("a run longer than a block, and a run that ends a rollout, keep their commas and chunk bounds", () => {
  const T = 5000;
  const values = [...new Array<number>(3).fill(0.5), ...new Array<number>(T).fill(-1 / 3), 2, 2, ...new Array<number>(10).fill(7)];
  const batch = makeBatch([{ id: "a", tokens: new Array<number>(values.length).fill(1), reward: 0 }]);
  const out = { advantages: Float64Array.from(values) } as Assignment;
  const pieces = [...advantagesJsonl(batch, out, { chunkBytes: 256 })];
  for (const p of pieces) assert.ok(p.byteLength < 256 + 64, `piece of ${p.byteLength} bytes`);
  assert.equal(chunksText(pieces), reference(values, [values.length], ["a"], false));
  assert.deepEqual((JSON.parse(chunksText(pieces)) as { advantages: number[] }).advantages, values);
});

test("the service's JSON answer: the same bytes from a fresh writer in chunks or a reused one, for 0, 1 and many rollouts", () => {
  const reused = new AsciiChunks(Infinity, 64, true);
  for (const n of [0, 1, 7, 300]) {
    const rows = Array.from({ length: n }, (_, i) => ({ id: `r${i}`, group: `g${i % 3}`, tokens: new Array<number>(1 + (i % 50)).fill(2), reward: i % 2 }));
    const batch = makeBatch(rows);
    const out = runMethod("grpo", batch);
    const fresh = chunksText(jsonAnswerChunks("grpo", batch, out));
    const again = chunksText(jsonAnswerChunks("grpo", batch, out, reused));
    assert.equal(again, fresh);
    const parsed = JSON.parse(fresh) as { method: string; advantages: { id: string; advantages: number[] }[] };
    assert.equal(parsed.method, "grpo");
    assert.deepEqual(parsed.advantages.map((r) => r.id), rows.map((r) => r.id));
    for (let i = 0; i < n; i++) assert.deepEqual(parsed.advantages[i].advantages, Array.from(out.advantages.subarray(batch.offsets[i], batch.offsets[i + 1])));
  }
});
