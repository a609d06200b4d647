/** A tiny training run (1-layer model, 2 steps, 2 prompts x 4) for tests of the trainer's routes. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_TRAIN, mergeConfig, type TrainConfig } from "../../src/train/config.js";
import { runTraining, type StepMetrics } from "../../src/train/trainer.js";

export function tinyConfig(over: unknown): TrainConfig {
  const base = mergeConfig(structuredClone(DEFAULT_TRAIN), {
    task: "addition-1d", steps: 2, group: 4, promptsPerStep: 2, checkpointEvery: 0,
    model: { dModel: 16, nHeads: 2, nLayers: 1, dFF: 32, maxSeqLen: 32 },
    sft: { steps: 3, batch: 4 },
    eval: { n: 8, every: 2 },
  });
  return mergeConfig(base, over);
}

/** Runs tinyConfig(over) in root/name and returns its metrics lines. */
export async function runTiny(root: string, name: string, over: unknown): Promise<StepMetrics[]> {
  const dir = join(root, name);
  await runTraining(tinyConfig(over), { outDir: dir, resume: false });
  const lines = readFileSync(join(dir, "metrics.jsonl"), "utf8").split("\n").filter((l) => l.trim());
  return lines.map((l) => JSON.parse(l) as StepMetrics);
}
