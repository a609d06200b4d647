/**
 * `creditflow sft`: the supervised warm start. Teacher forcing with cross-entropy on a task's
 * demonstrations; writes a policy file `creditflow train --warm-start` reads.
 */
import { BACKEND_FLAG, BACKENDS, choiceFlag, commandHelp, defineCommand, exitCodeOf, intFlag, numberFlag, parseCommand, parseConfigArg } from "./args.js";
import { ConfigError } from "../core/errors.js";
import { useBackend } from "../train/policy/tf.js";
import { DEFAULT_TRAIN, mergeConfig } from "../train/config.js";
import { countParameters, type ModelConfig } from "../train/policy/model.js";
import { sftWarmStart, type SftConfig } from "../train/sft.js";
import { evaluate } from "../train/evaluate.js";
import { writePolicyFile } from "../train/checkpoint.js";
import { resolveTask } from "../train/tasks.js";
import { readFileSync } from "node:fs";
import { checkOutputPath } from "../io/files.js";
import { DEFAULT_SSTOKEN_SFT, ssTokenSelector } from "../train/prefer-sft.js";
import { runInterventionSft } from "./prefer.js";

/** ssToken's options from --method-config over the defaults (unknown keys and bad ranges are errors). */
function sstokenOptions(raw: string | undefined): typeof DEFAULT_SSTOKEN_SFT {
  const o = mergeConfig({ ...DEFAULT_SSTOKEN_SFT }, raw === undefined ? undefined : parseConfigArg(raw), "--method-config");
  for (const [k, lo, hi] of [["gamma", 0, 1], ["rho", 0, 1], ["warmupSamples", 0, Number.MAX_SAFE_INTEGER]] as const) {
    const v = o[k];
    if (typeof v !== "number" || !Number.isFinite(v) || v < lo || v > hi) throw new ConfigError(`--method-config.${k}: expected a number in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
  }
  return o;
}

export const SFT_COMMAND = defineCommand({
  name: "sft",
  description: `Supervised warm start: trains a fresh llama-layout policy on task demonstrations (teacher
forcing, cross-entropy on the response tokens) and writes a policy file for
\`creditflow train --warm-start FILE\`. Deterministic for a seed.`,
  flags: {
    task: { type: "string", value: "NAME", doc: `task (default ${DEFAULT_TRAIN.task})` },
    steps: { type: "string", value: "N", doc: `optimizer steps (default ${DEFAULT_TRAIN.sft.steps})` },
    batch: { type: "string", value: "N", doc: `demonstrations per step (default ${DEFAULT_TRAIN.sft.batch})` },
    lr: { type: "string", value: "X", doc: `peak learning rate, warmup then cosine decay (default ${DEFAULT_TRAIN.sft.lr})` },
    seed: { type: "string", value: "S", doc: "seed of the initialisation and the data (default 0)" },
    model: { type: "string", value: "FILE", doc: "JSON model overrides (dModel, nLayers, nHeads, dFF, maxSeqLen, tieEmbeddings, ...);\ndefault: the default run's model" },
    eval: { type: "string", value: "N", doc: "held-out prompts to score at the end (default 200; 0 = skip)" },
    out: { type: "string", value: "FILE", doc: "where to write the policy (default runs/sft-<task>-<seed>.json)" },
    method: { type: "string", value: "M", doc: "plain (default: every response token), sstoken (ssToken's token selection)\nor int (InT: intervention training of --init's failed attempts); docs/preference.md" },
    "method-config": { type: "string", value: "JSON", doc: 'sstoken: {"gamma": 0.5, "rho": 0.6, "warmupSamples": 10000};\nint: {"prompts": 256, "attempts": 4, "continuations": 8, "temperature": 1}' },
    init: { type: "string", value: "FILE", doc: "int: the policy file whose failed attempts are intervened and trained" },
    backend: BACKEND_FLAG,
    quiet: { type: "boolean", doc: "no progress output" },
    help: { type: "boolean", short: "h", doc: "this help" },
  },
});

export const SFT_HELP = commandHelp(SFT_COMMAND);

export function runSftCommand(argv: string[]): Promise<number> {
  return exitCodeOf(async () => {
    const { values: f } = parseCommand(SFT_COMMAND, argv);
    if (f.help) {
      process.stdout.write(SFT_HELP);
      return 0;
    }
    const task = f.task ?? DEFAULT_TRAIN.task;
    const sft: SftConfig = { ...DEFAULT_TRAIN.sft };
    if (f.steps !== undefined) sft.steps = intFlag("steps", f.steps);
    if (f.batch !== undefined) sft.batch = intFlag("batch", f.batch, 1);
    if (f.seed !== undefined) sft.seed = intFlag("seed", f.seed);
    if (f.lr !== undefined) sft.lr = numberFlag("lr", f.lr, 0);
    const evalN = f.eval === undefined ? 200 : intFlag("eval", f.eval);
    let model: Omit<ModelConfig, "vocabSize"> = { ...DEFAULT_TRAIN.model };
    if (f.model !== undefined) {
      let raw: unknown;
      try {
        raw = JSON.parse(readFileSync(f.model, "utf8"));
      } catch (e) {
        throw new ConfigError(`--model ${f.model}: ${(e as Error).message}`);
      }
      model = mergeConfig(model, raw, "model");
    }
    const out = f.out ?? null;
    checkOutputPath(out ?? undefined);
    const quiet = f.quiet === true;
    const backend = f.backend === undefined ? "wasm" : choiceFlag("backend", f.backend, BACKENDS);
    const method = f.method === undefined ? "plain" : choiceFlag("method", f.method, ["plain", "sstoken", "int"] as const);
    if (method === "int") return runInterventionSft({ task, sft: { ...sft, steps: f.steps === undefined ? 50 : sft.steps, lr: f.lr === undefined ? 3e-4 : sft.lr }, init: f.init, methodConfig: f["method-config"], evalN, out: f.out ?? `runs/sft-int-${task}-${sft.seed}.json`, backend, quiet: f.quiet === true });
    const select = method === "sstoken" ? ssTokenSelector({ ...sstokenOptions(f["method-config"]), batch: sft.batch }) : undefined;
    const t = resolveTask(task);
    await useBackend(backend);
    const cfg: ModelConfig = { ...model, vocabSize: t.vocab.size };
    const path = out ?? `runs/sft-${t.name}-${sft.seed}.json`;
    const log = (s: string) => {
      if (!quiet) process.stderr.write(s);
    };
    log(`creditflow sft: task ${t.name}, ${countParameters(cfg)} parameters, ${sft.steps} steps x ${sft.batch}\n`);
    const t0 = performance.now();
    let tokens = 0;
    const weights = sftWarmStart(t, cfg, sft, sft.seed + 1, (s) => {
      tokens += s.tokens;
      const el = (performance.now() - t0) / 1000;
      const line = `step ${s.step}/${sft.steps}  loss ${s.loss.toFixed(4)}  lr ${s.lr.toExponential(2)}  ${Math.round(tokens / el)} tok/s`;
      if (process.stderr.isTTY) log(`\r${line}\x1b[K${s.step === sft.steps ? "\n" : ""}`);
      else if (s.step % 25 === 0 || s.step === sft.steps) log(line + "\n");
    }, select);
    const info: Record<string, unknown> = { task: t.name, steps: sft.steps, batch: sft.batch, lr: sft.lr, seed: sft.seed, method };
    if (evalN > 0) {
      const acc = evaluate(t, cfg, weights, t.evalSet(evalN, DEFAULT_TRAIN.eval.seed)).accuracy;
      info.eval_accuracy = acc;
      log(`held-out accuracy ${acc.toFixed(3)} on ${evalN} prompts\n`);
    }
    writePolicyFile(path, cfg, weights, info);
    log(`wrote ${path}\n`);
    return 0;
  });
}
