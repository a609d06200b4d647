/**
 * The sweep behind the trainer's defaults (`npm run bench:sweep`): the default run with one knob
 * changed at a time (learning rate, responses per update, epochs, warm-start length, steps),
 * each from the same warm start of its length, in parallel child processes. It writes every
 * run's metrics, a Markdown table (sampled training reward first and last, held-out accuracy
 * greedy and sampled at the training temperature, before and after) and SVG curves, and with
 * `--docs` puts the curves into docs/img/ and the table into docs/training-sweeps-latest.md (the
 * curated docs/training-sweeps.md cites it).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { commandHelp, defineCommand, exitCodeOf, intFlag, parseCommand } from "../src/cli/args.js";
import { DEFAULT_TRAIN } from "../src/train/config.js";
import { lineChart, PALETTE, type Series } from "../src/creditbench/svg.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = join(ROOT, "bin", "creditflow.js");

const SWEEP = defineCommand({
  name: "bench:sweep",
  program: "npm run",
  usage: "-- [options]",
  description: "The default training run with one knob changed at a time; curves and a table (npm run bench:sweep).",
  flags: {
    only: { type: "string", value: "A,B", doc: "run only these variants (names as in the table)" },
    parallel: { type: "string", value: "N", doc: "runs at once (default 2)" },
    out: { type: "string", value: "DIR", doc: "output directory (default bench/out/sweep)" },
    docs: { type: "boolean", doc: "write the curves to docs/img and the table to docs/training-sweeps-latest.md" },
    help: { type: "boolean", short: "h", doc: "this help" },
  },
});

interface Variant {
  name: string;
  what: string;
  /** Overrides of the default configuration. */
  config: Record<string, unknown>;
  /** SFT steps of the warm start (default: the default run's). */
  sftSteps?: number;
}

const D = DEFAULT_TRAIN;
const VARIANTS: Variant[] = [
  { name: "default", what: "the defaults", config: {} },
  { name: "lr-x0.3", what: `lr ${D.optim.lr * 0.3}`, config: { optim: { lr: D.optim.lr * 0.3 } } },
  { name: "lr-x3", what: `lr ${D.optim.lr * 3}`, config: { optim: { lr: D.optim.lr * 3 } } },
  { name: "updates-x4", what: `${D.loss.minibatches * 4} minibatches per epoch (4x the updates, 1/4 the responses each)`, config: { loss: { minibatches: D.loss.minibatches * 4 } } },
  { name: "epochs+1", what: `${D.loss.epochs + 1} epochs`, config: { loss: { epochs: D.loss.epochs + 1 } } },
  { name: "sft-x0.5", what: `warm start ${Math.round(D.sft.steps / 2)} SFT steps`, config: {}, sftSteps: Math.round(D.sft.steps / 2) },
  { name: "sft-x2", what: `warm start ${D.sft.steps * 2} SFT steps`, config: {}, sftSteps: D.sft.steps * 2 },
  { name: "layer0-attn-x0.1", what: "layer-0 attention at 0.1 x lr (optim.lrScale)", config: { optim: { lrScale: { "blk.0.attn_": 0.1 } } } },
  { name: "lr-x3+layer0", what: `lr ${D.optim.lr * 3}, layer-0 attention at 0.1 x lr`, config: { optim: { lr: D.optim.lr * 3, lrScale: { "blk.0.attn_": 0.1 } } } },
  { name: "lr-x3+updates-x4", what: `lr ${D.optim.lr * 3}, ${D.loss.minibatches * 4} minibatches`, config: { optim: { lr: D.optim.lr * 3 }, loss: { minibatches: D.loss.minibatches * 4 } } },
];

function run(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    p.stderr.on("data", (d: Buffer) => (err += d.toString()));
    p.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`creditflow ${args.join(" ")} exited ${code}: ${err.slice(-500)}`))));
  });
}

async function pool<T>(items: readonly T[], n: number, f: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) await f(items[next++]);
  }));
}

interface Curves {
  steps: number[];
  reward: number[];
  evalSteps: number[];
  greedy: number[];
  sampled: number[];
  summary: Record<string, number | null>;
  seconds: number;
}

function readRun(dir: string): Curves {
  const lines = readFileSync(join(dir, "metrics.jsonl"), "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, number>);
  const summary = JSON.parse(readFileSync(join(dir, "summary.json"), "utf8")) as Record<string, number | null>;
  const c: Curves = { steps: [], reward: [], evalSteps: [0], greedy: [summary.warm_start_eval_accuracy ?? NaN], sampled: [summary.warm_start_eval_sampled_accuracy ?? NaN], summary, seconds: summary.seconds ?? NaN };
  for (const m of lines) {
    c.steps.push(m.step);
    c.reward.push(m.reward_mean);
    if (typeof m.eval_accuracy === "number") {
      c.evalSteps.push(m.step);
      c.greedy.push(m.eval_accuracy);
      c.sampled.push(m.eval_sampled_accuracy ?? NaN);
    }
  }
  return c;
}

const f3 = (x: number | null | undefined) => (typeof x === "number" && Number.isFinite(x) ? x.toFixed(3) : "-");
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);

