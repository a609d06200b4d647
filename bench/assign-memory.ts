/**
 * Peak memory of `creditflow assign` on a large grouped JSONL file: streaming (a group-local
 * method, file in and out) against the whole-batch path (the same method writing to stdout, and
 * a batch method). Generates the file in a temporary folder (nothing committed), runs each case
 * under /usr/bin/time -v, and prints a table.
 *
 *   npm run bench:memory [-- --mb 200]
 */
import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { mulberry32 } from "../src/core/random.js";

const { values } = parseArgs({ options: { mb: { type: "string", default: "200" } } });
const targetBytes = Number(values.mb) * 1e6;
const dir = mkdtempSync(join(tmpdir(), "cf-mem-"));
const input = join(dir, "rollouts.jsonl");

// Groups of 8 rollouts of 256 tokens, rows of a group adjacent, as trainers write them.
const rng = mulberry32(1);
const fd = openSync(input, "w");
let bytes = 0;
for (let g = 0; bytes < targetBytes; g++) {
  let chunk = "";
  for (let j = 0; j < 8; j++) {
    const tokens = Array.from({ length: 256 }, () => Math.floor(rng() * 50000));
    const logprobs = tokens.map(() => -Math.round(rng() * 3000) / 1000);
    chunk += JSON.stringify({ id: `q${g}-${j}`, group: `q${g}`, tokens, reward: rng() < 0.5 ? 1 : 0, logprobs }) + "\n";
  }
  writeSync(fd, chunk);
  bytes += chunk.length;
}
closeSync(fd);

function peak(args: string[], stdoutToNull: boolean): { seconds: number; mb: number } {
  const r = spawnSync("/usr/bin/time", ["-v", process.execPath, "bin/creditflow.js", ...args], { encoding: "utf8", stdio: ["ignore", stdoutToNull ? "ignore" : "pipe", "pipe"], maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`assign ${args.join(" ")} failed: ${r.stderr}`);
  const kb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1]);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(r.stderr);
  const seconds = wall ? Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]) : NaN;
  return { seconds, mb: kb / 1024 };
}

const size = statSync(input).size / 1e6;
const rows = [
  ["grpo", "streamed (file to file)", peak(["assign", "--method", "grpo", "--in", input, "--out", join(dir, "a.jsonl")], true)],
  ["grpo", "whole batch (to stdout)", peak(["assign", "--method", "grpo", "--in", input], true)],
  ["reinforce++", "whole batch (batch method)", peak(["assign", "--method", "reinforce++", "--in", input, "--out", join(dir, "b.jsonl")], true)],
] as const;
process.stdout.write(`\n#### assign peak memory on ${size.toFixed(0)} MB of grouped JSONL (groups of 8 x 256 tokens)\n\n| method | path | wall s | peak RSS MB |\n|---|---|---:|---:|\n`);
for (const [m, path, r] of rows) process.stdout.write(`| ${m} | ${path} | ${r.seconds.toFixed(1)} | ${r.mb.toFixed(0)} |\n`);
rmSync(dir, { recursive: true, force: true });
