/**
 * `creditflow train`: RL on a verifiable task with any registered credit-assignment method.
 * Exports runTrainCommand(argv) -> exit code (the dispatcher in main.ts calls it).
 */
import { exitCodeOf } from "./args.js";
import { join } from "node:path";
import { ConfigError } from "../core/errors.js";
import { parseConfigArg } from "./args.js";
import { useBackend } from "../train/tf.js";
import { preflightNewRun, preflightResume } from "../train/rundir.js";
import { DEFAULT_TRAIN, mergeConfig, validateConfig, type TrainConfig } from "../train/config.js";
import { checkTrainable, runTraining, TRAINER_METHODS, type ProgressInfo } from "../train/trainer.js";

export const TRAIN_HELP = `usage: creditflow train [options]

Reinforcement learning of a small llama-layout transformer (tfjs, wasm backend, CPU) on a
verifiable task, with credit assigned by any method creditflow knows. With no options it runs
the default: a short deterministic SFT warm start, then GRPO on ${DEFAULT_TRAIN.task}, in a few minutes,
printing held-out accuracy before and after.

options:
  --task NAME          task (addition, addition-3d, countdown, decisive, or addition-<d>d[-u]; default ${DEFAULT_TRAIN.task})
  --method NAME        credit-assignment method (default ${DEFAULT_TRAIN.method}); any registered method whose
                       inputs the trainer can produce, plus trainer-only: ${TRAINER_METHODS.join(", ")}
  --config JSON|FILE   trainer configuration (inline JSON or a file), deep-merged over the defaults
                       (DIR/config.json of any run lists every key); "methodOptions" holds the method's
  --method-config JSON|FILE
                       the method's options alone, exactly as \`creditflow assign --config\` takes them
  --steps N            RL steps (default ${DEFAULT_TRAIN.steps})
  --group G            responses per prompt (default ${DEFAULT_TRAIN.group})
  --prompts N          prompts per step (default ${DEFAULT_TRAIN.promptsPerStep})
  --seed S             seed of everything (default ${DEFAULT_TRAIN.seed})
  --warm-start FILE    policy file from \`creditflow sft\` (default: run a short SFT first)
  --workers N          sampling threads (default 1; N > 1 samples on N worker threads, same results)
  --out DIR            run directory (default runs/<task>-<method>-<seed>)
  --resume             continue the run in --out from its last checkpoint, exactly (with the
                       run's saved configuration; other flags are ignored)
  --force              start a new run in an --out that already holds one, replacing it
                       (without it, such an --out is refused)
  --backend B          wasm (default) or cpu
  --quiet              no progress bar
  -h, --help           this help

DIR holds config.json (the full resolved configuration), metrics.jsonl (one JSON object per
step: step, reward_mean, accuracy, sampled_tokens (cumulative, every sampled token), ...,
eval_accuracy on evaluation steps), checkpoint.json (model, optimizer, RNG, step; written
atomically), warm-start.json and summary.json.
`;

interface Parsed {
  config: TrainConfig;
  out: string | null;
  resume: boolean;
  force: boolean;
  backend: "wasm" | "cpu";
  quiet: boolean;
  help: boolean;
}

/** Inline JSON or a JSON file, as `creditflow assign --config` reads them; errors name `flag`. */
function jsonArg(flag: string, value: string): unknown {
  try {
    return parseConfigArg(value);
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError(e.message.replace(/^--config/, flag));
    throw e;
  }
}

function intArg(flag: string, v: string | undefined): number {
  const n = Number(v);
  if (v === undefined || !Number.isInteger(n) || n < 0) throw new ConfigError(`${flag} needs a non-negative integer, got ${v ?? "nothing"}`);
  return n;
}

