/**
 * `creditflow bench`: the credit-assignment benchmark (credit fidelity against the oracle
 * advantage, learning efficiency at equal sampling cost) on chosen tasks and methods, writing
 * results.json, report.md and a self-contained report.html. Exports runBenchCommand(argv) ->
 * exit code.
 */
import { BACKEND_FLAG, BACKENDS, choiceFlag, commandHelp, defineCommand, exitCodeOf, intFlag, numberFlag, parseCommand } from "./args.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../core/errors.js";
import { useBackend } from "../train/policy/tf.js";
import { DEFAULT_TRAIN, mergeConfig, validateConfig } from "../train/config.js";
import { DEFAULT_SFT_STEPS, DEFAULT_TASKS, defaultBenchOptions, runBench, type BenchOptions } from "../creditbench/run.js";
import { DEFAULT_FIDELITY } from "../creditbench/fidelity.js";
import { DEFAULT_EFFICIENCY } from "../creditbench/efficiency.js";
import { SAMPLER_KINDS } from "../train/policy-sampling.js";

export const BENCH_COMMAND = defineCommand({
  name: "bench",
  description: `Scores credit-assignment methods against the truth on verifiable tasks:
  fidelity    each method's per-token credit on the same sampled groups against the oracle
              advantage A*(s_t, a_t) = V(s_{t+1}) - V(s_t) (Monte Carlo continuations from every
              prefix with 95% intervals, exact where the task allows): rank and linear
              correlation, sign agreement and credit mass on decisive tokens
  efficiency  each method trained by the trainer from one shared warm start per task with the
              same budget of sampled tokens (all counted), several seeds: held-out accuracy at
              fixed budgets and tokens to a threshold, as ratios to GRPO
Writes OUT/results.json, OUT/report.md and OUT/report.html (inline SVG plots, no network).`,
  flags: {
    part: { type: "string", value: "P", doc: "fidelity, efficiency or all (default all)" },
    tasks: { type: "string", value: "A,B", doc: `tasks (default ${DEFAULT_TASKS.join(",")})` },
    methods: { type: "string", value: "A,B", doc: "methods (default: every applicable one; efficiency needs grpo in the list)" },
    seeds: { type: "string", value: "N|A,B", doc: `efficiency seeds: a count (0..N-1) or a list (default ${DEFAULT_EFFICIENCY.seeds.join(",")})` },
    budget: { type: "string", value: "N", doc: `sampled-token budget of every training run (default ${DEFAULT_EFFICIENCY.budget})` },
    "eval-every": { type: "string", value: "N", doc: `evaluate every N steps (default ${DEFAULT_EFFICIENCY.evalEvery})` },
    "eval-n": { type: "string", value: "N", doc: `held-out prompts per evaluation (default ${DEFAULT_EFFICIENCY.evalN})` },
    threshold: { type: "string", value: "X", doc: "accuracy threshold for tokens-to-threshold (default: per task, halfway from the\nwarm start to GRPO's mean final accuracy)" },
    "train-config": { type: "string", value: "FILE", doc: `JSON trainer overrides deep-merged into every run (default ${JSON.stringify(DEFAULT_EFFICIENCY.train)});\nkeys as in docs/training.md` },
    groups: { type: "string", value: "N", doc: `fidelity: prompts per task (default ${DEFAULT_FIDELITY.groups})` },
    "group-size": { type: "string", value: "G", doc: `fidelity: responses per prompt (default ${DEFAULT_FIDELITY.groupSize})` },
    k: { type: "string", value: "K", doc: `fidelity: Monte Carlo continuations per prefix (default ${DEFAULT_FIDELITY.K})` },
    heatmaps: { type: "string", value: "N", doc: `fidelity: responses shown as token heatmaps per task (default ${DEFAULT_FIDELITY.heatmaps})` },
    workers: { type: "string", value: "N", doc: "fidelity: sampling threads (default 1; same results)" },
    sampler: { type: "string", value: "NAME", doc: "what samples groups, oracle continuations and training runs: builtin (default),\nllamacpp or llamacpp-native (the policy exported to GGUF; docs/backends.md)" },
    "sft-steps": { type: "string", value: "SPEC", doc: `warm-start SFT steps: N for every task or task=N,task=N\n(default ${Object.entries(DEFAULT_SFT_STEPS).map(([k, v]) => `${k}=${v}`).join(",")})` },
    model: { type: "string", value: "FILE", doc: "JSON model overrides (as `creditflow sft --model`)" },
    cache: { type: "string", value: "DIR", doc: "warm-start cache (default OUT/warm)" },
    out: { type: "string", value: "DIR", doc: "output directory (default runs/creditbench)" },
    backend: BACKEND_FLAG,
    quiet: { type: "boolean", doc: "no progress lines" },
    help: { type: "boolean", short: "h", doc: "this help" },
  },
});

export const BENCH_HELP = commandHelp(BENCH_COMMAND);

