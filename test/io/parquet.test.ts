import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { parquetMetadata, parquetSchema } from "hyparquet";
import { parquetWriteBuffer } from "hyparquet-writer";
import { InputError } from "../../src/core/errors.js";
import { batchFromObjects, unpackRows, validateRow, type RolloutRow } from "../../src/core/rows.js";
import { readParquetObjects, writeAdvantagesParquet, writeRolloutsParquet } from "../../src/io/parquet.js";
import { synthRows } from "../../bench/synth.js";

/** What a JSONL round trip gives: the reference every Parquet round trip must equal. */
function viaJson(rows: unknown[]): unknown[] {
  return rows.map((r) => JSON.parse(JSON.stringify(r)) as unknown);
}

const ROWS: RolloutRow[] = [
  {
    id: "q1-0", group: "q1", tokens: [5, 2147483647, 0], reward: 0.1 + 0.2, mask: [1, 0, 1],
    logprobs: [-0.1, -1e-300, -123.456789012345], ref_logprobs: [Math.PI, -Math.E, 5e-324], entropies: [0, 1.7976931348623157e308, 2],
    values: [0.5, 0.25, -0.125], token_rewards: [0, 0, 1 / 3], step_ends: [0, 2], step_rewards: [-1, 0.7],
    finished: false, episode: "ep-é", t: 0, anchor: "s0", signals: { dpo_logprobs: [-1, -2, -3], self_reward: 0.8, cut_values: { "3": 0.5 } },
    meta: { note: "ünïcödé ✓", nested: [1, { a: null }], big: 9007199254740991 },
  },
  { id: "q1-1", group: "q1", tokens: [], reward: -2, meta: null },
  { id: "q2-0", group: "q2", tokens: [7], reward: 1e-17, finished: true, t: 2147483647, episode: "e", signals: {} },
  { id: "q2-1", group: "q2", tokens: [1, 2], reward: 0, mask: [1, 1], logprobs: [-0.5, -0.25], step_ends: [], meta: "plain string" },
];

test("parquet: rollout rows round trip to the objects JSON.parse gives (optional fields absent in some rows)", async () => {
  const bytes = writeRolloutsParquet(ROWS);
  const back = await readParquetObjects(bytes, "r.parquet");
  assert.deepStrictEqual(back, viaJson(ROWS));
  // Every object validates like the JSONL line would.
  back.forEach((o, k) => validateRow(o, { file: "r.parquet", line: k + 1 }));
});

test("parquet: reads a Node Buffer that is a view into a larger pool (as readFileSync gives for small files)", async () => {
  const bytes = writeRolloutsParquet(ROWS);
  const pool = Buffer.alloc(bytes.length + 100, 7);
  pool.set(bytes, 37);
  const view = pool.subarray(37, 37 + bytes.length);
  assert.deepStrictEqual(await readParquetObjects(view, "r.parquet"), viaJson(ROWS));
});

test("parquet: float64 values are exact and big token ids survive", async () => {
  const back = (await readParquetObjects(writeRolloutsParquet(ROWS), "r.parquet")) as RolloutRow[];
  assert.ok(Object.is(back[0].reward, 0.1 + 0.2));
  assert.deepStrictEqual(back[0].ref_logprobs, [Math.PI, -Math.E, 5e-324]);
  assert.equal(back[0].entropies![1], Number.MAX_VALUE);
  assert.deepStrictEqual(back[0].tokens, [5, 2147483647, 0]);
  assert.equal(back[2].t, 2147483647);
  assert.deepStrictEqual(back[1].tokens, []);
  assert.deepStrictEqual(back[3].step_ends, []);
});

