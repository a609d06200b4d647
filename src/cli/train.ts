/**
 * `creditflow train`: RL on a verifiable task with any registered credit-assignment method.
 * Exports runTrainCommand(argv) -> exit code (the dispatcher in main.ts calls it).
 */
import { BACKEND_FLAG, BACKENDS, choiceFlag, commandHelp, defineCommand, exitCodeOf, intFlag, parseCommand } from "./args.js";
import { join } from "node:path";
import { ConfigError } from "../core/errors.js";
import { parseConfigArg } from "./args.js";
import { useBackend } from "../train/policy/tf.js";
import { preflightNewRun, preflightResume } from "../train/rundir.js";
import { DEFAULT_TRAIN, mergeConfig, validateConfig, type TrainConfig } from "../train/config.js";
import { checkRun, runTraining, trainableMethods, type ProgressInfo } from "../train/trainer.js";
import { taskFor } from "../train/adapters/index.js";
import { resolveTask } from "../train/tasks.js";
import { SAMPLER_KINDS } from "../train/policy-sampling.js";

export const TRAIN_COMMAND = defineCommand({
  name: "train",
  description: `Reinforcement learning of a small llama-layout transformer (tfjs, wasm backend, CPU) on a
verifiable task, with credit assigned by any method creditflow knows. With no options it runs
the default: a short deterministic SFT warm start, then GRPO on ${DEFAULT_TRAIN.task}, in a few minutes,
printing held-out accuracy before and after.`,
  flags: {
    task: { type: "string", value: "NAME", doc: `task (addition, addition-3d, countdown, decisive, chain, rank, tools, or addition-<d>d[-u];\ndefault ${DEFAULT_TRAIN.task}, or the task that provides the method's inputs: chain for pure, oprl,\ncapo, hicra, groundedprm, brpo; tools (multi-turn) for matchtir, gigpo, r3l; rank for rank-grpo)` },
    method: { type: "string", value: "NAME", doc: `credit-assignment method (default ${DEFAULT_TRAIN.method}); any registered method whose\ninputs the trainer can produce: ${trainableMethods().join(", ")}` },
    config: { type: "string", value: "JSON|FILE", doc: "trainer configuration (inline JSON or a file), deep-merged over the defaults;\nevery key is in docs/training.md" },
    "method-config": { type: "string", value: "JSON|FILE", doc: "the method's options alone, exactly as `creditflow assign --config` takes them" },
    steps: { type: "string", value: "N", doc: `RL steps (default ${DEFAULT_TRAIN.steps})` },
    group: { type: "string", value: "G", doc: `responses per prompt (default ${DEFAULT_TRAIN.group})` },
    prompts: { type: "string", value: "N", doc: `prompts per step (default ${DEFAULT_TRAIN.promptsPerStep})` },
    seed: { type: "string", value: "S", doc: `seed of everything (default ${DEFAULT_TRAIN.seed})` },
    "warm-start": { type: "string", value: "FILE", doc: "policy file from `creditflow sft` (default: run a short SFT first)" },
    "dpo-policy": { type: "string", value: "FILE", doc: "a DPO-trained policy file (the policy.json of `creditflow prefer --method dpo`):\nits log-probs of each response are signals.dpo_logprobs, which rto, dpo-token-reward\nand tgdpo need (other methods refuse it)" },
    workers: { type: "string", value: "N", doc: "sampling threads (default 1; N > 1 samples on N worker threads, same results)" },
    sampler: { type: "string", value: "NAME", doc: "what samples the rollouts: builtin (default), llamacpp or llamacpp-native (the\npolicy exported to GGUF after each update and run by llama.cpp; docs/backends.md)" },
    out: { type: "string", value: "DIR", doc: "run directory (default runs/<task>-<method>-<seed>)" },
    resume: { type: "boolean", doc: "continue the run in --out from its last checkpoint, exactly (with the\nrun's saved configuration; other flags are ignored)" },
    force: { type: "boolean", doc: "start a new run in an --out that already holds one, replacing it\n(without it, such an --out is refused)" },
    backend: BACKEND_FLAG,
    quiet: { type: "boolean", doc: "no progress bar" },
    help: { type: "boolean", short: "h", doc: "this help" },
  },
  footer: `DIR holds config.json (the full resolved configuration), metrics.jsonl (one JSON object per
step: step, reward_mean, accuracy, sampled_tokens (cumulative, every sampled token), ...,
eval_accuracy on evaluation steps), checkpoint.json (model, optimizer, RNG, step; written
atomically), warm-start.json and summary.json.`,
});

export const TRAIN_HELP = commandHelp(TRAIN_COMMAND);

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

export function parseTrainArgs(argv: readonly string[]): Parsed {
  const { values: f } = parseCommand(TRAIN_COMMAND, [...argv]);
  let config: TrainConfig = structuredClone(DEFAULT_TRAIN);
  if (f.config !== undefined) config = mergeConfig(config, jsonArg("--config", f.config));
  if (f["method-config"] !== undefined) {
    const o = jsonArg("--method-config", f["method-config"]);
    if (typeof o !== "object" || o === null || Array.isArray(o)) throw new ConfigError("--method-config must be a JSON object");
    config.methodOptions = o as Record<string, unknown>;
  }
  if (f.method) config.method = f.method;
  const taskGiven = f.task !== undefined || (typeof config.task === "string" && config.task !== DEFAULT_TRAIN.task);
  if (f.task) config.task = f.task;
  // Without --task, a method whose inputs the default task lacks trains on a task that provides them.
  else if (!taskGiven) config.task = taskFor(config.method, config.task);
  if (f.steps !== undefined) config.steps = intFlag("steps", f.steps);
  if (f.group !== undefined) config.group = intFlag("group", f.group);
  if (f.prompts !== undefined) config.promptsPerStep = intFlag("prompts", f.prompts);
  if (f.seed !== undefined) config.seed = intFlag("seed", f.seed);
  if (f["warm-start"]) config.warmStart = f["warm-start"];
  if (f["dpo-policy"] !== undefined) config.dpoPolicy = f["dpo-policy"];
  if (f.workers !== undefined) config.workers = intFlag("workers", f.workers);
  if (f.sampler !== undefined) config.sampler = choiceFlag("sampler", f.sampler, SAMPLER_KINDS);
  const resume = f.resume === true, force = f.force === true;
  if (resume && force) throw new ConfigError("--resume and --force contradict each other (continue the run, or replace it)");
  return {
    config, out: f.out ?? null, resume, force, backend: f.backend === undefined ? "wasm" : choiceFlag("backend", f.backend, BACKENDS),
    quiet: f.quiet === true, help: f.help === true,
  };
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
      `  eval ${p.evalAccuracy === null ? "-" : p.evalAccuracy.toFixed(3)}${p.evalSampledAccuracy === null ? "" : ` (sampled ${p.evalSampledAccuracy.toFixed(3)})`}  ${Math.round(m.tokens_per_s)} tok/s  ETA ${fmtTime(p.etaSeconds)}`;
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
      checkRun(a.config, resolveTask(a.config.task));
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
    log(`done: ${s.steps} steps, ${s.sampledTokens} sampled tokens, ${fmtTime(s.seconds)}; held-out accuracy ${f(s.warmStartEvalAccuracy)} (warm start) -> ${f(s.finalEvalAccuracy)} greedy` +
      (s.warmStartEvalSampledAccuracy === null ? "" : `, ${f(s.warmStartEvalSampledAccuracy)} -> ${f(s.finalEvalSampledAccuracy)} sampled`));
    log(`metrics: ${join(out, "metrics.jsonl")}`);
    return 0;
  });
}
