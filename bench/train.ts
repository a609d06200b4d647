/**
 * Trainer speed (`npm run -s bench:train -- [--json] [--python PY] [--reps N]`) for the default
 * ~0.5M-parameter model, on the workloads of the PyTorch twin (bench/torch_twin.py):
 *
 * - training: forward, backward and Adam on a batch of 32 x 40 tokens, a PPO-clip loss on the
 *   tokens' log-probs, through the same Policy / tf.variableGrads / Adam calls the trainer makes;
 * - sampling: 64 rows from a one-token prefix, 40 new tokens each (no eos), KV cache,
 *   temperature 1, on one core and on a pool of two worker threads.
 *
 * Each figure is measured for the native backend (the default) and the tfjs reference; with
 * `--python PY` the PyTorch twin runs right after (one thread) and the ratios are printed.
 * Rates are medians over runs after a warm-up; the machine is shared, so ratios measured back
 * to back are the figures to quote.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { loadavg } from "node:os";
import { tf, useBackend } from "../src/train/policy/tf.js";
import { DEFAULT_MODEL, Policy, countParameters, type ModelConfig, type PolicyBackend } from "../src/train/policy/model.js";
import { selectLogProbs, stopGradient } from "../src/train/policy/ops.js";
import { Adam, DEFAULT_OPTIM } from "../src/train/policy/optim.js";
import { sample, samplerWeights, disposeSamplerWeights, type SampleRequest } from "../src/train/policy/sampler.js";
import { SamplerPool } from "../src/train/policy/pool.js";
import { Rng } from "../src/train/rng.js";

const CONFIG: ModelConfig = { ...DEFAULT_MODEL, vocabSize: 49 };
const TRAIN_B = 32, TRAIN_T = 40;
const SAMPLE_ROWS = 64, SAMPLE_NEW = 40;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Training tokens per second: median over `reps` steps after two warm-up steps. */
function trainRate(backend: PolicyBackend, reps: number): number {
  const policy = Policy.create(CONFIG, 1, { backend });
  const opt = new Adam(DEFAULT_OPTIM, policy.params);
  const rng = new Rng(0);
  const N = TRAIN_B * TRAIN_T;
  const toks = Int32Array.from({ length: N }, () => Math.floor(rng.next() * CONFIG.vocabSize));
  const targets = Int32Array.from({ length: N }, () => Math.floor(rng.next() * CONFIG.vocabSize));
  const adv = tf.tensor1d(Float32Array.from({ length: N }, () => rng.normal()));
  const rates: number[] = [];
  for (let r = 0; r < reps + 2; r++) {
    const t0 = performance.now();
    const { value, grads } = tf.variableGrads(() => {
      const lp = selectLogProbs(policy.forward(toks, TRAIN_B, TRAIN_T), targets);
      const ratio = tf.exp(tf.sub(lp, stopGradient(lp)));
      return tf.neg(tf.mean(tf.minimum(tf.mul(ratio, adv), tf.mul(tf.clipByValue(ratio, 0.8, 1.2), adv)))) as tf.Scalar;
    });
    const named = new Map<string, tf.Tensor>([...policy.params].map(([n, v]) => [n, grads[v.name]]));
    opt.step(named, 1e-3);
    value.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
    if (r >= 2) rates.push(N / ((performance.now() - t0) / 1000));
  }
  adv.dispose();
  opt.dispose();
  policy.dispose();
  return median(rates);
}

function sampleRequests(): SampleRequest[] {
  return Array.from({ length: SAMPLE_ROWS }, (_, i) => ({ prefix: [i % CONFIG.vocabSize], maxNew: SAMPLE_NEW }));
}

const SAMPLE_OPTS = { temperature: 1, topP: 1, eos: -1 };

/** Sampled tokens per second on this thread: median over `reps` batches after one warm-up. */
function sampleRate(backend: PolicyBackend, reps: number): number {
  const sw = samplerWeights(CONFIG, Policy.create(CONFIG, 1, { backend: "tfjs" }).weights(), backend);
  const reqs = sampleRequests();
  const rates: number[] = [];
  for (let r = 0; r < reps + 1; r++) {
    const t0 = performance.now();
    const res = sample(sw, reqs, SAMPLE_OPTS, new Rng(r));
    const n = res.reduce((s, x) => s + x.tokens.length, 0);
    if (r >= 1) rates.push(n / ((performance.now() - t0) / 1000));
  }
  disposeSamplerWeights(sw);
  return median(rates);
}

/** Sampled tokens per second on a pool of `workers` threads (the trainer's SamplerPool). */
async function poolRate(workers: number, reps: number): Promise<number> {
  const pool = new SamplerPool(workers);
  const w = Policy.create(CONFIG, 1, { backend: "tfjs" });
  await pool.setWeights(CONFIG, w.weights());
  w.dispose();
  const reqs = sampleRequests();
  const rates: number[] = [];
  for (let r = 0; r < reps + 1; r++) {
    const t0 = performance.now();
    const res = await pool.sample(reqs, SAMPLE_OPTS, new Rng(r));
    const n = res.reduce((s, x) => s + x.tokens.length, 0);
    if (r >= 1) rates.push(n / ((performance.now() - t0) / 1000));
  }
  await pool.close();
  return median(rates);
}