test("parquet: a column is written only if some row has the field, with list and scalar types", async () => {
  const md = parquetMetadata(toBuffer(writeRolloutsParquet([{ id: "a", group: "g", tokens: [1], reward: 0 }])));
  assert.deepStrictEqual(parquetSchema(md).children.map((c) => c.element.name), ["id", "group", "tokens", "reward"]);
  const full = parquetSchema(parquetMetadata(toBuffer(writeRolloutsParquet(ROWS))));
  const byName = new Map(full.children.map((c) => [c.element.name, c]));
  const leaf = (name: string) => byName.get(name)!.children[0].children[0].element.type;
  assert.equal(byName.get("tokens")!.element.converted_type, "LIST");
  assert.equal(leaf("tokens"), "INT32");
  assert.equal(leaf("mask"), "INT32");
  assert.equal(leaf("step_ends"), "INT32");
  for (const f of ["logprobs", "ref_logprobs", "entropies", "values", "token_rewards", "step_rewards"]) assert.equal(leaf(f), "DOUBLE", f);
  assert.equal(byName.get("reward")!.element.type, "DOUBLE");
  assert.equal(byName.get("finished")!.element.type, "BOOLEAN");
  assert.equal(byName.get("t")!.element.type, "INT32");
  assert.equal(byName.get("signals")!.element.converted_type, "UTF8");
});

test("parquet: zero rows round trip", async () => {
  assert.deepStrictEqual(await readParquetObjects(writeRolloutsParquet([]), "e.parquet"), []);
  assert.deepStrictEqual(await readParquetObjects(writeAdvantagesParquet([]), "e.parquet"), []);
});

test("parquet: a batch survives rows -> Parquet -> objects -> batch", async () => {
  const rows = synthRows({ rollouts: 24, tokens: 40, groupSize: 4, seed: 3 });
  const back = await readParquetObjects(writeRolloutsParquet(rows), "s.parquet");
  assert.deepStrictEqual(back, viaJson(rows));
  // unpackRows normalises (drops all-1 masks and finished: true), the same way from either source.
  assert.deepStrictEqual(unpackRows(batchFromObjects(back, "s.parquet")), unpackRows(batchFromObjects(viaJson(rows), "s.parquet")));
});

test("parquet: advantage rows round trip (typed arrays in, plain arrays out; diag as JSON)", async () => {
  const adv = [
    { id: "a", advantages: Float64Array.of(0.1, -0.7, 0), returns: Float64Array.of(1, 2, 3), diag: { a_sr: 0.25, dpo_reward: [0.01, -0.005, 0.05] } },
    { id: "b", advantages: new Float64Array(0), weights: [1, 0] },
    { id: "c", advantages: [Number.MIN_VALUE], returns: undefined, weights: undefined, diag: undefined },
  ];
  const back = await readParquetObjects(writeAdvantagesParquet(adv), "adv.parquet");
  assert.deepStrictEqual(back, [
    { id: "a", advantages: [0.1, -0.7, 0], returns: [1, 2, 3], diag: { a_sr: 0.25, dpo_reward: [0.01, -0.005, 0.05] } },
    { id: "b", advantages: [], weights: [1, 0] },
    { id: "c", advantages: [Number.MIN_VALUE] },
  ]);
  const names = parquetSchema(parquetMetadata(toBuffer(writeAdvantagesParquet([{ id: "x", advantages: [1] }])))).children.map((c) => c.element.name);
  assert.deepStrictEqual(names, ["id", "advantages"]);
});

test("parquet: a corrupt or non-Parquet file is an InputError on '(file)'", async () => {
  const good = writeRolloutsParquet(ROWS);
  const cases: Uint8Array[] = [
    new TextEncoder().encode('{"id": "a", "group": "g", "tokens": [], "reward": 0}\n'),
    new Uint8Array(0),
    good.slice(0, good.length - 10),
    (() => {
      const b = good.slice();
      // Damage the footer's metadata length and keep the magic bytes.
      b[b.length - 6] ^= 0xff;
      return b;
    })(),
  ];
  for (const bytes of cases) {
    await assert.rejects(readParquetObjects(bytes, "bad.parquet"), (e: unknown) => {
      assert.ok(e instanceof InputError, String(e));
      assert.equal(e.file, "bad.parquet");
      assert.equal(e.line, 0);
      assert.equal(e.field, "(file)");
      assert.match(e.detail, /^not a Parquet file: /);
      return true;
    });
  }
});