export function parseTrainArgs(argv: readonly string[]): Parsed {
  let config: TrainConfig = structuredClone(DEFAULT_TRAIN);
  const flags: Record<string, string> = {};
  let resume = false, quiet = false, help = false, force = false;
  let backend: "wasm" | "cpu" = "wasm";
  let out: string | null = null;
  let configFile: string | null = null, methodConfig: string | null = null;
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k];
    const next = (): string => {
      const v = argv[++k];
      if (v === undefined) throw new ConfigError(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case "-h":
      case "--help": help = true; break;
      case "--resume": resume = true; break;
      case "--force": force = true; break;
      case "--quiet": quiet = true; break;
      case "--config": configFile = next(); break;
      case "--method-config": methodConfig = next(); break;
      case "--out": out = next(); break;
      case "--backend": {
        const b = next();
        if (b !== "wasm" && b !== "cpu") throw new ConfigError(`--backend must be wasm or cpu, got ${b}`);
        backend = b;
        break;
      }
      case "--task": case "--method": case "--steps": case "--group": case "--prompts": case "--seed": case "--warm-start": case "--workers":
        flags[a] = next();
        break;
      default:
        throw new ConfigError(`unknown option '${a}' (see creditflow train --help)`);
    }
  }
  if (configFile) config = mergeConfig(config, jsonArg("--config", configFile));
  if (methodConfig) {
    const o = jsonArg("--method-config", methodConfig);
    if (typeof o !== "object" || o === null || Array.isArray(o)) throw new ConfigError("--method-config must be a JSON object");
    config.methodOptions = o as Record<string, unknown>;
  }
  if (flags["--task"]) config.task = flags["--task"];
  if (flags["--method"]) config.method = flags["--method"];
  if (flags["--steps"] !== undefined) config.steps = intArg("--steps", flags["--steps"]);
  if (flags["--group"] !== undefined) config.group = intArg("--group", flags["--group"]);
  if (flags["--prompts"] !== undefined) config.promptsPerStep = intArg("--prompts", flags["--prompts"]);
  if (flags["--seed"] !== undefined) config.seed = intArg("--seed", flags["--seed"]);
  if (flags["--warm-start"]) config.warmStart = flags["--warm-start"];
  if (flags["--workers"] !== undefined) config.workers = intArg("--workers", flags["--workers"]);
  if (resume && force) throw new ConfigError("--resume and --force contradict each other (continue the run, or replace it)");
  return { config, out, resume, force, backend, quiet, help };
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(Math.round(s % 60)).padStart(2, "0")}s` : `${Math.round(s)}s`;
}

/** The progress bar: one line, redrawn in place on a terminal, printed every ~10% otherwise. */
function progressPrinter(quiet: boolean): (p: ProgressInfo) => void {
  const tty = process.stderr.isTTY === true;
  let lastPrinted = 0;
  return (p) => {
    if (quiet) return;
    const width = 20;
    const done = Math.round((width * p.step) / Math.max(1, p.steps));
    const bar = "#".repeat(done) + ".".repeat(width - done);
    const m = p.metrics;
    const line = `[${bar}] step ${p.step}/${p.steps}  reward ${m.reward_mean.toFixed(3)}  acc ${m.accuracy.toFixed(3)}` +
      `  eval ${p.evalAccuracy === null ? "-" : p.evalAccuracy.toFixed(3)}  ${Math.round(m.tokens_per_s)} tok/s  ETA ${fmtTime(p.etaSeconds)}`;
    if (tty) process.stderr.write(`\r${line}\x1b[K${p.step === p.steps ? "\n" : ""}`);
    else if (p.step === p.steps || p.step - lastPrinted >= Math.max(1, Math.floor(p.steps / 10))) {
      process.stderr.write(line + "\n");
      lastPrinted = p.step;
    }
  };
}

export function runTrainCommand(argv: string[]): Promise<number> {
  return exitCodeOf(async () => {
    const a = parseTrainArgs(argv);
    if (a.help) {
      process.stdout.write(TRAIN_HELP);
      return 0;
    }
    if (!a.resume) {
      validateConfig(a.config);
      checkTrainable(a.config.method);
    }
    const out = a.out ?? join("runs", `${a.config.task}-${a.config.method}-${a.config.seed}`);
    // Everything the run reads is checked before anything is written.
    if (a.resume) preflightResume(out);
    else preflightNewRun(out, a.config, a.force);
    await useBackend(a.backend);
    const log = (s: string) => {
      if (!a.quiet) process.stderr.write(s + "\n");
    };
    log(`creditflow train: ${a.resume ? "resuming" : `task ${a.config.task}, method ${a.config.method}, ${a.config.steps} steps, seed ${a.config.seed}`} -> ${out}`);
    const s = await runTraining(a.config, { outDir: out, resume: a.resume, onProgress: progressPrinter(a.quiet), onLog: log });
    const f = (x: number | null) => (x === null ? "-" : x.toFixed(3));
    log(`done: ${s.steps} steps, ${s.sampledTokens} sampled tokens, ${fmtTime(s.seconds)}; held-out accuracy ${f(s.warmStartEvalAccuracy)} (warm start) -> ${f(s.finalEvalAccuracy)}`);
    log(`metrics: ${join(out, "metrics.jsonl")}`);
    return 0;
  });
}