function intList(flag: string, v: string): number[] {
  return v.split(",").map((x) => intFlag(flag, x.trim()));
}

function readJsonFile(flag: string, path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new ConfigError(`--${flag} ${path}: ${(e as Error).message}`);
  }
}

const list = (v: string): string[] => v.split(",").map((x) => x.trim()).filter(Boolean);

export function parseBenchArgs(argv: readonly string[]): { options: BenchOptions; help: boolean; quiet: boolean; backend: "wasm" | "cpu" } {
  const { values: f } = parseCommand(BENCH_COMMAND, [...argv]);
  const o = defaultBenchOptions();
  o.command = ["creditflow bench", ...argv].join(" ");
  if (f.part !== undefined) o.part = choiceFlag("part", f.part, ["fidelity", "efficiency", "all"] as const);
  if (f.tasks !== undefined) o.tasks = list(f.tasks);
  if (f.methods !== undefined) o.methods = list(f.methods);
  if (f.seeds !== undefined) o.efficiency.seeds = f.seeds.includes(",") ? intList("seeds", f.seeds) : Array.from({ length: intFlag("seeds", f.seeds, 1) }, (_, i) => i);
  if (f.budget !== undefined) o.efficiency.budget = intFlag("budget", f.budget, 1);
  if (f["eval-every"] !== undefined) o.efficiency.evalEvery = intFlag("eval-every", f["eval-every"], 1);
  if (f["eval-n"] !== undefined) o.efficiency.evalN = intFlag("eval-n", f["eval-n"], 1);
  if (f.threshold !== undefined) o.threshold = numberFlag("threshold", f.threshold, -Number.MIN_VALUE, 1);
  if (f["train-config"] !== undefined) {
    const raw = readJsonFile("train-config", f["train-config"]);
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new ConfigError(`--train-config: expected a JSON object`);
    o.efficiency.train = { ...o.efficiency.train, ...(raw as Record<string, unknown>) };
    // Checked now, like train --config: an unknown key or a bad value must not surface later as a failed run.
    validateConfig(mergeConfig(structuredClone(DEFAULT_TRAIN), o.efficiency.train, "--train-config"), "--train-config");
  }
  if (f.groups !== undefined) o.fidelity.groups = intFlag("groups", f.groups, 1);
  if (f["group-size"] !== undefined) o.fidelity.groupSize = intFlag("group-size", f["group-size"], 2);
  if (f.k !== undefined) o.fidelity.K = intFlag("k", f.k, 2);
  if (f.heatmaps !== undefined) o.fidelity.heatmaps = intFlag("heatmaps", f.heatmaps);
  if (f.workers !== undefined) o.fidelity.workers = intFlag("workers", f.workers, 1);
  if (f.sampler !== undefined) {
    o.fidelity.sampler = choiceFlag("sampler", f.sampler, SAMPLER_KINDS);
    o.efficiency.train = { ...o.efficiency.train, sampler: o.fidelity.sampler };
  }
  if (f["sft-steps"] !== undefined) {
    const v = f["sft-steps"];
    if (/^\d+$/.test(v)) {
      // A bare N covers every task, the ones named by --tasks included.
      for (const t of [...o.tasks, ...Object.keys(o.sftSteps)]) o.sftSteps[t] = intFlag("sft-steps", v);
    } else {
      for (const part of v.split(",")) {
        const m = /^([\w-]+)=(\d+)$/.exec(part.trim());
        if (!m) throw new ConfigError(`--sft-steps: expected N or task=N,..., got ${v}`);
        o.sftSteps[m[1]] = Number(m[2]);
      }
    }
  }
  if (f.model !== undefined) o.model = mergeConfig(o.model, readJsonFile("model", f.model), "model");
  if (f.cache !== undefined) o.cacheDir = f.cache;
  if (f.out !== undefined) o.out = f.out;
  if (o.tasks.length === 0) throw new ConfigError("--tasks needs at least one task");
  return { options: o, help: f.help === true, quiet: f.quiet === true, backend: f.backend === undefined ? "wasm" : choiceFlag("backend", f.backend, BACKENDS) };
}

export function runBenchCommand(argv: string[]): Promise<number> {
  return exitCodeOf(async () => {
    const a = parseBenchArgs(argv);
    if (a.help) {
      process.stdout.write(BENCH_HELP);
      return 0;
    }
    await useBackend(a.backend);
    const log = (s: string) => {
      if (!a.quiet) process.stderr.write(s + "\n");
    };
    const o = a.options;
    log(`creditflow bench: part ${o.part}, tasks ${o.tasks.join(",")}, ${o.methods ? `methods ${o.methods.join(",")}` : "every applicable method"} -> ${o.out}`);
    const res = await runBench(o, log);
    log(`done in ${(res.seconds / 60).toFixed(1)} min: ${join(o.out, "report.html")}, ${join(o.out, "report.md")}, ${join(o.out, "results.json")}`);
    return 0;
  });
}
