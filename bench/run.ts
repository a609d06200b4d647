/**
 * `npm run bench`: credit-assignment throughput on the benchmark batch (4096 rollouts x 256
 * tokens, groups of 8 by default).
 *
 * For every registered method: in-process time (median of --reps after a warm-up) and its ratio
 * to grpo's time in the same run. For the standard estimators also: the same computation in
 * numpy in the same run (python3 + numpy, skipped with a note when missing) with the ratio and
 * the largest difference between the two results, and the CLI end to end (JSONL in, JSONL out)
 * with wall time and peak memory. Then the prefix trie's build time at 1x, 4x and 16x the batch.
 *
 *   npm run bench [-- --rollouts 4096 --tokens 256 --reps 7 --only grpo,tempo --no-cli --no-numpy]
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { RolloutBatch } from "../src/core/batch.js";
import { InputError } from "../src/core/errors.js";
import { knownSignals, listMethods, runMethod } from "../src/core/registry.js";
import { batchFromObjects, type RolloutRow } from "../src/core/rows.js";
import "../src/methods/index.js";
import { DEFAULT_SYNTH, mulberry32, synthRows } from "./synth.js";
import { collectGarbage, timeMin, warmUp } from "./timing.js";
import { trieScaling } from "./trie.js";
import { benchSinkhorn } from "./toolcalls.js";

const HERE = dirname(fileURLToPath(import.meta.url));
// Compiled to dist/bench/run.js: the checkout is two levels up.
const ROOT = join(HERE, "..", "..");
const STANDARD = ["grpo", "dr-grpo", "rloo", "reinforce++", "reinforce++-baseline", "gae", "opo", "grpo-passk", "gpg"];

const { values: args } = parseArgs({
  options: {
    rollouts: { type: "string", default: String(DEFAULT_SYNTH.rollouts) },
    tokens: { type: "string", default: String(DEFAULT_SYNTH.tokens) },
    group: { type: "string", default: String(DEFAULT_SYNTH.groupSize) },
    reps: { type: "string", default: "7" },
    only: { type: "string" },
    "no-cli": { type: "boolean", default: false },
    "no-numpy": { type: "boolean", default: false },
    "no-trie": { type: "boolean", default: false },
  },
});
const synth = { rollouts: Number(args.rollouts), tokens: Number(args.tokens), groupSize: Number(args.group), seed: 1 };
const reps = Number(args.reps);

interface Prep {
  options?: Record<string, unknown>;
  prepare?: (rows: RolloutRow[], rng: () => number) => void;
}

async function loadPrep(name: string): Promise<Prep> {
  const file = join(HERE, "prep", `${name}.js`);
  if (!existsSync(file)) return {};
  return (await import(pathToFileURL(file).href)) as Prep;
}

const fmt = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : "-");

async function main(): Promise<void> {
  const methods = listMethods().map((m) => m.name).filter((m) => !args.only || args.only.split(",").includes(m));
  process.stderr.write(`bench: generating ${synth.rollouts} x ${synth.tokens} tokens in groups of ${synth.groupSize}\n`);
  const signals = knownSignals();
  // Only packed batches stay alive while timing: millions of JS numbers in row objects would make
  // every major GC (triggered by the methods' large output arrays) slow, and time the GC instead.
  const packed = (prepare?: Prep["prepare"], rollouts = synth.rollouts): RolloutBatch => {
    const rows = synthRows({ ...synth, rollouts });
    prepare?.(rows, mulberry32(2));
    return batchFromObjects(rows, "bench", { knownSignals: signals });
  };
  const base = packed();

  // --- in-process ---------------------------------------------------------------------------
  const inProcess = new Map<string, number>();
  const outputs = new Map<string, Float64Array>();
  // Methods whose inputs (LLM-judge labels, attention, ...) the synthetic batch does not carry and
  // no bench/prep file supplies: listed under the table with the reason, not timed.
  const notTimed: string[] = [];
  for (const name of methods) {
    const prep = await loadPrep(name);
    const batch = prep.prepare ? packed(prep.prepare) : base;
    const opts = prep.options ?? {};
    try {
      warmUp(name, packed(prep.prepare, 4 * synth.groupSize), opts);
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      notTimed.push(`${name} (${e.field}: ${e.detail})`);
      process.stderr.write(`  ${name}: not timed (${e.field} ${e.detail})\n`);
      continue;
    }
    collectGarbage();
    let adv: Float64Array = new Float64Array(0);
    const ms = timeMin(() => {
      adv = runMethod(name, batch, opts).advantages;
    }, reps);
    inProcess.set(name, ms);
    outputs.set(name, adv);
    process.stderr.write(`  ${name}: ${ms.toFixed(2)} ms\n`);
  }

  // --- numpy reference -----------------------------------------------------------------------
  type NumpyResult = Record<string, { ms: number; maxAbsDiff: number }>;
  let numpy: NumpyResult | null = null;
  let numpyNote = "";
  const standardHere = STANDARD.filter((m) => outputs.has(m));
  if (!args["no-numpy"] && standardHere.length) {
    const dir = mkdtempSync(join(tmpdir(), "cf-bench-"));
    const T = synth.tokens;
    writeFileSync(join(dir, "meta.json"), JSON.stringify({ n: base.n, T, reps }));
    writeFileSync(join(dir, "group.i32"), new Uint8Array(base.group.buffer));
    writeFileSync(join(dir, "reward.f64"), new Uint8Array(base.reward.buffer));
    writeFileSync(join(dir, "mask.u8"), base.mask);
    writeFileSync(join(dir, "values.f64"), new Uint8Array(base.values!.data.buffer));
    for (const m of standardHere) writeFileSync(join(dir, `adv-${m}.f64`), new Uint8Array(outputs.get(m)!.buffer));
    const r = spawnSync("python3", [join(ROOT, "bench", "numpy_ref.py"), dir], { encoding: "utf8" });
    if (r.status === 0) numpy = JSON.parse(r.stdout) as NumpyResult;
    else numpyNote = `numpy column skipped: python3 with numpy not available (${(r.stderr || String(r.error)).trim().split("\n").pop()})`;
    rmSync(dir, { recursive: true, force: true });
  }

  // --- CLI end to end --------------------------------------------------------------------------
  const cli = new Map<string, { s: number; mb: number }>();
  let cliNote = "";
  if (!args["no-cli"] && standardHere.length) {
    const dir = mkdtempSync(join(tmpdir(), "cf-bench-cli-"));
    const input = join(dir, "rollouts.jsonl");
    const lines = synthRows(synth).map((r) => JSON.stringify({ id: r.id, group: r.group, tokens: r.tokens, reward: r.reward, mask: r.mask, values: r.values }));
    writeFileSync(input, lines.join("\n") + "\n");
    const hasTime = existsSync("/usr/bin/time");
    if (!hasTime) cliNote = "peak memory needs /usr/bin/time (Debian package 'time'); wall time only";
    for (const m of standardHere) {
      const out = join(dir, "adv.jsonl");
      const cmd = [process.execPath, join(ROOT, "bin", "creditflow.js"), "assign", "--method", m, "--in", input, "--out", out];
      const t0 = performance.now();
      const r = hasTime ? spawnSync("/usr/bin/time", ["-f", "%e %M", ...cmd], { encoding: "utf8" }) : spawnSync(cmd[0], cmd.slice(1), { encoding: "utf8" });
      const wall = (performance.now() - t0) / 1000;
      if (r.status !== 0) throw new Error(`CLI run failed for ${m}: ${r.stderr}`);
      const mb = hasTime ? Number(r.stderr.trim().split("\n").pop()!.split(" ")[1]) / 1024 : NaN;
      cli.set(m, { s: wall, mb });
    }
    cliNote = `CLI input: ${(lines.reduce((a, l) => a + l.length + 1, 0) / 1e6).toFixed(1)} MB JSONL (id, group, tokens, reward, mask, values), ${base.nTokens} tokens; output advantages + returns. ${cliNote}`;
    rmSync(dir, { recursive: true, force: true });
  }

  // --- report ----------------------------------------------------------------------------------
  const grpoMs = inProcess.get("grpo") ?? NaN;
  const out: string[] = [];
  out.push(`## Credit assignment: ${synth.rollouts} rollouts x ${synth.tokens} tokens (${base.nTokens} tokens), groups of ${synth.groupSize}`);
  out.push("");
  out.push(`Node ${process.version}; in-process: minimum of ${reps} runs after a warm-up (numpy: median); ratios measured in this run.`);
  out.push("");
  out.push("| method | in-process ms | x grpo | numpy ms | numpy / creditflow | max abs diff vs numpy | CLI end-to-end s | CLI peak MB |");
  out.push("|---|---:|---:|---:|---:|---:|---:|---:|");
  for (const name of methods) {
    if (!inProcess.has(name)) continue;
    const ms = inProcess.get(name)!;
    const np = numpy ? (numpy as NumpyResult)[name] : undefined;
    const c = cli.get(name);
    out.push(`| ${name} | ${fmt(ms)} | ${fmt(ms / grpoMs)} | ${np ? fmt(np.ms) : ""} | ${np ? fmt(np.ms / ms) : ""} | ${np ? np.maxAbsDiff.toExponential(1) : ""} | ${c ? fmt(c.s) : ""} | ${c ? fmt(c.mb, 0) : ""} |`);
  }
  out.push("");
  if (notTimed.length) out.push(`Not timed (the synthetic batch lacks their inputs): ${notTimed.join("; ")}.`, "");
  if (numpyNote) out.push(numpyNote);
  if (cliNote) out.push(cliNote);

  if (!args["no-trie"]) {
    process.stderr.write("bench: prefix trie scaling (1x, 4x, 16x)\n");
    out.push("", trieScaling(reps, synth.rollouts, synth.tokens));
  }
  const sk = benchSinkhorn();
  out.push(
    "",
    "## MatchTIR soft matching (Sinkhorn, 64 predicted x 64 ground-truth tool calls)",
    "",
    "| similarity matrix ms | Sinkhorn ms (converged) | iterations | Sinkhorn ms (all 1000 iterations) |",
    "|---:|---:|---:|---:|",
    `| ${fmt(sk.similarityMs, 3)} | ${fmt(sk.ms, 3)} | ${sk.iterations} | ${fmt(sk.fullMs, 3)} |`,
  );
  const text = out.join("\n") + "\n";
  process.stdout.write(text);
  mkdirSync(join(ROOT, "bench", "out"), { recursive: true });
  writeFileSync(join(ROOT, "bench", "out", "credit.md"), text);
}

await main();
