/**
 * Streaming assign (issue 10, section 5): group-local methods run one group at a time with the
 * same bytes as the whole-batch path, and a method marked group-local really is: appending other
 * groups to a file never changes the credit of the rows already there.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { knownSignals, listMethods, runMethod } from "../../src/core/registry.js";
import { batchFromObjects } from "../../src/core/rows.js";
import { advantagesJsonl } from "../../src/io/jsonl.js";
import "../../src/methods/index.js";
import { cf, ROOT } from "./run.js";
import { chunksText } from "../../src/io/ascii-chunks.js";

const dir = mkdtempSync(join(tmpdir(), "cf-stream-"));
const groupLocal = listMethods().filter((m) => m.locality === "group");

/** The example's rows again under new group, id and episode names, with rewards changed by `f`. */
function renamed(lines: string[], tag: string, f: (r: number) => number): string[] {
  return lines.map((l) => {
    const r = JSON.parse(l) as Record<string, unknown>;
    r.id = `${String(r.id)}~${tag}`;
    r.group = `${String(r.group)}~${tag}`;
    if (typeof r.episode === "string") r.episode = `${r.episode}~${tag}`;
    if (typeof r.reward === "number") r.reward = f(r.reward);
    return JSON.stringify(r);
  });
}

/** Two more copies of the rows: all rewards 0, and rewards shifted and halved (batch statistics move). */
const otherGroups = (lines: string[]): string[] => [...renamed(lines, "b", () => 0), ...renamed(lines, "c", (r) => r / 2 + 0.1)];

const parse = (lines: string[]) => batchFromObjects(lines.map((l) => JSON.parse(l) as unknown), "t.jsonl", { knownSignals: knownSignals() });
const serialise = (lines: string[], method: string) => {
  const b = parse(lines);
  return chunksText(advantagesJsonl(b, runMethod(method, b)));
};

test("every group-local method is marked so by its behaviour, and streams the whole-batch bytes", () => {
  assert.ok(groupLocal.length >= 15);
  for (const m of groupLocal) {
    const a = readFileSync(join(ROOT, "examples", m.example!), "utf8").trim().split("\n");
    const ab = [...a, ...otherGroups(a)];
    const whole = serialise(ab, m.name);
    // Locality: the first rows' credit is the same with or without the other groups.
    assert.equal(whole.split("\n").slice(0, a.length).join("\n"), serialise(a, m.name).trim(), `${m.name} is marked group-local but reads other groups`);
    const fileAB = join(dir, `${m.name}-ab.jsonl`);
    writeFileSync(fileAB, ab.join("\n") + "\n");
    const out = join(dir, `${m.name}-out.jsonl`);
    const streamed = cf(["assign", "--method", m.name, "--in", fileAB, "--out", out]);
    assert.equal(streamed.code, 0, `${m.name}: ${streamed.stderr}`);
    assert.equal(readFileSync(out, "utf8"), whole, `${m.name}: streamed output differs`);
  }
});

test("rows of a group that are not adjacent: the whole-batch path takes over with the same result", () => {
  const rows = readFileSync(join(ROOT, "examples", "plain.jsonl"), "utf8").trim().split("\n");
  const mixed = [...rows, ...renamed(rows, "b", (r) => 1 - r)];
  // Interleave: a, b, a, b, ...
  const inter = mixed.map((_, k) => mixed[(k % 2) * rows.length + (k >> 1)]).filter(Boolean);
  const file = join(dir, "interleaved.jsonl");
  writeFileSync(file, inter.join("\n") + "\n");
  const out = join(dir, "interleaved-out.jsonl");
  const r = cf(["assign", "--method", "grpo", "--in", file, "--out", out]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(out, "utf8"), cf(["assign", "--method", "grpo", "--in", file]).stdout);
});

test("an id used again in a later group is refused as in the whole-batch path", () => {
  const rows = readFileSync(join(ROOT, "examples", "plain.jsonl"), "utf8").trim().split("\n");
  const again = renamed(rows, "b", (r) => r).map((l, k) => (k === 0 ? l.replace(/"id":"[^"]*"/, JSON.stringify({ id: JSON.parse(rows[0]).id }).slice(1, -1)) : l));
  const file = join(dir, "dup.jsonl");
  writeFileSync(file, [...rows, ...again].join("\n") + "\n");
  const r = cf(["assign", "--method", "grpo", "--in", file, "--out", join(dir, "dup-out.jsonl")]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, cf(["assign", "--method", "grpo", "--in", file]).stderr);
  assert.match(r.stderr, new RegExp(`dup\\.jsonl:${rows.length + 1}: field 'id': .* is not unique \\(already used on line 1\\)`));
});

test("a bad line in a later group: one line naming it, exit 2, no output (the earlier groups' lines are not kept)", () => {
  const rows = readFileSync(join(ROOT, "examples", "plain.jsonl"), "utf8").trim().split("\n");
  const bad = [...rows, ...otherGroups(rows)];
  bad[bad.length - 1] = bad[bad.length - 1].replace(/"tokens":\[/, '"tokens":[-3,');
  const file = join(dir, "bad.jsonl");
  writeFileSync(file, bad.join("\n") + "\n");
  const out = join(dir, "bad-out.jsonl");
  const r = cf(["assign", "--method", "grpo", "--in", file, "--out", out]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`bad\\.jsonl:${bad.length}: field 'tokens'`));
  assert.throws(() => readFileSync(out));
});

test("the README's list of group-local methods is the registry's", () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8").replace(/\s+/g, " ");
  const listed = /"group-local": ([^)]*)\)/.exec(readme)?.[1].split(",").map((x) => x.trim()).sort();
  assert.deepEqual(listed, groupLocal.map((m) => m.name).sort());
});

test("docs/rollouts.md names every signal a registered method reads", () => {
  const doc = readFileSync(join(ROOT, "docs", "rollouts.md"), "utf8");
  for (const m of listMethods()) for (const s of m.signals ?? []) assert.ok(doc.includes(`\`${s}\``) || doc.includes(`signals.${s}`), `${m.name}: signals.${s} is not documented`);
});
