/**
 * `creditflow prefer`: preference training of the built-in policy with DPO, IPO or a token-level
 * method (TDPO, TGDPO, cDPO, T-REG, AlignDistil) on pairs built from a task's verifier, and InTRO
 * (on its own correct samples) and RMT (on a corpus of demonstrations), measured on the same pairs.
 */
import { join } from "node:path";
import { BACKEND_FLAG, BACKENDS, choiceFlag, commandHelp, defineCommand, exitCodeOf, intFlag, parseCommand, parseConfigArg } from "./args.js";
import { ConfigError } from "../core/errors.js";
import { useBackend } from "../train/policy/tf.js";
import { DEFAULT_TRAIN, mergeConfig } from "../train/config.js";
import { preflightNewRun } from "../train/rundir.js";
import { AUX_MODELS, DEFAULT_PREFER, PREFER_METHODS, validatePreferConfig, type PreferConfig } from "../train/prefer-config.js";
import { preflightPreferMethod, preflightPreferResume, runPrefer, type PreferProgress } from "../train/prefer.js";
import { checkPolicyFile } from "../train/rundir.js";
import { buildInterventions, DEFAULT_INTERVENTION, interventionSft } from "../train/prefer-int.js";
import { readPolicyFile, writePolicyFile } from "../train/checkpoint.js";
import { evaluate } from "../train/evaluate.js";
import { resolveTask } from "../train/tasks.js";
import { Rng } from "../train/rng.js";
import type { SftConfig } from "../train/sft.js";
import { checkOutputPath } from "../io/files.js";

export const PREFER_COMMAND = defineCommand({
  name: "prefer",
  description: `Preference training of the small llama-layout policy on a verifiable task: a supervised warm
start (the reference), (correct, incorrect) response pairs sampled from it and judged by the
task's verifier (plus a held-out pair set), the extra models the method needs (DPO, reverse-DPO,
positive or negative models, each announced with its cost), then the policy. Methods:
${PREFER_METHODS.join(", ")} (docs/preference.md). intro trains on its own correct samples
with answer-conditioned correction factors, rmt on a corpus of the task's demonstrations,
laser-loss the self-reward of its own samples; the pairs then only measure them.`,
  flags: {
    task: { type: "string", value: "NAME", doc: `task (default ${DEFAULT_PREFER.task})` },
    method: { type: "string", value: "M", doc: `preference objective (default ${DEFAULT_PREFER.method})` },
    config: { type: "string", value: "JSON|FILE", doc: "configuration (inline JSON or a file) deep-merged over the defaults (src/train/prefer-config.ts)" },
    steps: { type: "string", value: "N", doc: `policy updates (default ${DEFAULT_PREFER.steps})` },
    seed: { type: "string", value: "S", doc: `seed of everything (default ${DEFAULT_PREFER.seed})` },
    "warm-start": { type: "string", value: "FILE", doc: "policy file from `creditflow sft` as the reference (default: run a short SFT)" },
    out: { type: "string", value: "DIR", doc: "run directory (default runs/prefer-<task>-<method>-<seed>)" },
    resume: { type: "boolean", doc: "continue the run in --out from its last checkpoint, exactly" },
    force: { type: "boolean", doc: "replace a run already in --out" },
    backend: BACKEND_FLAG,
    quiet: { type: "boolean", doc: "no progress output" },
    help: { type: "boolean", short: "h", doc: "this help" },
  },
  footer: `DIR holds config.json, metrics.jsonl (one JSON object per update: step, loss, pair_accuracy,
grad_norm, lr; heldout_pair_accuracy and eval_accuracy (greedy, held-out prompts) on evaluation
steps; intro, rmt and laser-loss: sample_accuracy and sampled_tokens instead of pair_accuracy;
laser-loss: self_reward_balanced_accuracy, and heldout_self_reward_balanced_accuracy on evaluation steps),
checkpoint.json (written atomically), warm-start.json (the reference), pairs.json,
aux-<model>.json for the extra models, summary.json, and policy.json (the trained policy as a
policy file, when the run finishes: \`train --dpo-policy\` or \`--warm-start\` reads it).`,
});

