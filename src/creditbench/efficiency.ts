/**
 * Learning efficiency at equal sampling cost: from the task's shared warm start, each method
 * trains with the trainer itself (runTraining, the code behind `creditflow train`) until the
 * same budget of sampled tokens is spent, every sampled token counted (Monte Carlo and tree
 * tokens included, by the trainer). Held-out accuracy is read off each run's metrics.jsonl at
 * fixed budgets by linear interpolation between evaluations, and compared with GRPO's runs of
 * the same seeds.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_TRAIN, mergeConfig, type TrainConfig } from "../train/config.js";
import { resolveTask } from "../train/tasks.js";
import { runTraining, checkRun, trainableMethods, type StepMetrics } from "../train/trainer.js";
import "../methods/index.js";
import { accuracyAt, spread, tokensToReach, type CurvePoint, type Spread } from "./stats.js";
import type { WarmStart } from "./warmstart.js";

export interface EfficiencyConfig {
  /** Sampled-token budget of every run. */
  budget: number;
  seeds: number[];
  /** Evaluate every this many steps (and at the last step). */
  evalEvery: number;
  evalN: number;
  evalSeed: number;
  /** Budgets (fractions of `budget`) at which accuracy is reported. */
  fractions: number[];
  /** Trainer configuration overrides (deep-merged over the trainer's defaults), e.g. group or lr. */
  train: Record<string, unknown>;
}

/**
 * Trainer overrides of the benchmark: 16 prompts x 8 responses per step (128 per update) at lr
 * 5e-5, the setting the trainer's own comparison (bench/compare.ts) measured as stable, so a
 * budget the benchmark can afford for every method still holds a dozen or more updates. The
 * trainer's default run (512 responses per update at 1e-4) spends ~17k tokens per step on
 * decisive: two or three steps per run at this budget. At 1e-4 with 128 per update GRPO lost
 * held-out accuracy on addition within 32k tokens (0.88 -> 0.77 and 0.85, two seeds, measured).
 */
export const DEFAULT_EFFICIENCY: EfficiencyConfig = {
  budget: 48000, seeds: [0, 1], evalEvery: 3, evalN: 100, evalSeed: DEFAULT_TRAIN.eval.seed, fractions: [0.25, 0.5, 1],
  train: { group: 8, promptsPerStep: 16, optim: { lr: 5e-5 }, loss: { minibatches: 1 } },
};

/** Methods the trainer can run end to end (their adapters can produce every required input). */
export function trainableMethodNames(): string[] {
  return trainableMethods();
}

export interface RunResult {
  method: string;
  seed: number;
  curve: CurvePoint[];
  steps: number;
  sampledTokens: number;
  seconds: number;
  error: string | null;
}

export interface MethodEfficiency {
  method: string;
  /** Accuracy at each fraction of the budget (spread over seeds). */
  accAt: Spread[];
  /** Per-seed accuracy ratio to GRPO of the same seed, at each fraction. */
  ratioAt: Spread[];
  tokensToThreshold: Spread;
  /** Per-seed tokens-to-threshold ratio to GRPO (< 1: fewer tokens than GRPO). */
  tokensRatio: Spread;
  /** Seeds that never reached the threshold within the budget. */
  unreached: number;
  errors: string[];
}

export interface EfficiencyTaskResult {
  task: string;
  warmStartAccuracy: number;
  config: EfficiencyConfig;
  threshold: number;
  thresholdRule: string;
  runs: RunResult[];
  methods: MethodEfficiency[];
  /** Methods the trainer cannot run, with its reason. */
  skipped: { method: string; reason: string }[];
  seconds: number;
}

function readCurve(dir: string, warmAcc: number): { curve: CurvePoint[]; steps: number; tokens: number } {
  const path = join(dir, "metrics.jsonl");
  const curve: CurvePoint[] = [{ tokens: 0, accuracy: warmAcc }];
  if (!existsSync(path)) return { curve, steps: 0, tokens: 0 };
  let steps = 0, tokens = 0;
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (!line.trim()) continue;
    const m = JSON.parse(line) as StepMetrics;
    steps = m.step;
    tokens = m.sampled_tokens;
    if (typeof m.eval_accuracy === "number") curve.push({ tokens: m.sampled_tokens, accuracy: m.eval_accuracy });
  }
  return { curve, steps, tokens };
}

export function trainConfigFor(task: string, method: string, seed: number, warm: WarmStart, cfg: EfficiencyConfig): TrainConfig {
  const { vocabSize: _v, ...model } = warm.model;
  void _v;
  let c = mergeConfig(structuredClone(DEFAULT_TRAIN), cfg.train, "train");
  c = mergeConfig(c, {
    task, method, seed, warmStart: warm.path, tokenBudget: cfg.budget,
    // The budget ends the run; the step cap only guards against a method sampling nothing.
    steps: Math.max(1, cfg.budget),
    eval: { every: cfg.evalEvery, n: cfg.evalN, seed: cfg.evalSeed }, checkpointEvery: 0, model,
  });
  return c;
}

