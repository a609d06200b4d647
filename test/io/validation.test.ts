/** Every rule of the rollout contract, each with the error it must produce (file, line, field). */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { InputError } from "../../src/core/errors.js";
import { knownSignals } from "../../src/core/registry.js";
import "../../src/methods/index.js";
import { parseRolloutsJsonl } from "../../src/io/jsonl.js";
import { chunksText } from "../../src/io/ascii-chunks.js";

const ok = { id: "a", group: "g", tokens: [1, 2, 3], reward: 1 };
const parse = (text: string) => parseRolloutsJsonl(text, "f.jsonl", { knownSignals: knownSignals() });

function expectError(lines: string[], line: number, field: string, detail: RegExp) {
  assert.throws(() => parse(lines.join("\n")), (e: unknown) => {
    assert.ok(e instanceof InputError, `expected InputError, got ${String(e)}`);
    assert.equal(e.file, "f.jsonl");
    assert.equal(e.line, line, e.message);
    assert.equal(e.field, field, e.message);
    assert.match(e.detail, detail);
    return true;
  });
}
const row = (o: Record<string, unknown>) => JSON.stringify({ ...ok, ...o });

describe("rollout validation", () => {
  it("accepts a valid file with blank lines, CRLF and a BOM; lines are counted from 1", () => {
    const b = parse("\ufeff" + row({}) + "\r\n\r\n" + row({ id: "b", mask: [1, 0, 1] }) + "\n");
    assert.equal(b.n, 2);
    assert.deepEqual(Array.from(b.lines), [1, 3]);
    assert.deepEqual(Array.from(b.mask), [1, 1, 1, 1, 0, 1]);
  });
  it("JSON syntax", () => expectError([row({}), "{\"id\": \"b\","], 2, "", /invalid JSON/));
  it("a line that is not an object", () => expectError(["[1,2]"], 1, "(line)", /expected a JSON object/));
  for (const f of ["id", "group", "tokens", "reward"]) {
    it(`required field ${f}`, () => {
      const o: Record<string, unknown> = { ...ok };
      delete o[f];
      expectError([JSON.stringify(o)], 1, f, /required field is missing/);
    });
  }
  it("types", () => {
    expectError([row({ id: 3 })], 1, "id", /expected a string/);
    expectError([row({ group: null })], 1, "group", /expected a string/);
    expectError([row({ reward: "1" })], 1, "reward", /expected a finite number/);
    expectError([row({ finished: 1 })], 1, "finished", /true or false/);
    expectError([row({ signals: [] })], 1, "signals", /expected an object/);
  });
  it("integer, non-negative token ids", () => {
    expectError([row({ tokens: [1, 2.5] })], 1, "tokens", /non-negative integers/);
    expectError([row({ tokens: [1, -1] })], 1, "tokens", /non-negative integers/);
    expectError([row({ tokens: "123" })], 1, "tokens", /non-negative integers/);
    expectError([row({ tokens: [2147483648] })], 1, "tokens", /non-negative integers/);
  });
  it("per-token array lengths", () => {
    for (const f of ["mask", "token_rewards", "logprobs", "ref_logprobs", "entropies", "values"]) {
      expectError([row({ [f]: [1, 1] })], 1, f, /expected 3 entries/);
    }
  });
  it("0/1 masks", () => expectError([row({ mask: [1, 2, 0] })], 1, "mask", /expected 0 or 1/));
  it("finite numbers: 1e999 overflows to Infinity and is rejected", () => {
    expectError([`{"id":"a","group":"g","tokens":[1],"reward":1e999}`], 1, "reward", /finite/);
    expectError([`{"id":"a","group":"g","tokens":[1],"reward":0,"logprobs":[-1e999]}`], 1, "logprobs", /finite/);
    expectError([`{"id":"a","group":"g","tokens":[1],"reward":0,"meta":{"x":[1e400]}}`], 1, "meta.x[0]", /non-finite/);
  });
  it("unique ids", () => expectError([row({}), row({ group: "h" })], 2, "id", /not unique \(already used on line 1\)/));
  it("step_ends strictly increasing and in range", () => {
    expectError([row({ step_ends: [0, 0] })], 1, "step_ends", /strictly increasing/);
    expectError([row({ step_ends: [1, 0] })], 1, "step_ends", /strictly increasing/);
    expectError([row({ step_ends: [3] })], 1, "step_ends", /\[0, 2\]/);
    expectError([row({ step_ends: [-1] })], 1, "step_ends", /\[0, 2\]/);
    expectError([row({ step_ends: [0.5] })], 1, "step_ends", /not an integer/);
  });
  it("step_rewards: one per step, needs step_ends", () => {
    expectError([row({ step_ends: [0, 2], step_rewards: [1] })], 1, "step_rewards", /expected 2 entries/);
    expectError([row({ step_rewards: [1] })], 1, "step_rewards", /needs 'step_ends'/);
  });
  it("unknown fields are errors (typos must not be ignored); meta is free-form", () => {
    expectError([row({ rewards: 1 })], 1, "rewards", /unknown field/);
    assert.equal(parse(row({ meta: { anything: [1, "x", { y: null }] } })).n, 1);
  });
  it("signals no method reads are errors", () => expectError([row({ signals: { no_such_signal: 1 } })], 1, "signals.no_such_signal", /no method reads/));
  it("t needs episode and is a non-negative integer", () => {
    expectError([row({ t: 0 })], 1, "t", /needs 'episode'/);
    expectError([row({ episode: "e", t: -1 })], 1, "t", /non-negative integer/);
  });
  it("an empty response (T = 0) is valid", () => assert.equal(parse(row({ tokens: [] })).nTokens, 0));
  it("packs groups in CSR form, in input order", () => {
    const b = parse([row({ id: "1", group: "x" }), row({ id: "2", group: "y" }), row({ id: "3", group: "x" })].join("\n"));
    assert.deepEqual(b.groupNames, ["x", "y"]);
    assert.deepEqual(Array.from(b.groupOffsets), [0, 2, 3]);
    assert.deepEqual(Array.from(b.groupMembers), [0, 2, 1]);
  });
});

describe("error messages stay on one line", () => {
  it("a signals key with a newline is escaped", () => {
    assert.throws(() => parse(JSON.stringify({ ...ok, signals: { "bad\nkey": 1 } })), (e: unknown) => {
      assert.ok(e instanceof InputError);
      assert.doesNotMatch(e.message, /\n/);
      assert.match(e.message, /signals\.bad\\nkey/);
      return true;
    });
  });
});

describe("output encoding", () => {
  it("non-ASCII ids and meta survive as \\u escapes in ASCII output", async () => {
    const { advantagesJsonl, rolloutsJsonl } = await import("../../src/io/jsonl.js");
    const { runMethod } = await import("../../src/core/registry.js");
    const { unpackRows } = await import("../../src/core/rows.js");
    const b = parse(JSON.stringify({ id: "é-😀", group: "g", tokens: [1], reward: 1, meta: { note: "naïve" } }));
    const adv = chunksText(advantagesJsonl(b, runMethod("grpo", b)));
    assert.ok([...adv].every((c) => c.charCodeAt(0) < 128));
    assert.equal((JSON.parse(adv) as { id: string }).id, "é-😀");
    const rows = [...rolloutsJsonl(unpackRows(b))].join("");
    assert.ok([...rows].every((c) => c.charCodeAt(0) < 128));
    assert.deepEqual(JSON.parse(rows), JSON.parse(JSON.stringify(unpackRows(b)[0])));
  });
});