export const PREFER_HELP = commandHelp(PREFER_COMMAND);

export function parsePreferArgs(argv: string[]): { config: PreferConfig; out: string | null; resume: boolean; force: boolean; backend: "wasm" | "cpu"; quiet: boolean; help: boolean } {
  const { values: f } = parseCommand(PREFER_COMMAND, argv);
  let config: PreferConfig = structuredClone(DEFAULT_PREFER);
  if (f.config !== undefined) {
    try {
      // mergeConfig takes a `methodOptions` whole (train's are the method's own); prefer's have
      // defaults for every method, so they are merged key by key like the rest.
      const raw = parseConfigArg(f.config);
      const isObject = typeof raw === "object" && raw !== null && !Array.isArray(raw);
      const { methodOptions, ...rest } = isObject ? (raw as Record<string, unknown>) : {};
      config = mergeConfig(config, isObject ? rest : raw);
      config.methodOptions = mergeConfig(config.methodOptions, methodOptions, "config.methodOptions");
    } catch (e) {
      throw e instanceof ConfigError ? new ConfigError(e.message) : e;
    }
  }
  if (f.task) config.task = f.task;
  if (f.method) config.method = choiceFlag("method", f.method, PREFER_METHODS);
  if (f.steps !== undefined) config.steps = intFlag("steps", f.steps);
  if (f.seed !== undefined) config.seed = intFlag("seed", f.seed);
  if (f["warm-start"]) config.warmStart = f["warm-start"];
  const resume = f.resume === true, force = f.force === true;
  if (resume && force) throw new ConfigError("--resume and --force contradict each other (continue the run, or replace it)");
  return { config, out: f.out ?? null, resume, force, backend: f.backend === undefined ? "wasm" : choiceFlag("backend", f.backend, BACKENDS), quiet: f.quiet === true, help: f.help === true };
}

function progressLine(p: PreferProgress): string {
  const width = 20;
  const done = Math.round((width * p.step) / Math.max(1, p.steps));
  const m = p.metrics;
  const eta = Number.isFinite(p.etaSeconds) ? `${Math.round(p.etaSeconds)}s` : "?";
  return `[${"#".repeat(done)}${".".repeat(width - done)}] step ${p.step}/${p.steps}  loss ${m.loss.toFixed(4)}  ${m.pair_accuracy !== undefined ? `pair acc ${m.pair_accuracy.toFixed(3)}` : `sample acc ${(m.sample_accuracy ?? 0).toFixed(3)}`}  eval ${p.evalAccuracy === null ? "-" : p.evalAccuracy.toFixed(3)}  ETA ${eta}`;
}

export function runPreferCommand(argv: string[]): Promise<number> {
  return exitCodeOf(async () => {
    const a = parsePreferArgs(argv);
    if (a.help) {
      process.stdout.write(PREFER_HELP);
      return 0;
    }
    if (!a.resume) {
      validatePreferConfig(a.config);
      preflightPreferMethod(a.config);
    }
    const out = a.out ?? join("runs", `prefer-${a.config.task}-${a.config.method}-${a.config.seed}`);
    // Everything the run reads is checked before anything is written.
    if (a.resume) preflightPreferResume(out);
    else preflightNewRun(out, { ...DEFAULT_TRAIN, task: a.config.task, model: a.config.model, warmStart: a.config.warmStart }, a.force);
    await useBackend(a.backend);
    const log = (s: string) => {
      if (!a.quiet) process.stderr.write(s + "\n");
    };
    const tty = process.stderr.isTTY === true;
    let printed = 0;
    log(`creditflow prefer: ${a.resume ? "resuming" : `task ${a.config.task}, method ${a.config.method} (needs: reference${AUX_MODELS[a.config.method].map((m) => ", " + m).join("")}), ${a.config.steps} steps, seed ${a.config.seed}`} -> ${out}`);
    const s = await runPrefer(a.config, {
      outDir: out, resume: a.resume, onLog: log,
      onProgress: (p) => {
        if (a.quiet) return;
        if (tty) process.stderr.write(`\r${progressLine(p)}\x1b[K${p.step === p.steps ? "\n" : ""}`);
        else if (p.step === p.steps || p.step - printed >= Math.max(1, Math.floor(p.steps / 10))) {
          process.stderr.write(progressLine(p) + "\n");
          printed = p.step;
        }
      },
    });
    const f = (x: number | null) => (x === null ? "-" : x.toFixed(3));
    const trainedOn = a.config.method === "intro" ? "its own correct samples" : a.config.method === "rmt" ? "the demonstration corpus" : a.config.method === "laser-loss" ? "its own samples' self-rewards" : `${s.pairs} pairs`;
    log(`done: ${s.steps} steps on ${trainedOn} (${s.sampledTokens} tokens sampled for pairs), ${Math.round(s.seconds)} s; held-out accuracy ${f(s.warmStartEvalAccuracy)} (reference) -> ${f(s.finalEvalAccuracy)}, held-out pair accuracy ${f(s.finalHeldoutPairAccuracy)}`);
    return 0;
  });
}

