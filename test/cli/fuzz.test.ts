/**
 * Property: any mutation of a valid rollout file either assigns valid advantages or fails with
 * a one-line user error naming file, line and field (exit 2, nothing on stdout) — never a crash.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, InputError } from "../../src/core/errors.js";
import { knownSignals, runMethod } from "../../src/core/registry.js";
import "../../src/methods/index.js";
import { advantagesJsonl, parseRolloutsJsonl } from "../../src/io/jsonl.js";
import { cf } from "./run.js";
import { chunksText } from "../../src/io/ascii-chunks.js";

const PLAIN = readFileSync(join(process.cwd(), "examples", "plain.jsonl"), "utf8");
const FIELDS = ["id", "group", "tokens", "reward", "mask", "token_rewards", "logprobs", "ref_logprobs", "entropies", "values", "step_ends", "step_rewards", "finished", "episode", "t", "anchor", "signals", "meta", "bogus"];
const METHODS = ["grpo", "rloo", "reinforce++", "gae", "opo", "gpg", "reinforce++-baseline", "dr-grpo"];

type Mutation =
  | { kind: "set"; line: number; field: string; value: unknown }
  | { kind: "delete"; line: number; field: string }
  | { kind: "element"; line: number; field: string; index: number; value: unknown }
  | { kind: "text"; pos: number; insert: string; remove: number }
  | { kind: "overflow"; line: number; field: string }
  | { kind: "duplicate"; line: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("set" as const), line: fc.nat(11), field: fc.constantFrom(...FIELDS), value: fc.jsonValue({ maxDepth: 2 }) }),
  fc.record({ kind: fc.constant("delete" as const), line: fc.nat(11), field: fc.constantFrom(...FIELDS) }),
  fc.record({ kind: fc.constant("element" as const), line: fc.nat(11), field: fc.constantFrom("tokens", "mask", "logprobs", "values", "step_ends"), index: fc.nat(12), value: fc.oneof(fc.integer({ min: -3, max: 3 }), fc.double(), fc.constant(null), fc.string()) }),
  fc.record({ kind: fc.constant("text" as const), pos: fc.nat(3000), insert: fc.stringMatching(/^[{}[\],:"0-9a-z.\-e ]{0,3}$/), remove: fc.nat(3) }),
  fc.record({ kind: fc.constant("overflow" as const), line: fc.nat(11), field: fc.constantFrom("reward", "logprobs", "values", "tokens") }),
  fc.record({ kind: fc.constant("duplicate" as const), line: fc.nat(11) }),
);

function apply(text: string, muts: Mutation[]): string {
  let lines = text.trim().split("\n");
  for (const m of muts) {
    if (m.kind === "text") {
      const joined = lines.join("\n");
      const p = m.pos % (joined.length + 1);
      lines = (joined.slice(0, p) + m.insert + joined.slice(p + m.remove)).split("\n");
      continue;
    }
    const i = m.line % lines.length;
    let obj: Record<string, unknown>;
    try {
      obj = JSON.parse(lines[i]) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (typeof obj !== "object" || obj === null) continue;
    if (m.kind === "set") obj[m.field] = m.value;
    else if (m.kind === "delete") delete obj[m.field];
    else if (m.kind === "element") {
      const arr = obj[m.field];
      if (Array.isArray(arr)) arr[m.index % (arr.length + 1)] = m.value;
    } else if (m.kind === "duplicate") {
      lines.push(lines[i]);
      continue;
    } else if (m.kind === "overflow") {
      const v = obj[m.field];
      const s = JSON.stringify({ ...obj, [m.field]: Array.isArray(v) ? [...v.slice(1), "__BIG__"] : "__BIG__" });
      lines[i] = s.replace('"__BIG__"', "1e999");
      continue;
    }
    lines[i] = JSON.stringify(obj);
  }
  return lines.join("\n") + "\n";
}

const USER_ERROR = /^(<stdin>|f\.jsonl)(:\d+)?: (field '[^']*': )?.+$/;

describe("fuzz: mutated rollout files", () => {
  it("in process: valid output or a user error naming file, line and field (2000 cases)", () => {
    fc.assert(fc.property(fc.array(mutationArb, { minLength: 1, maxLength: 3 }), fc.constantFrom(...METHODS), (muts, method) => {
      const text = apply(PLAIN, muts);
      try {
        const batch = parseRolloutsJsonl(text, "f.jsonl", { knownSignals: knownSignals() });
        const out = runMethod(method, batch);
        const lines = chunksText(advantagesJsonl(batch, out)).trim().split("\n").filter(Boolean);
        assert.equal(lines.length, batch.n);
        lines.forEach((l, i) => {
          const o = JSON.parse(l) as { id: string; advantages: number[] };
          assert.equal(o.id, batch.ids[i]);
          assert.equal(o.advantages.length, batch.offsets[i + 1] - batch.offsets[i]);
          for (const x of o.advantages) assert.ok(Number.isFinite(x));
        });
      } catch (e) {
        if (e instanceof InputError) {
          assert.match(e.message, USER_ERROR);
          assert.ok(e.line >= 1, e.message);
        } else if (!(e instanceof ConfigError)) {
          throw e;
        }
      }
    }), { numRuns: 2000 });
  });

  it("as a process: exit 0 with one output line per rollout, or exit 2 with one stderr line and no stdout", () => {
    fc.assert(fc.property(fc.array(mutationArb, { minLength: 1, maxLength: 2 }), (muts) => {
      const text = apply(PLAIN, muts);
      const r = cf(["assign", "--method", "grpo"], text);
      if (r.code === 0) {
        assert.equal(r.stderr, "");
        for (const l of r.stdout.trim().split("\n")) JSON.parse(l);
      } else {
        assert.equal(r.code, 2, r.stderr);
        assert.equal(r.stdout, "");
        assert.match(r.stderr, /^creditflow: <stdin>(:\d+)?: [^\n]+\n$/);
        assert.doesNotMatch(r.stderr, /at .*\.js:\d+/);
      }
    }), { numRuns: 25 });
  });
});
