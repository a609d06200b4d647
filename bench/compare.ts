/**
 * Held-out accuracy of grpo versus tempo and spo-chain at equal sampled tokens, 3 seeds each
 * (`node dist/bench/compare.js [--budget TOKENS] [--seeds N] [--methods a,b,c] [--out DIR]`).
 *
 * Every run starts from the same warm start (one deterministic SFT, written once) and stops
 * when its sampled-token budget is spent; SPO-chain's Monte Carlo continuations count against
 * its budget like any other sampled token. Held-out accuracy is read at fixed fractions of the
 * budget (the last evaluation at or before that many tokens). Prints a Markdown table.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { useBackend } from "../src/train/policy/tf.js";
import { commandHelp, defineCommand, exitCodeOf, intFlag, parseCommand } from "../src/cli/args.js";
import { DEFAULT_TRAIN, mergeConfig, type TrainConfig } from "../src/train/config.js";
import { runTraining, type StepMetrics } from "../src/train/trainer.js";
import { sftWarmStart } from "../src/train/sft.js";
import { writePolicyFile } from "../src/train/checkpoint.js";
import { resolveTask } from "../src/train/tasks.js";

const COMPARE = defineCommand({
  name: "bench:compare",
  program: "npm run",
  usage: "-- [options]",
  description: "Held-out accuracy of methods at equal sampled tokens (npm run bench:compare).",
  flags: {
    budget: { type: "string", value: "TOKENS", doc: "sampled-token budget of every run (default 80000)" },
    seeds: { type: "string", value: "N", doc: "seeds per method (default 3)" },
    methods: { type: "string", value: "A,B", doc: "methods (default grpo,tempo,spo-chain)" },
    out: { type: "string", value: "DIR", doc: "output directory (default bench/out/compare)" },
    help: { type: "boolean", short: "h", doc: "this help" },
  },
});

async function main(): Promise<void> {
  const { values: f } = parseCommand(COMPARE, process.argv.slice(2));
  if (f.help) {
    process.stdout.write(commandHelp(COMPARE));
    return;
  }
  await useBackend("wasm");
  const out = f.out ?? "bench/out/compare";
  const budget = f.budget === undefined ? 80000 : intFlag("budget", f.budget, 1);
  const nSeeds = f.seeds === undefined ? 3 : intFlag("seeds", f.seeds, 1);
  const methods = (f.methods ?? "grpo,tempo,spo-chain").split(",");
  // Smaller steps than the default run (128 responses per update at half its learning rate,
  // stable in measurements) so every method gets a few dozen updates within the budget.
  const base: TrainConfig = mergeConfig(structuredClone(DEFAULT_TRAIN), {
    steps: 100000, tokenBudget: budget, promptsPerStep: 16, group: 8, optim: { lr: 5e-5 }, eval: { every: 3 }, checkpointEvery: 0,
  });
  const task = resolveTask(base.task);

  const warm = join(out, "warm-start.json");
  if (!existsSync(warm)) {
    process.stderr.write(`warm start: SFT ${base.sft.steps} steps\n`);
    const model = { ...base.model, vocabSize: task.vocab.size };
    writePolicyFile(warm, model, sftWarmStart(task, model, base.sft, base.seed + 1), { task: task.name, steps: base.sft.steps });
  }
  const fractions = [0, 0.25, 0.5, 0.75, 1];
  const table = new Map<string, number[][]>(); // method -> per fraction, per seed accuracies
  for (const method of methods) {
    const perFrac: number[][] = fractions.map(() => []);
    for (let seed = 0; seed < nSeeds; seed++) {
      const dir = join(out, `${method}-${seed}`);
      const cfg = mergeConfig(base, { method, seed, warmStart: warm });
      const t0 = performance.now();
      const s = await runTraining(cfg, { outDir: dir, resume: false });
      const lines = readFileSync(join(dir, "metrics.jsonl"), "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l) as StepMetrics);
      process.stderr.write(`${method} seed ${seed}: ${s.steps} steps, ${s.sampledTokens} tokens, eval ${s.warmStartEvalAccuracy} -> ${s.finalEvalAccuracy} (${((performance.now() - t0) / 1000).toFixed(0)}s)\n`);
      fractions.forEach((f, k) => {
        let acc = s.warmStartEvalAccuracy ?? 0;
        for (const m of lines) if (m.eval_accuracy !== undefined && m.sampled_tokens <= f * budget + 1e-9) acc = m.eval_accuracy;
        // The budget column takes the final evaluation (the run stops just past the budget).
        if (f === 1 && s.finalEvalAccuracy !== null) acc = s.finalEvalAccuracy;
        perFrac[k].push(acc);
      });
    }
    table.set(method, perFrac);
  }
  const fmt = (xs: number[]) => {
    const m = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1));
    return `${m.toFixed(3)} ± ${sd.toFixed(3)}`;
  };
  const lines = [
    `## Held-out accuracy vs sampled tokens (${task.name}, ${base.eval.n} held-out prompts, mean ± sd over ${nSeeds} seeds)`,
    "",
    `| method | ${fractions.map((f) => `${Math.round(f * budget)} tokens`).join(" | ")} |`,
    `|---|${fractions.map(() => "---:").join("|")}|`,
    ...methods.map((m) => `| ${m} | ${(table.get(m) as number[][]).map(fmt).join(" | ")} |`),
    "",
    "Every sampled token counts (SPO-chain's Monte Carlo continuations included); all runs start from the same SFT warm start.",
  ];
  process.stdout.write(lines.join("\n") + "\n");
}

// Usage errors: one line and exit 2, as the creditflow command.
process.exitCode = await exitCodeOf(async () => {
  await main();
  return 0;
});
