/**
 * `creditflow bench`: the credit-assignment benchmark (credit fidelity against the oracle
 * advantage, learning efficiency at equal sampling cost) on chosen tasks and methods, writing
 * results.json, report.md and a self-contained report.html. Exports runBenchCommand(argv) ->
 * exit code.
 */
import { exitCodeOf } from "./args.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../core/errors.js";
import { useBackend } from "../train/tf.js";
import { DEFAULT_TRAIN, mergeConfig, validateConfig } from "../train/config.js";
import { DEFAULT_SFT_STEPS, DEFAULT_TASKS, defaultBenchOptions, runBench, type BenchOptions } from "../creditbench/run.js";
import { DEFAULT_FIDELITY } from "../creditbench/fidelity.js";
import { DEFAULT_EFFICIENCY } from "../creditbench/efficiency.js";

export const BENCH_HELP = `usage: creditflow bench [options]

Scores credit-assignment methods against the truth on verifiable tasks:
  fidelity    each method's per-token credit on the same sampled groups against the oracle
              advantage A*(s_t, a_t) = V(s_{t+1}) - V(s_t) (Monte Carlo continuations from every
              prefix with 95% intervals, exact where the task allows): rank and linear
              correlation, sign agreement and credit mass on decisive tokens
  efficiency  each method trained by the trainer from one shared warm start per task with the
              same budget of sampled tokens (all counted), several seeds: held-out accuracy at
              fixed budgets and tokens to a threshold, as ratios to GRPO
Writes OUT/results.json, OUT/report.md and OUT/report.html (inline SVG plots, no network).

options:
  --part P             fidelity, efficiency or all (default all)
  --tasks A,B          tasks (default ${DEFAULT_TASKS.join(",")})
  --methods A,B        methods (default: every applicable one; efficiency needs grpo in the list)
  --seeds N|A,B        efficiency seeds: a count (0..N-1) or a list (default ${DEFAULT_EFFICIENCY.seeds.join(",")})
  --budget N           sampled-token budget of every training run (default ${DEFAULT_EFFICIENCY.budget})
  --eval-every N       evaluate every N steps (default ${DEFAULT_EFFICIENCY.evalEvery})
  --eval-n N           held-out prompts per evaluation (default ${DEFAULT_EFFICIENCY.evalN})
  --threshold X        accuracy threshold for tokens-to-threshold (default: per task, halfway from the
                       warm start to GRPO's mean final accuracy)
  --train-config FILE  JSON trainer overrides deep-merged into every run (default ${JSON.stringify(DEFAULT_EFFICIENCY.train)})
  --groups N           fidelity: prompts per task (default ${DEFAULT_FIDELITY.groups})
  --group-size G       fidelity: responses per prompt (default ${DEFAULT_FIDELITY.groupSize})
  --k K                fidelity: Monte Carlo continuations per prefix (default ${DEFAULT_FIDELITY.K})
  --heatmaps N         fidelity: responses shown as token heatmaps per task (default ${DEFAULT_FIDELITY.heatmaps})
  --workers N          fidelity: sampling threads (default 1; same results)
  --sft-steps SPEC     warm-start SFT steps: N for every task or task=N,task=N
                       (default ${Object.entries(DEFAULT_SFT_STEPS).map(([k, v]) => `${k}=${v}`).join(",")})
  --model FILE         JSON model overrides (as \`creditflow sft --model\`)
  --cache DIR          warm-start cache (default OUT/warm)
  --out DIR            output directory (default runs/creditbench)
  --backend B          wasm (default) or cpu
  --quiet              no progress lines
  -h, --help           this help
`;

function intList(flag: string, v: string): number[] {
  const xs = v.split(",").map((s) => Number(s.trim()));
  if (xs.some((x) => !Number.isInteger(x) || x < 0)) throw new ConfigError(`${flag} needs non-negative integers, got ${v}`);
  return xs;
}

function posInt(flag: string, v: string, min = 1): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new ConfigError(`${flag} needs an integer >= ${min}, got ${v}`);
  return n;
}

