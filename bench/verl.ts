/**
 * creditflow's standard estimators against verl's padded loop code in torch (bench/verl_ref.py),
 * on the same 4096 x 256 batch in one run, one thread each. Needs a python with torch:
 *
 *   npm run bench:verl [-- --python /path/to/venv/bin/python --reps 5]
 *
 * Prints each estimator's time in both and the speed-up (verl ms / creditflow ms).
 */
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { knownSignals, runMethod } from "../src/core/registry.js";
import { batchFromObjects } from "../src/core/rows.js";
import "../src/methods/index.js";
import { DEFAULT_SYNTH, synthRows } from "./synth.js";
import { collectGarbage, timeMin, warmUp } from "./timing.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({ options: { python: { type: "string", default: "python3" }, reps: { type: "string", default: "5" } } });
const reps = Number(args.reps);

// The row objects (millions of JS numbers) must not outlive this block: kept alive, every major
// GC (which the methods' 8 MB outputs trigger) would walk them and be timed with the method.
const { batch, job } = (() => {
  const rows = synthRows(DEFAULT_SYNTH);
  return {
    batch: batchFromObjects(rows, "bench", { knownSignals: knownSignals() }),
    job: JSON.stringify({ T: DEFAULT_SYNTH.tokens, reps, rows: rows.map((r) => ({ group: r.group, reward: r.reward, mask: r.mask, values: r.values })) }),
  };
})();
const small = batchFromObjects(synthRows({ ...DEFAULT_SYNTH, rollouts: 4 * DEFAULT_SYNTH.groupSize }), "bench", { knownSignals: knownSignals() });
const py = spawnSync(args.python as string, [join(HERE, "..", "..", "bench", "verl_ref.py")], { input: job, encoding: "utf8", maxBuffer: 1 << 26 });
if (py.status !== 0) {
  process.stderr.write(`bench:verl: ${args.python} bench/verl_ref.py failed (needs torch): ${py.stderr.trim().split("\n").pop()}\n`);
  process.exit(2);
}
const verl = JSON.parse(py.stdout) as Record<string, number>;

process.stdout.write(`\n#### Standard estimators against verl's loop code (torch ${"CPU"}, one thread), ${batch.n} x ${DEFAULT_SYNTH.tokens} tokens\n\n| method | verl ms | creditflow ms | speed-up |\n|---|---:|---:|---:|\n`);
const cases: [string, string, Record<string, unknown>][] = [
  ["grpo", "grpo", {}],
  ["rloo", "rloo", {}],
  ["gae", "gae", {}],
  ["reinforce++ (default: tool tokens transparent)", "reinforce++", {}],
  ["reinforce++ (maskedTokens reset: verl's loop)", "reinforce++", { maskedTokens: "reset" }],
];
for (const [label, m, opts] of cases) {
  warmUp(m, small, opts);
  collectGarbage();
  const ms = timeMin(() => runMethod(m, batch, opts), Math.max(reps, 7));
  process.stdout.write(`| ${label} | ${verl[m].toFixed(1)} | ${ms.toFixed(2)} | ${(verl[m] / ms).toFixed(1)}x |\n`);
}