interface TwinFigures {
  torch: string;
  params: number;
  train_tokens_per_s: number;
  sampling_tokens_per_s: number;
}

/** Runs the PyTorch twin (one thread) and reads its JSON line. */
function torchTwin(python: string): TwinFigures {
  const script = new URL("../../bench/torch_twin.py", import.meta.url).pathname;
  if (!existsSync(script)) throw new Error(`torch twin not found at ${script}`);
  const out = execFileSync(python, [script], { encoding: "utf8", env: { ...process.env, OMP_NUM_THREADS: "1", MKL_NUM_THREADS: "1" } });
  const line = out.trim().split("\n").pop() ?? "";
  return JSON.parse(line) as TwinFigures;
}

function args(): { json: boolean; python: string | null; reps: number } {
  const a = process.argv.slice(2);
  const at = (flag: string) => {
    const i = a.indexOf(flag);
    return i >= 0 && i + 1 < a.length ? a[i + 1] : null;
  };
  const reps = Number(at("--reps") ?? process.env.BENCH_REPS ?? 5);
  if (!Number.isInteger(reps) || reps < 1) throw new Error("--reps must be a positive integer");
  return { json: a.includes("--json"), python: at("--python"), reps };
}

async function main(): Promise<void> {
  const { json, python, reps } = args();
  await useBackend("wasm");
  const fig: Record<string, number | string | null> = { params: countParameters(CONFIG) };
  fig.train_tokens_per_s = Math.round(trainRate("native", reps));
  fig.sampling_tokens_per_s = Math.round(sampleRate("native", reps));
  fig.sampling_tokens_per_s_1worker = Math.round(await poolRate(1, reps));
  fig.sampling_tokens_per_s_2 = Math.round(await poolRate(2, reps));
  fig.sampling_speedup_2 = +((fig.sampling_tokens_per_s_2 as number) / (fig.sampling_tokens_per_s as number)).toFixed(2);
  fig.tfjs_train_tokens_per_s = Math.round(trainRate("tfjs", Math.min(reps, 3)));
  fig.tfjs_sampling_tokens_per_s = Math.round(sampleRate("tfjs", Math.min(reps, 3)));
  if (python) {
    const t = torchTwin(python);
    fig.torch = t.torch;
    fig.torch_train_tokens_per_s = Math.round(t.train_tokens_per_s);
    fig.torch_sampling_tokens_per_s = Math.round(t.sampling_tokens_per_s);
    fig.train_ratio_vs_torch = +((fig.train_tokens_per_s as number) / t.train_tokens_per_s).toFixed(2);
    fig.sampling_ratio_vs_torch = +((fig.sampling_tokens_per_s as number) / t.sampling_tokens_per_s).toFixed(2);
  }
  fig.load_average = loadavg()[0].toFixed(1);
  if (json) {
    process.stdout.write(JSON.stringify(fig) + "\n");
    return;
  }
  const row = (what: string, native: unknown, ref: unknown, torch: unknown) => `| ${what} | ${native} | ${ref} | ${torch ?? ""} |`;
  const out = [
    `## Trainer speed (default model, ${fig.params} parameters; tokens/s, medians of ${reps} runs)`,
    "",
    "| measure | native (default) | tfjs reference | PyTorch twin, 1 thread |",
    "|---|---:|---:|---:|",
    row(`training: forward + backward + Adam, ${TRAIN_B} x ${TRAIN_T} tokens, 1 core`, fig.train_tokens_per_s, fig.tfjs_train_tokens_per_s, fig.torch_train_tokens_per_s),
    row(`sampling with KV cache, ${SAMPLE_ROWS} rows x ${SAMPLE_NEW} new tokens, 1 core`, fig.sampling_tokens_per_s, fig.tfjs_sampling_tokens_per_s, fig.torch_sampling_tokens_per_s),
    row("sampling, pool of 1 worker thread", fig.sampling_tokens_per_s_1worker, "", ""),
    row("sampling, pool of 2 worker threads", fig.sampling_tokens_per_s_2, "", ""),
    row("sampling speed-up, 2 workers vs 1 core", `${fig.sampling_speedup_2}x`, "", ""),
    "",
    python ? `Ratios to PyTorch ${fig.torch}: training ${fig.train_ratio_vs_torch}, sampling ${fig.sampling_ratio_vs_torch}.` : "Pass --python PY (with torch installed) to measure the PyTorch twin back to back.",
    `Load average at the end: ${fig.load_average} (the machine may be shared; compare ratios measured in one run).`,
  ];
  process.stdout.write(out.join("\n") + "\n");
}

await main();