function readJsonFile(flag: string, path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new ConfigError(`${flag} ${path}: ${(e as Error).message}`);
  }
}

export function parseBenchArgs(argv: readonly string[]): { options: BenchOptions; help: boolean; quiet: boolean; backend: "wasm" | "cpu" } {
  const o = defaultBenchOptions();
  o.command = ["creditflow bench", ...argv].join(" ");
  let help = false, quiet = false;
  let backend: "wasm" | "cpu" = "wasm";
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k];
    const next = (): string => {
      const v = argv[++k];
      if (v === undefined) throw new ConfigError(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case "-h": case "--help": help = true; break;
      case "--quiet": quiet = true; break;
      case "--part": {
        const p = next();
        if (p !== "fidelity" && p !== "efficiency" && p !== "all") throw new ConfigError(`--part must be fidelity, efficiency or all, got ${p}`);
        o.part = p;
        break;
      }
      case "--tasks": o.tasks = next().split(",").map((s) => s.trim()).filter(Boolean); break;
      case "--methods": o.methods = next().split(",").map((s) => s.trim()).filter(Boolean); break;
      case "--seeds": {
        const v = next();
        o.efficiency.seeds = v.includes(",") ? intList(a, v) : Array.from({ length: posInt(a, v) }, (_, i) => i);
        break;
      }
      case "--budget": o.efficiency.budget = posInt(a, next()); break;
      case "--eval-every": o.efficiency.evalEvery = posInt(a, next()); break;
      case "--eval-n": o.efficiency.evalN = posInt(a, next()); break;
      case "--threshold": {
        const x = Number(next());
        if (!(x >= 0 && x <= 1)) throw new ConfigError("--threshold needs a number in [0, 1]");
        o.threshold = x;
        break;
      }
      case "--train-config": {
        const raw = readJsonFile(a, next());
        if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new ConfigError(`${a}: expected a JSON object`);
        o.efficiency.train = { ...o.efficiency.train, ...(raw as Record<string, unknown>) };
        // Checked now, like train --config: an unknown key or a bad value must not surface later as a failed run.
        validateConfig(mergeConfig(structuredClone(DEFAULT_TRAIN), o.efficiency.train, "--train-config"), "--train-config");
        break;
      }
      case "--groups": o.fidelity.groups = posInt(a, next()); break;
      case "--group-size": o.fidelity.groupSize = posInt(a, next(), 2); break;
      case "--k": o.fidelity.K = posInt(a, next(), 2); break;
      case "--heatmaps": o.fidelity.heatmaps = posInt(a, next(), 0); break;
      case "--workers": o.fidelity.workers = posInt(a, next()); break;
      case "--sft-steps": {
        const v = next();
        if (/^\d+$/.test(v)) {
          const n = posInt(a, v, 0);
          for (const t of [...o.tasks, ...Object.keys(o.sftSteps)]) o.sftSteps[t] = n;
          o.sftSteps["*"] = n;
        } else {
          for (const part of v.split(",")) {
            const m = /^([\w-]+)=(\d+)$/.exec(part.trim());
            if (!m) throw new ConfigError(`--sft-steps: expected N or task=N,..., got ${v}`);
            o.sftSteps[m[1]] = Number(m[2]);
          }
        }
        break;
      }
      case "--model": o.model = mergeConfig(o.model, readJsonFile(a, next()), "model"); break;
      case "--cache": o.cacheDir = next(); break;
      case "--out": o.out = next(); break;
      case "--backend": {
        const b = next();
        if (b !== "wasm" && b !== "cpu") throw new ConfigError(`--backend must be wasm or cpu, got ${b}`);
        backend = b;
        break;
      }
      default:
        throw new ConfigError(`unknown option '${a}' (see creditflow bench --help)`);
    }
  }
  // A bare --sft-steps N also covers tasks named after it on the command line.
  if (o.sftSteps["*"] !== undefined) {
    for (const t of o.tasks) o.sftSteps[t] = o.sftSteps["*"];
    delete o.sftSteps["*"];
  }
  if (o.tasks.length === 0) throw new ConfigError("--tasks needs at least one task");
  return { options: o, help, quiet, backend };
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