/** Summaries of the runs: accuracy at budgets, tokens to threshold, ratios to GRPO per seed. */
export function summarise(task: string, warm: number, runs: RunResult[], cfg: EfficiencyConfig, threshold: number | null): { methods: MethodEfficiency[]; threshold: number; rule: string } {
  const grpo = new Map(runs.filter((r) => r.method === "grpo" && !r.error).map((r) => [r.seed, r]));
  let thr = threshold;
  let rule = "given";
  if (thr === null) {
    // Halfway from the warm start to GRPO's mean final accuracy: GRPO reaches it by
    // construction (on average), so the ratio is defined wherever a method keeps up.
    const finals = [...grpo.values()].map((r) => accuracyAt(r.curve, cfg.budget) ?? r.curve[r.curve.length - 1].accuracy);
    const f = finals.length ? finals.reduce((s, x) => s + x, 0) / finals.length : warm;
    thr = f > warm ? warm + 0.5 * (f - warm) : warm + 0.05;
    rule = f > warm ? "warm start + half of GRPO's mean gain over the budget" : "warm start + 0.05 (GRPO did not improve)";
  }
  const methods = [...new Set(runs.map((r) => r.method))];
  const out = methods.map((m): MethodEfficiency => {
    const rs = runs.filter((r) => r.method === m);
    const ok = rs.filter((r) => !r.error);
    const accAt = cfg.fractions.map((f) => spread(ok.map((r) => accuracyAt(r.curve, f * cfg.budget))));
    const ratioAt = cfg.fractions.map((f) => spread(ok.map((r) => {
      const g = grpo.get(r.seed);
      const a = accuracyAt(r.curve, f * cfg.budget), b = g ? accuracyAt(g.curve, f * cfg.budget) : null;
      return a !== null && b !== null && b > 0 ? a / b : null;
    })));
    const ttt = ok.map((r) => tokensToReach(r.curve, thr as number));
    const tokensRatio = spread(ok.map((r, k) => {
      const g = grpo.get(r.seed);
      const b = g ? tokensToReach(g.curve, thr as number) : null;
      const a = ttt[k];
      return a !== null && b !== null && b > 0 ? a / b : null;
    }));
    return {
      method: m, accAt, ratioAt, tokensToThreshold: spread(ttt), tokensRatio,
      unreached: ttt.filter((x) => x === null).length, errors: rs.filter((r) => r.error).map((r) => `seed ${r.seed}: ${r.error}`),
    };
  });
  void task;
  return { methods: out, threshold: thr, rule };
}

export async function runEfficiency(task: string, warm: WarmStart, methods: readonly string[], cfg: EfficiencyConfig, outDir: string, threshold: number | null, log: (s: string) => void): Promise<EfficiencyTaskResult> {
  const t0 = performance.now();
  const runs: RunResult[] = [];
  // GRPO first: the reference every ratio needs.
  const order = methods.includes("grpo") ? ["grpo", ...methods.filter((m) => m !== "grpo")] : [...methods];
  const skipped: { method: string; reason: string }[] = [];
  for (const m of order) {
    try {
      // The run's configuration too: a method that needs a DPO policy file (--dpo-policy) is skipped, naming it.
      checkRun(trainConfigFor(task, m, cfg.seeds[0] ?? 0, warm, cfg), resolveTask(task));
    } catch (e) {
      skipped.push({ method: m, reason: (e as Error).message.replace(/\s+/g, " ") });
      continue;
    }
    for (const seed of cfg.seeds) {
      const dir = join(outDir, "runs", task, `${m}-${seed}`);
      const r0 = performance.now();
      let error: string | null = null;
      try {
        await runTraining(trainConfigFor(task, m, seed, warm, cfg), { outDir: dir, resume: false });
      } catch (e) {
        error = (e as Error).message.replace(/\s+/g, " ");
      }
      const c = readCurve(dir, warm.evalAccuracy);
      const seconds = (performance.now() - r0) / 1000;
      runs.push({ method: m, seed, curve: c.curve, steps: c.steps, sampledTokens: c.tokens, seconds, error });
      const last = c.curve[c.curve.length - 1];
      log(`efficiency ${task} ${m} seed ${seed}: ${error ? `failed: ${error}` : `${c.steps} steps, ${c.tokens} tokens, eval ${last.accuracy.toFixed(3)}`} (${seconds.toFixed(0)} s)`);
    }
  }
  const s = summarise(task, warm.evalAccuracy, runs, cfg, threshold);
  return { task, warmStartAccuracy: warm.evalAccuracy, config: cfg, threshold: s.threshold, thresholdRule: s.rule, runs, methods: s.methods, skipped, seconds: (performance.now() - t0) / 1000 };
}
