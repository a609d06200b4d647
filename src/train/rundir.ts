/**
 * Run-directory preflight for `creditflow train`: every path and file a run reads is checked
 * before anything is written, so a mistake costs one line on stderr (exit 2) and never a
 * half-written run directory, an overwritten finished run, or a resume that silently loses steps.
 */
import { accessSync, constants, existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { ConfigError } from "../core/errors.js";
import type { TrainConfig } from "./config.js";
import { CHECKPOINT_SCHEMA, POLICY_SCHEMA, schemaProblem } from "./schema.js";
import { resolveTask } from "./tasks.js";
import { POLICY_FILE_SIGNALS } from "./model-signals.js";
import { checkModelConfig, parameterShapes, type ModelConfig } from "./policy/model.js";

/** Files a run directory holds; any of them means the folder is a run. */
export const RUN_FILES = ["config.json", "metrics.jsonl", "checkpoint.json", "warm-start.json", "summary.json"] as const;

function fail(path: string, what: string): never {
  throw new ConfigError(`${path}: ${what}`);
}

/** Parses a JSON file, naming the file and what is wrong with it (missing, a folder, empty, truncated). */
export function readJsonFile(path: string, what: string): unknown {
  let st;
  try {
    st = statSync(path);
  } catch {
    fail(path, `${what} not found`);
  }
  if (st.isDirectory()) fail(path, `${what} expected, found a directory`);
  const text = readFileSync(path, "utf8");
  if (text.trim() === "") fail(path, `${what} is empty`);
  try {
    return JSON.parse(text);
  } catch (e) {
    fail(path, `${what} is not valid JSON (truncated or damaged? ${(e as Error).message})`);
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * A policy file as `creditflow sft` writes it; a training checkpoint given instead is named as
 * such. Returns its model configuration.
 */
export function checkPolicyFile(path: string, what = "warm start"): Record<string, unknown> {
  return checkedPolicyJson(path, what).model as Record<string, unknown>;
}

/** The whole policy file (format, model, weights, info), checked as checkPolicyFile says. */
function checkedPolicyJson(path: string, what: string): Record<string, unknown> {
  const f = readJsonFile(path, `${what} (a creditflow policy file)`);
  if (isObj(f) && f.format === "creditflow-train") fail(path, `this is a training checkpoint, not a policy file: give the run's warm-start.json, or a file from 'creditflow sft'`);
  if (isObj(f) && f.format === "creditflow-prefer") fail(path, `this is a preference-training checkpoint, not a policy file: give the policy.json that 'creditflow prefer' writes beside it when the run finishes`);
  if (!isObj(f) || f.format !== "creditflow-policy") fail(path, `not a creditflow policy file (from 'creditflow sft'): no "format": "creditflow-policy"`);
  const problem = schemaProblem(POLICY_SCHEMA, f);
  if (problem) fail(path, `policy file: ${problem}`);
  return f;
}

/** Why base64 weights do not fit a model configuration (a missing tensor, a wrong size, a bad configuration), or null. */
function weightMisfit(model: ModelConfig, weights: Record<string, string>): string | null {
  try {
    checkModelConfig(model);
  } catch (e) {
    return (e as Error).message;
  }
  for (const [name, shape] of parameterShapes(model)) {
    const w = weights[name];
    if (w === undefined) return `missing weight '${name}'`;
    const size = shape.reduce((a, b) => a * b, 1);
    const got = Buffer.from(w, "base64").length / 4;
    if (got !== size) return `weight '${name}' has ${got} values, expected ${size}`;
  }
  return null;
}

/**
 * The policy files that fill signals (--dpo-policy): each a valid policy file trained on the
 * run's task (when the file records one), over its vocabulary, and long enough for its sequences.
 * The frozen model's width and depth may differ from the run's.
 */
export function checkSignalPolicyFiles(config: TrainConfig): void {
  for (const p of POLICY_FILE_SIGNALS) {
    const path = config[p.configKey] ?? null;
    if (path === null) continue;
    const f = checkedPolicyJson(path, `${p.flag} policy`);
    const model = f.model as Record<string, unknown>;
    const info = isObj(f.info) ? f.info : {};
    const task = resolveTask(config.task);
    if (typeof info.task === "string" && info.task !== task.name) {
      fail(path, `${p.flag}: a policy trained on task '${info.task}', the run's task is '${task.name}' (train the DPO policy on the run's task)`);
    }
    if (model.vocabSize !== task.vocab.size) {
      fail(path, `${p.flag}: model.vocabSize is ${JSON.stringify(model.vocabSize)}, task '${task.name}' has ${task.vocab.size} tokens (a policy of another task's vocabulary)`);
    }
    if (typeof model.maxSeqLen !== "number" || model.maxSeqLen < config.model.maxSeqLen) {
      fail(path, `${p.flag}: model.maxSeqLen is ${JSON.stringify(model.maxSeqLen)}, shorter than the run's ${config.model.maxSeqLen} (it could not score the run's longest sequences)`);
    }
    const misfit = weightMisfit(model as unknown as ModelConfig, f.weights as Record<string, string>);
    if (misfit) fail(path, `${p.flag}: the weights do not fit the file's model (${misfit})`);
  }
}

/** The nearest existing ancestor of a path must be a writable folder (the run creates the rest). */
function checkCreatable(dir: string): void {
  let d = resolve(dir);
  while (!existsSync(d)) {
    const up = dirname(d);
    if (up === d) break;
    d = up;
  }
  if (!statSync(d).isDirectory()) fail(dir, `cannot create the run directory: '${d}' is a file`);
  try {
    accessSync(d, constants.W_OK);
  } catch {
    fail(dir, `cannot create the run directory: '${d}' is not writable`);
  }
}

/**
 * Before a new run: `outDir` is not a file, is writable, and holds no run unless `force` (then its
 * run files are replaced); the warm start, if any, is a readable policy file.
 */
export function preflightNewRun(outDir: string, config: TrainConfig, force: boolean): void {
  if (existsSync(outDir)) {
    if (!statSync(outDir).isDirectory()) fail(outDir, "--out must be a directory, this is a file");
    try {
      accessSync(outDir, constants.W_OK);
    } catch {
      fail(outDir, "the run directory is not writable");
    }
    const present = RUN_FILES.filter((f) => existsSync(join(outDir, f)));
    if (present.length > 0 && !force) {
      fail(outDir, `already holds a run (${present.join(", ")}): use --resume to continue it, --force to replace it, or another --out`);
    }
  } else {
    checkCreatable(outDir);
  }
  if (config.warmStart) {
    const model = checkPolicyFile(config.warmStart);
    const want: Record<string, unknown> = { ...config.model, vocabSize: resolveTask(config.task).vocab.size };
    for (const [k, v] of Object.entries(want)) {
      if (model[k] !== v) fail(config.warmStart, `model.${k} is ${JSON.stringify(model[k])}, the run's is ${JSON.stringify(v)} (set "model" in --config to match the warm start)`);
    }
  }
  checkSignalPolicyFiles(config);
}

export interface ResumePoint {
  config: TrainConfig;
  step: number;
}

/** Steps in metrics.jsonl, in file order; a torn last line (a kill mid-append) is left out. */
export function metricSteps(path: string): number[] {
  const lines = readFileSync(path, "utf8").split("\n");
  const steps: number[] = [];
  for (let k = 0; k < lines.length; k++) {
    const l = lines[k];
    if (!l.trim()) continue;
    let step: unknown;
    try {
      step = (JSON.parse(l) as { step?: unknown }).step;
    } catch {
      if (k >= lines.length - 2) continue; // the last line, torn by a kill mid-write
      fail(path, `line ${k + 1} is not valid JSON`);
    }
    if (typeof step !== "number" || !Number.isInteger(step)) fail(path, `line ${k + 1}: field 'step' is not an integer`);
    steps.push(step);
  }
  return steps;
}

/**
 * Before `--resume`: the checkpoint and the warm start are whole and valid, the checkpoint's step
 * lies within its configuration, and metrics.jsonl has every step up to it (steps after it are
 * redone and replaced). Returns where the run resumes.
 */
export function preflightResume(outDir: string): ResumePoint {
  if (!existsSync(outDir)) fail(outDir, "--resume: no such run directory");
  if (!statSync(outDir).isDirectory()) fail(outDir, "--resume: not a directory");
  const ckptPath = join(outDir, "checkpoint.json");
  if (!existsSync(ckptPath)) fail(outDir, "--resume: no checkpoint.json in this directory (nothing to resume)");
  const ck = readJsonFile(ckptPath, "checkpoint");
  if (!isObj(ck) || ck.format !== "creditflow-train") fail(ckptPath, `not a creditflow training checkpoint (no "format": "creditflow-train")`);
  // A checkpoint written before config.dpoPolicy existed had none.
  if (isObj(ck.config) && !("dpoPolicy" in ck.config)) ck.config.dpoPolicy = null;
  const problem = schemaProblem(CHECKPOINT_SCHEMA, ck);
  if (problem) fail(ckptPath, problem);
  const config = ck.config as unknown as TrainConfig;
  const step = ck.step as number;
  if (step > config.steps) fail(ckptPath, `field 'step': ${step} is beyond the run's ${config.steps} steps`);
  checkPolicyFile(join(outDir, "warm-start.json"), "the run's warm start");
  // The frozen signal policies are inputs named in the run's configuration, read again on resume.
  checkSignalPolicyFiles({ ...config, dpoPolicy: config.dpoPolicy ?? null });
  const metricsPath = join(outDir, "metrics.jsonl");
  if (!existsSync(metricsPath)) fail(metricsPath, `missing: the checkpoint is at step ${step}, so resuming would lose the metrics of steps 1..${step}`);
  const have = new Set(metricSteps(metricsPath).filter((s) => s <= step));
  const missing: number[] = [];
  for (let s = 1; s <= step; s++) if (!have.has(s)) missing.push(s);
  if (missing.length > 0) {
    const shown = missing.length > 5 ? `${missing.slice(0, 5).join(", ")}, ... (${missing.length} steps)` : missing.join(", ");
    fail(metricsPath, `no metrics for step ${shown} before the checkpoint's step ${step}: the file was truncated or edited; resuming would leave a gap`);
  }
  return { config, step };
}

