/**
 * One shared warm-start checkpoint per task: a short SFT from demonstrations, written as the
 * policy file `creditflow train --warm-start` reads, so the fidelity policy and every learning
 * run of a task start from the same weights. Cached by (task, model, steps, seed): a rerun of
 * the benchmark reuses it.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import type { Task } from "../tasks/types.js";
import type { ModelConfig } from "../train/policy/model.js";
import { DEFAULT_SFT, sftWarmStart } from "../train/sft.js";
import { evaluate } from "../train/evaluate.js";
import { readPolicyFile, writePolicyFile } from "../train/checkpoint.js";

export interface WarmStart {
  path: string;
  model: ModelConfig;
  weights: Map<string, Float32Array>;
  /** Greedy held-out accuracy of the warm start (on the eval set the benchmark uses). */
  evalAccuracy: number;
  sftSteps: number;
  /** Seconds spent training it (0 when read from the cache). */
  seconds: number;
  cached: boolean;
}

export function warmStartPath(dir: string, task: string, model: Omit<ModelConfig, "vocabSize">, steps: number, seed: number): string {
  const h = createHash("sha256").update(JSON.stringify({ model, steps, seed, sft: DEFAULT_SFT })).digest("hex").slice(0, 10);
  return join(dir, `warm-${task}-${steps}-${seed}-${h}.json`);
}

export function ensureWarmStart(task: Task, model: Omit<ModelConfig, "vocabSize">, steps: number, seed: number, dir: string, evalN: number, evalSeed: number, log: (s: string) => void): WarmStart {
  const path = warmStartPath(dir, task.name, model, steps, seed);
  const config: ModelConfig = { ...model, vocabSize: task.vocab.size };
  if (existsSync(path)) {
    const f = readPolicyFile(path);
    const acc = typeof f.info.bench_eval_accuracy === "number" && f.info.bench_eval_n === evalN && f.info.bench_eval_seed === evalSeed
      ? f.info.bench_eval_accuracy
      : evaluate(task, config, f.weights, task.evalSet(evalN, evalSeed)).accuracy;
    return { path, model: config, weights: f.weights, evalAccuracy: acc, sftSteps: steps, seconds: 0, cached: true };
  }
  const t0 = performance.now();
  log(`warm start ${task.name}: SFT ${steps} steps (batch ${DEFAULT_SFT.batch}, lr ${DEFAULT_SFT.lr})`);
  const weights = sftWarmStart(task, config, { ...DEFAULT_SFT, steps, seed }, seed + 1);
  const acc = evaluate(task, config, weights, task.evalSet(evalN, evalSeed)).accuracy;
  writePolicyFile(path, config, weights, { task: task.name, steps, seed, from: "creditbench", bench_eval_accuracy: acc, bench_eval_n: evalN, bench_eval_seed: evalSeed });
  const seconds = (performance.now() - t0) / 1000;
  log(`warm start ${task.name}: held-out accuracy ${acc.toFixed(3)} (${seconds.toFixed(0)} s) -> ${path}`);
  return { path, model: config, weights, evalAccuracy: acc, sftSteps: steps, seconds, cached: false };
}