test("parquet: other writers' files: INT64 columns become numbers, unsafe ones an InputError naming row and field", async () => {
  const bytes = toUint8(parquetWriteBuffer({
    columnData: [
      { name: "id", data: ["a", "b"], type: "STRING" },
      { name: "group", data: ["g", "g"], type: "STRING" },
      { name: "reward", data: [1, 0], type: "DOUBLE" },
      { name: "t", data: [3n, 2n ** 60n], type: "INT64" },
      { name: "signals", data: [{ self_reward: 0.5 }, null], type: "JSON" },
    ],
  }));
  await assert.rejects(readParquetObjects(bytes, "i64.parquet"), (e: unknown) => {
    assert.ok(e instanceof InputError, String(e));
    assert.equal(e.line, 2);
    assert.equal(e.field, "t");
    assert.match(e.detail, /cannot be represented exactly/);
    return true;
  });
  const ok = toUint8(parquetWriteBuffer({
    columnData: [
      { name: "id", data: ["a"], type: "STRING" },
      { name: "t", data: [BigInt(Number.MAX_SAFE_INTEGER)], type: "INT64" },
      { name: "signals", data: [{ self_reward: 0.5, x: [1, 2] }], type: "JSON" },
    ],
  }));
  assert.deepStrictEqual(await readParquetObjects(ok, "i64.parquet"), [{ id: "a", t: Number.MAX_SAFE_INTEGER, signals: { self_reward: 0.5, x: [1, 2] } }]);
});

test("parquet: LIST<INT64> tokens (pyarrow's type for Python ints) read back as numbers", async () => {
  const bytes = toUint8(parquetWriteBuffer({
    columnData: [
      { name: "id", data: ["a", "b"] },
      { name: "tokens", data: [[1n, 2n, 2147483647n], []] },
    ],
    schema: [
      { name: "root", num_children: 2 },
      { name: "id", type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "REQUIRED" },
      { name: "tokens", repetition_type: "OPTIONAL", converted_type: "LIST", num_children: 1 },
      { name: "list", repetition_type: "REPEATED", num_children: 1 },
      { name: "element", type: "INT64", repetition_type: "OPTIONAL" },
    ],
  }));
  assert.deepStrictEqual(await readParquetObjects(bytes, "i64.parquet"), [{ id: "a", tokens: [1, 2, 2147483647] }, { id: "b", tokens: [] }]);
});

test("parquet: invalid JSON text in signals is an InputError naming the row", async () => {
  const bytes = toUint8(parquetWriteBuffer({
    columnData: [
      { name: "id", data: ["a", "b"], type: "STRING" },
      { name: "signals", data: ["{}", "{oops"], type: "STRING" },
    ],
  }));
  await assert.rejects(readParquetObjects(bytes, "j.parquet"), (e: unknown) => e instanceof InputError && e.line === 2 && e.field === "signals" && /invalid JSON/.test(e.detail));
});

// -0 is left out: JSON.stringify writes it as 0 while Parquet keeps the sign (JSON.parse("-0") is -0 too).
const finite = fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => (x === 0 ? 0 : x));
const rowArb: fc.Arbitrary<RolloutRow> = fc.integer({ min: 0, max: 5 }).chain((T) => {
  const floats = fc.array(finite, { minLength: T, maxLength: T });
  return fc.record(
    {
      id: fc.string(),
      group: fc.string(),
      tokens: fc.array(fc.integer({ min: 0, max: 2147483647 }), { minLength: T, maxLength: T }),
      reward: finite,
      mask: fc.array(fc.constantFrom(0, 1), { minLength: T, maxLength: T }),
      logprobs: floats,
      values: floats,
      finished: fc.boolean(),
      t: fc.nat(),
      episode: fc.string(),
      signals: fc.dictionary(fc.string(), fc.jsonValue()),
      meta: fc.jsonValue(),
    },
    { requiredKeys: ["id", "group", "tokens", "reward"] },
  );
});

test("parquet: property: any rows round trip as JSON would", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(rowArb, { maxLength: 6 }), async (rows) => {
      const back = await readParquetObjects(writeRolloutsParquet(rows), "p.parquet");
      assert.deepStrictEqual(back, viaJson(rows));
    }),
    { numRuns: 60 },
  );
});

function toBuffer(u: Uint8Array): ArrayBuffer {
  return u.slice().buffer as ArrayBuffer;
}
function toUint8(b: ArrayBuffer): Uint8Array {
  return new Uint8Array(b);
}
