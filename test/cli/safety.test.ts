/**
 * Refusing cleanly and losing nothing (issue 10, section 5): outputs that would replace an input,
 * outputs that cannot be written, signals mid-write, leftovers of killed runs, and lines too long
 * for one string.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, cf, ERROR_LINE, ROOT } from "./run.js";
import { advantagesJsonl } from "../../src/io/jsonl.js";
import { runMethod } from "../../src/core/registry.js";
import { makeBatch } from "../helpers.js";
import { chunksText } from "../../src/io/ascii-chunks.js";

const example = join(ROOT, "examples", "plain.jsonl");
const fresh = () => mkdtempSync(join(tmpdir(), "cf-safety-"));

test("assign and convert refuse an --out that is the input, through '..', a symlink or a hard link; the input is untouched", () => {
  const dir = fresh();
  const input = join(dir, "r.jsonl");
  copyFileSync(example, input);
  const before = readFileSync(input, "utf8");
  mkdirSync(join(dir, "sub"));
  symlinkSync(input, join(dir, "link.jsonl"));
  linkSync(input, join(dir, "hard.jsonl"));
  const cases: [string, string][] = [
    [input, input],
    [input, join(dir, "sub", "..", "r.jsonl")],
    [join(dir, "link.jsonl"), input],
    [input, join(dir, "link.jsonl")],
    [input, join(dir, "hard.jsonl")],
  ];
  for (const [i, o] of cases) {
    for (const args of [["assign", "--method", "grpo", "--in", i, "--out", o], ["convert", "--in", i, "--out", o]]) {
      const r = cf(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, ERROR_LINE);
      assert.match(r.stderr, /is the input file/);
      assert.equal(r.stdout, "");
    }
  }
  assert.equal(readFileSync(input, "utf8"), before);
  assert.deepEqual(readdirSync(dir).sort(), ["hard.jsonl", "link.jsonl", "r.jsonl", "sub"]);
});

test("an --out that is a directory or in a missing folder: one line, exit 2, nothing created", () => {
  const dir = fresh();
  for (const out of [dir, join(dir, "missing", "a.jsonl")]) {
    for (const cmd of ["assign", "convert"]) {
      const args = cmd === "assign" ? ["assign", "--method", "grpo", "--in", example, "--out", out] : ["convert", "--in", example, "--out", out];
      const r = cf(args);
      assert.equal(r.code, 2);
      assert.match(r.stderr, ERROR_LINE);
      assert.match(r.stderr, /cannot write output/);
    }
  }
  assert.deepEqual(readdirSync(dir), []);
});

test("SIGINT or SIGTERM during a long write removes the temporary file; the output never appears", async () => {
  const dir = fresh();
  // ~40 MB of output: long enough to be signalled mid-write.
  const rows: string[] = [];
  for (let i = 0; i < 400; i++) rows.push(JSON.stringify({ id: `r${i}`, group: `g${i >> 3}`, tokens: new Array(4000).fill(7), reward: i % 2 }));
  const input = join(dir, "big.jsonl");
  writeFileSync(input, rows.join("\n") + "\n");
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    const out = join(dir, `out-${sig}.jsonl`);
    const child = spawn(process.execPath, [BIN, "assign", "--method", "reinforce++", "--in", input, "--out", out], { stdio: "ignore" });
    // Signal as soon as the temporary file exists.
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (readdirSync(dir).some((n) => n.startsWith(".creditflow-tmp-"))) {
          clearInterval(poll);
          child.kill(sig);
          resolve();
        }
      }, 2);
    });
    const status = await new Promise<NodeJS.Signals | number | null>((resolve) => child.on("exit", (code, signal) => resolve(signal ?? code)));
    if (existsSync(out)) {
      // The run finished writing before the signal arrived: then the output is whole.
      assert.equal(readFileSync(out, "utf8").split("\n").length, 401);
    } else {
      assert.equal(status, sig);
    }
    assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith(".creditflow-tmp-")), [], `${sig} left a temporary file`);
  }
});

test("temporary files of dead processes (kill -9) are swept by the next run in that folder; live ones are kept", () => {
  const dir = fresh();
  // pid 2^22 + 1 is above Linux's pid_max default: no such process.
  const stale = join(dir, ".creditflow-tmp-4194305-adv.jsonl");
  const live = join(dir, `.creditflow-tmp-${process.pid}-other.jsonl`);
  writeFileSync(stale, "partial");
  writeFileSync(live, "in progress");
  const r = cf(["assign", "--method", "grpo", "--in", example, "--out", join(dir, "adv.jsonl")]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(existsSync(stale), false);
  assert.equal(existsSync(live), true);
  assert.equal(existsSync(join(dir, "adv.jsonl")), true);
});

test("advantage lines are written in pieces: any chunk size gives the same bytes, and no piece outgrows the chunk", () => {
  const T = 5000;
  const b = makeBatch([{ tokens: new Array(T).fill(3), reward: 1, token_rewards: Array.from({ length: T }, (_, k) => Math.sin(k)) }, { tokens: [1, 2], reward: 0 }]);
  const out = runMethod("reinforce++", b, { gamma: 0.99 });
  const whole = chunksText(advantagesJsonl(b, out, { chunkBytes: 1 << 30 }));
  const pieces = [...advantagesJsonl(b, out, { chunkBytes: 256 })];
  assert.equal(chunksText(pieces), whole);
  assert.ok(pieces.length > 100);
  for (const p of pieces) assert.ok(p.byteLength < 256 + 64, `piece of ${p.length} chars`);
  const lines = whole.trim().split("\n").map((l) => JSON.parse(l) as { advantages: number[]; returns: number[] });
  assert.deepEqual(lines[0].advantages, Array.from(out.advantages.subarray(0, T)));
});
