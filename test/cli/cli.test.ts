/** The `creditflow` command end to end, as a user runs it (a child process per case). */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runMethod, knownSignals } from "../../src/core/registry.js";
import "../../src/methods/index.js";
import { parseRolloutsJsonl } from "../../src/io/jsonl.js";

import { cf, ERROR_LINE, ROOT } from "./run.js";

const PLAIN = join(ROOT, "examples", "plain.jsonl");
const STANDARD = ["grpo", "dr-grpo", "rloo", "reinforce++", "reinforce++-baseline", "gae", "opo", "grpo-passk", "gpg"];

describe("creditflow CLI", () => {
  it("methods lists the nine standard estimators with their options; --json is machine-readable", () => {
    const table = cf(["methods"]);
    assert.equal(table.code, 0);
    for (const m of STANDARD) assert.match(table.stdout, new RegExp(`^${m.replace(/\+/g, "\\+")}\\s+\\[`, "m"));
    assert.match(table.stdout, /eps = 0\.000001/);
    const json = JSON.parse(cf(["methods", "--json"]).stdout) as { name: string; options: Record<string, { default: unknown }> }[];
    const byName = new Map(json.map((m) => [m.name, m]));
    for (const m of STANDARD) assert.ok(byName.has(m), m);
    assert.equal(byName.get("grpo")!.options.eps.default, 1e-6);
    assert.equal(byName.get("gae")!.options.lambda.default, 1);
  });

  it("assign on the bundled example equals the library, in input order, numbers round-trip", () => {
    const r = cf(["assign", "--method", "grpo", "--in", PLAIN]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    const batch = parseRolloutsJsonl(readFileSync(PLAIN, "utf8"), PLAIN, { knownSignals: knownSignals() });
    const expected = runMethod("grpo", batch);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { id: string; advantages: number[]; returns: number[] });
    assert.equal(lines.length, batch.n);
    lines.forEach((l, i) => {
      assert.equal(l.id, batch.ids[i]);
      assert.deepEqual(l.advantages, Array.from(expected.advantages.subarray(batch.offsets[i], batch.offsets[i + 1])));
      assert.deepEqual(l.returns, l.advantages);
    });
  });

  it("stdin to stdout, --config inline and from a file, --out written atomically", () => {
    const input = readFileSync(PLAIN, "utf8");
    const a = cf(["assign", "--method", "grpo", "--config", '{"normByStd": false}'], input);
    const b = cf(["assign", "--method", "dr-grpo", "--in", "-", "--out", "-"], input);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout, b.stdout);
    const dir = mkdtempSync(join(tmpdir(), "cf-cli-"));
    writeFileSync(join(dir, "cfg.json"), '{"gamma": 0.5}');
    const out = join(dir, "adv.jsonl");
    const c = cf(["assign", "--method", "reinforce++", "--config", join(dir, "cfg.json"), "--in", PLAIN, "--out", out]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(c.stdout, "");
    assert.equal(readFileSync(out, "utf8").trim().split("\n").length, 12);
  });

  it("invalid input: exit 2, one line naming file, line and field, nothing on stdout, --out untouched", () => {
    const dir = mkdtempSync(join(tmpdir(), "cf-cli-"));
    const bad = join(dir, "bad.jsonl");
    const lines = readFileSync(PLAIN, "utf8").trim().split("\n");
    lines[4] = lines[4].replace('"tokens": [', '"tokens": [-3, ');
    writeFileSync(bad, lines.join("\n"));
    const out = join(dir, "adv.jsonl");
    const r = cf(["assign", "--method", "grpo", "--in", bad, "--out", out]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, ERROR_LINE);
    assert.equal(r.stderr, `creditflow: ${bad}:5: field 'tokens': expected an array of non-negative integers (entry 0 is -3)\n`);
    assert.equal(existsSync(out), false);
    writeFileSync(out, "previous");
    assert.equal(cf(["assign", "--method", "grpo", "--in", bad, "--out", out]).code, 2);
    assert.equal(readFileSync(out, "utf8"), "previous");
  });

  it("stdin errors are named <stdin>", () => {
    const r = cf(["assign", "--method", "grpo"], '{"id":"a","group":"g","tokens":[1],"reward":NaN}\n');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^creditflow: <stdin>:1: invalid JSON/);
  });

  it("a method that needs a missing field says which field and which method", () => {
    const r = cf(["assign", "--method", "gae"], '{"id":"a","group":"g","tokens":[1],"reward":1}\n');
    assert.equal(r.code, 2);
    assert.equal(r.stderr, "creditflow: <stdin>:1: field 'values': required by method 'gae' but missing\n");
  });

  it("usage errors: unknown method, unknown option key, wrong option type, bad JSON config, missing file", () => {
    const cases: [string[], RegExp][] = [
      [["assign", "--method", "nope"], /unknown method 'nope'\. Methods: grpo, /],
      [["assign", "--method", "grpo", "--config", '{"epsilon": 1}'], /method 'grpo' has no option 'epsilon' \(options: eps, normByStd, std, scoreTokens\)/],
      [["assign", "--method", "grpo", "--config", '{"eps": "small"}'], /option 'eps': got "small" \(expected number/],
      [["assign", "--method", "grpo", "--config", "{oops"], /--config: invalid JSON/],
      [["assign", "--method", "grpo", "--in", "/no/such/file.jsonl"], /\/no\/such\/file\.jsonl: no such file/],
      [["assign", "--frobnicate"], /Unknown option '--frobnicate'/],
      [["frobnicate"], /unknown command 'frobnicate'/],
    ];
    for (const [args, re] of cases) {
      const r = cf(args, "");
      assert.equal(r.code, 2, args.join(" "));
      assert.equal(r.stdout, "");
      assert.match(r.stderr, ERROR_LINE);
      assert.match(r.stderr, re);
    }
  });

  it("--help shows an example", () => {
    const r = cf(["assign", "--help"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Example:\n\s+creditflow assign --method grpo/);
  });

  it("demo prints a summary table of the bundled example", () => {
    const r = cf(["demo", "--methods", "grpo,rloo"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /12 rollouts in 3 groups/);
    assert.match(r.stdout, /mean A \(grpo\)/);
  });
});