async function main(): Promise<void> {
  const { values: f } = parseCommand(SWEEP, process.argv.slice(2));
  if (f.help) {
    process.stdout.write(commandHelp(SWEEP));
    return;
  }
  const out = (f.out as string | undefined) ?? join(ROOT, "bench", "out", "sweep");
  const parallel = f.parallel === undefined ? 2 : intFlag("parallel", f.parallel as string, 1);
  const only = f.only ? new Set((f.only as string).split(",")) : null;
  const variants = VARIANTS.filter((v) => !only || only.has(v.name));
  mkdirSync(out, { recursive: true });
  // One warm start per SFT length, shared by the variants that use it.
  const lengths = [...new Set(variants.map((v) => v.sftSteps ?? D.sft.steps))];
  const warm = (n: number) => join(out, `warm-sft${n}.json`);
  await pool(lengths.filter((n) => !existsSync(warm(n))), parallel, async (n) => {
    process.stderr.write(`sweep: warm start, ${n} SFT steps\n`);
    await run(["sft", "--task", D.task, "--steps", String(n), "--seed", String(D.sft.seed + D.seed), "--eval", "0", "--out", warm(n), "--quiet"]);
  });
  await pool(variants, parallel, async (v) => {
    const dir = join(out, v.name);
    const cfg = join(out, `${v.name}.config.json`);
    writeFileSync(cfg, JSON.stringify({ ...v.config, warmStart: warm(v.sftSteps ?? D.sft.steps) }));
    const t0 = performance.now();
    process.stderr.write(`sweep: ${v.name} (${v.what})\n`);
    await run(["train", "--config", cfg, "--out", dir, "--force", "--quiet"]);
    process.stderr.write(`sweep: ${v.name} done in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
  });
  const results = variants.map((v) => ({ v, c: readRun(join(out, v.name)) }));
  const rows = results.map(({ v, c }) => {
    const k = Math.max(1, Math.floor(c.reward.length / 5));
    return `| ${v.name} | ${v.what} | ${f3(mean(c.reward.slice(0, k)))} | ${f3(mean(c.reward.slice(-k)))} | ${f3(c.greedy[0])} -> ${f3(c.greedy[c.greedy.length - 1])} | ${f3(c.sampled[0])} -> ${f3(c.sampled[c.sampled.length - 1])} | ${Math.round(c.seconds)} |`;
  });
  const table = [
    `Task ${D.task}, method ${D.method}, ${D.steps} steps of ${D.promptsPerStep} prompts x ${D.group} responses, seed ${D.seed}; one knob changed per row.`,
    "Sampled reward: mean over the first and the last fifth of the steps (training prompts, temperature " + D.sampling.temperature + ").",
    "",
    "| variant | change | sampled reward, first fifth | sampled reward, last fifth | held-out greedy (warm start -> end) | held-out sampled (warm start -> end) | seconds |",
    "|---|---|---:|---:|---|---|---:|",
    ...rows,
  ].join("\n");
  const series = (pick: (c: Curves) => { xs: number[]; ys: number[] }): Series[] =>
    results.map(({ v, c }, k) => ({ label: v.name, color: PALETTE[k % PALETTE.length], ...pick(c), bold: v.name === "default" }));
  const charts = {
    "sweep-reward.svg": lineChart("sampled training reward per step", series((c) => ({ xs: c.steps, ys: c.reward })), "step", "mean reward"),
    "sweep-sampled.svg": lineChart(`held-out accuracy, sampled at temperature ${D.sampling.temperature}`, series((c) => ({ xs: c.evalSteps, ys: c.sampled })), "step", "accuracy"),
    "sweep-greedy.svg": lineChart("held-out accuracy, greedy", series((c) => ({ xs: c.evalSteps, ys: c.greedy })), "step", "accuracy"),
  };
  for (const [name, svg] of Object.entries(charts)) writeFileSync(join(out, name), svg);
  writeFileSync(join(out, "sweep.md"), table + "\n");
  process.stdout.write(table + "\n");
  if (f.docs) {
    mkdirSync(join(ROOT, "docs", "img"), { recursive: true });
    for (const [name, svg] of Object.entries(charts)) writeFileSync(join(ROOT, "docs", "img", name), svg);
    writeFileSync(join(ROOT, "docs", "training-sweeps-latest.md"), [
      "# The sweep behind the trainer's defaults",
      "",
      "Generated by `npm run bench:sweep -- --docs` (one run per row, on this machine; timings depend on its load).",
      "",
      table,
      "",
      "![sampled training reward](img/sweep-reward.svg)",
      "",
      "![held-out accuracy, sampled](img/sweep-sampled.svg)",
      "",
      "![held-out accuracy, greedy](img/sweep-greedy.svg)",
      "",
    ].join("\n"));
  }
}

process.exitCode = await exitCodeOf(async () => {
  await main();
  return 0;
});