/** `creditflow sft --method int`: InT's intervention set from `init`'s failed attempts, then SFT on it. */
export async function runInterventionSft(a: { task: string; sft: SftConfig; init: string | undefined; methodConfig: string | undefined; evalN: number; out: string; backend: "wasm" | "cpu"; quiet: boolean }): Promise<number> {
  if (a.init === undefined) throw new ConfigError("sft --method int needs --init FILE: the policy whose failed attempts are intervened");
  checkOutputPath(a.out);
  checkPolicyFile(a.init, "--init");
  const o = mergeConfig({ ...DEFAULT_INTERVENTION }, a.methodConfig === undefined ? undefined : parseConfigArg(a.methodConfig), "--method-config");
  for (const k of ["prompts", "attempts", "continuations"] as const) if (!Number.isInteger(o[k]) || o[k] < 1) throw new ConfigError(`--method-config.${k}: expected an integer >= 1, got ${JSON.stringify(o[k])}`);
  if (typeof o.temperature !== "number" || !(o.temperature > 0)) throw new ConfigError(`--method-config.temperature: expected a number > 0, got ${JSON.stringify(o.temperature)}`);
  const task = resolveTask(a.task);
  const pf = readPolicyFile(a.init);
  if (pf.model.vocabSize !== task.vocab.size) throw new ConfigError(`${a.init}: model.vocabSize is ${pf.model.vocabSize}, task ${task.name} has ${task.vocab.size} tokens`);
  await useBackend(a.backend);
  const log = (s: string) => {
    if (!a.quiet) process.stderr.write(s + "\n");
  };
  const t0 = performance.now();
  const set = buildInterventions(task, pf.model, pf.weights, o, new Rng(a.sft.seed + 0x1a7));
  log(`interventions: ${set.attempts} attempts, ${set.incorrect} incorrect, ${set.kept} kept by the correctness filter; ${set.sampledTokens} sampled tokens, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  if (set.kept === 0) throw new ConfigError(`no intervention survived the correctness filter (raise prompts or continuations in --method-config)`);
  const weights = interventionSft(task, pf.model, pf.weights, set, a.sft, (s) => {
    if (s.step % 25 === 0 || s.step === a.sft.steps) log(`step ${s.step}/${a.sft.steps}  loss ${s.loss.toFixed(4)}`);
  });
  const info: Record<string, unknown> = { task: task.name, method: "int", init: a.init, steps: a.sft.steps, batch: a.sft.batch, lr: a.sft.lr, seed: a.sft.seed, interventions: set.kept };
  if (a.evalN > 0) {
    const prompts = task.evalSet(a.evalN, DEFAULT_TRAIN.eval.seed);
    const before = evaluate(task, pf.model, pf.weights, prompts).accuracy;
    const after = evaluate(task, pf.model, weights, prompts).accuracy;
    info.eval_accuracy = after;
    log(`held-out accuracy ${before.toFixed(3)} (init) -> ${after.toFixed(3)} on ${a.evalN} prompts`);
  }
  writePolicyFile(a.out, pf.model, weights, info);
  log(`wrote ${a.out}`);
  return 0;
}
