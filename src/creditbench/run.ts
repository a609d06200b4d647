/**
 * The benchmark driver: warm starts, then the fidelity and/or efficiency parts on the chosen
 * tasks and methods, then results.json, report.md and report.html in the output directory.
 */
import { cpus, totalmem, platform, release } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../core/errors.js";
import { getMethod } from "../core/registry.js";
import "../methods/index.js";
import { DEFAULT_TRAIN } from "../train/config.js";
import type { ModelConfig } from "../train/policy/model.js";
import { resolveTask } from "../train/tasks.js";
import { writeAtomic } from "../train/checkpoint.js";
import { tf } from "../train/policy/tf.js";
import { ensureWarmStart, type WarmStart } from "./warmstart.js";
import { DEFAULT_FIDELITY, fidelityMethodNames, runFidelity, type FidelityConfig } from "./fidelity.js";
import { DEFAULT_EFFICIENCY, runEfficiency, trainableMethodNames, type EfficiencyConfig } from "./efficiency.js";
import { renderHtml, renderMarkdown, type BenchResults } from "./report.js";

export type BenchPart = "fidelity" | "efficiency" | "all";

export const DEFAULT_TASKS = ["addition", "countdown", "decisive"];

/**
 * SFT steps of each task's warm start: chosen so the default model is neither hopeless nor
 * saturated, leaving room for RL and groups with mixed rewards (measured greedy held-out
 * accuracy of the default model: addition 0.35-0.67 at 250-300 steps, sampled reward only ~5%
 * at 250, hence the trainer's default 400; countdown ~0.1 at 700-900; decisive ~0.7 at 100).
 */
export const DEFAULT_SFT_STEPS: Record<string, number> = { addition: 400, countdown: 900, decisive: 100 };
const FALLBACK_SFT_STEPS = 300;

export interface BenchOptions {
  part: BenchPart;
  tasks: string[];
  /** null: every applicable method (fidelity: all registered + trainer-only; efficiency: every trainable one). */
  methods: string[] | null;
  out: string;
  /** Where warm starts are cached (default OUT/warm). */
  cacheDir: string | null;
  model: Omit<ModelConfig, "vocabSize">;
  sftSteps: Record<string, number>;
  sftSeed: number;
  fidelity: FidelityConfig;
  efficiency: EfficiencyConfig;
  /** Accuracy threshold for tokens-to-threshold; null = derived from GRPO per task. */
  threshold: number | null;
  command: string;
}

export function defaultBenchOptions(): BenchOptions {
  return {
    part: "all", tasks: [...DEFAULT_TASKS], methods: null, out: "runs/creditbench", cacheDir: null,
    model: { ...DEFAULT_TRAIN.model }, sftSteps: { ...DEFAULT_SFT_STEPS }, sftSeed: 0,
    fidelity: { ...DEFAULT_FIDELITY }, efficiency: structuredClone(DEFAULT_EFFICIENCY), threshold: null, command: "creditflow bench",
  };
}

function checkMethods(methods: readonly string[]): void {
  for (const m of methods) getMethod(m); // throws ConfigError naming the valid ones
}

export async function runBench(o: BenchOptions, log: (s: string) => void): Promise<BenchResults> {
  const started = new Date();
  const t0 = performance.now();
  const tasks = o.tasks.map((t) => resolveTask(t));
  if (o.methods) checkMethods(o.methods);
  if (o.methods && o.part !== "fidelity" && !o.methods.includes("grpo")) throw new ConfigError("--methods must include grpo for the efficiency part (every ratio is to GRPO)");
  const cache = o.cacheDir ?? join(o.out, "warm");
  const res: BenchResults = {
    format: "creditbench-results", version: 1, command: o.command, started: started.toISOString(), seconds: 0,
    machine: { cpu: cpus()[0]?.model ?? "unknown", cores: cpus().length, memoryGB: Math.round(totalmem() / 2 ** 30), node: process.versions.node, platform: `${platform()} ${release()}`, backend: tf.getBackend() },
    tasks: tasks.map((t) => t.name), warmStarts: [], fidelity: [], efficiency: [],
  };
  const save = () => {
    res.seconds = (performance.now() - t0) / 1000;
    writeAtomic(join(o.out, "results.json"), JSON.stringify(res, null, 1) + "\n");
    writeAtomic(join(o.out, "report.md"), renderMarkdown(res));
    writeAtomic(join(o.out, "report.html"), renderHtml(res));
  };
  for (const task of tasks) {
    const steps = o.sftSteps[task.name] ?? FALLBACK_SFT_STEPS;
    const warm: WarmStart = ensureWarmStart(task, o.model, steps, o.sftSeed, cache, o.efficiency.evalN, o.efficiency.evalSeed, log);
    res.warmStarts.push({ task: task.name, path: warm.path, sftSteps: steps, evalAccuracy: warm.evalAccuracy, seconds: warm.seconds, cached: warm.cached });
    if (o.part !== "efficiency") {
      const methods = o.methods ?? fidelityMethodNames();
      res.fidelity.push(await runFidelity(task, warm, methods, o.fidelity, log));
      save();
    }
    if (o.part !== "fidelity") {
      const methods = o.methods ?? trainableMethodNames();
      res.efficiency.push(await runEfficiency(task.name, warm, methods, o.efficiency, o.out, o.threshold, log));
      save();
    }
  }
  save();
  return res;
}
