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
import { Workspace } from "../src/train/native/kernels.js";
import { llamaCppSampling } from "./llamacpp-sampling.js";

const CONFIG: ModelConfig = { ...DEFAULT_MODEL, vocabSize: 49 };
const TRAIN_B = 32, TRAIN_T = 40;
const SAMPLE_ROWS = 64, SAMPLE_NEW = 40;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** A rate in wall-clock time and per CPU-second of this process (what one core of its own would give). */
interface Rate {
  wall: number;
  cpu: number;
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Times `run` (which returns how many tokens it handled) `reps` times after `warmup` runs: medians. */
async function measure(reps: number, warmup: number, run: () => number | Promise<number>): Promise<Rate> {
  const wall: number[] = [], cpu: number[] = [];
  for (let r = 0; r < reps + warmup; r++) {
    const t0 = performance.now(), c0 = cpuSeconds();
    const n = await run();
    const dt = (performance.now() - t0) / 1000, dc = cpuSeconds() - c0;
    if (r >= warmup) {
      wall.push(n / dt);
      cpu.push(n / dc);
    }
  }
  return { wall: median(wall), cpu: median(cpu) };
}

/** Training tokens per second: median over `reps` steps after two warm-up steps. */
async function trainRate(backend: PolicyBackend, reps: number): Promise<Rate> {
  const policy = Policy.create(CONFIG, 1, { backend });
  const opt = new Adam(DEFAULT_OPTIM, policy.params);
  const rng = new Rng(0);
  const N = TRAIN_B * TRAIN_T;
  const toks = Int32Array.from({ length: N }, () => Math.floor(rng.next() * CONFIG.vocabSize));
  const targets = Int32Array.from({ length: N }, () => Math.floor(rng.next() * CONFIG.vocabSize));
  const adv = tf.tensor1d(Float32Array.from({ length: N }, () => rng.normal()));
  const rate = await measure(reps, 2, () => {
    const { value, grads } = tf.variableGrads(() => {
      const lp = selectLogProbs(policy.forward(toks, TRAIN_B, TRAIN_T), targets);
      const ratio = tf.exp(tf.sub(lp, stopGradient(lp)));
      return tf.neg(tf.mean(tf.minimum(tf.mul(ratio, adv), tf.mul(tf.clipByValue(ratio, 0.8, 1.2), adv)))) as tf.Scalar;
    });
    const named = new Map<string, tf.Tensor>([...policy.params].map(([n, v]) => [n, grads[v.name]]));
    opt.step(named, 1e-3);
    value.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
    return N;
  });
  adv.dispose();
  opt.dispose();
  policy.dispose();
  return rate;
}

function sampleRequests(): SampleRequest[] {
  return Array.from({ length: SAMPLE_ROWS }, (_, i) => ({ prefix: [i % CONFIG.vocabSize], maxNew: SAMPLE_NEW }));
}

const SAMPLE_OPTS = { temperature: 1, topP: 1, eos: -1 };

/** Sampled tokens per second on this thread: median over `reps` batches after one warm-up. */
async function sampleRate(backend: PolicyBackend, reps: number): Promise<Rate> {
  const sw = samplerWeights(CONFIG, Policy.create(CONFIG, 1, { backend: "tfjs" }).weights(), backend);
  const reqs = sampleRequests();
  let seed = 0;
  const rate = await measure(reps, 1, () => sample(sw, reqs, SAMPLE_OPTS, new Rng(seed++)).reduce((s, x) => s + x.tokens.length, 0));
  disposeSamplerWeights(sw);
  return rate;
}

/**
 * Sampled tokens per second on a pool of `workers` threads (the trainer's SamplerPool); `cpu`
 * here is per CPU-second of all threads, so wall / cpu is how many cores the pool really got.
 */
async function poolRate(workers: number, reps: number): Promise<Rate> {
  const pool = new SamplerPool(workers);
  const w = Policy.create(CONFIG, 1, { backend: "tfjs" });
  await pool.setWeights(CONFIG, w.weights());
  w.dispose();
  const reqs = sampleRequests();
  let seed = 0;
  const rate = await measure(reps, 1, async () => (await pool.sample(reqs, SAMPLE_OPTS, new Rng(seed++))).reduce((s, x) => s + x.tokens.length, 0));
  await pool.close();
  return rate;
}

/** GFLOP/s of the wasm SIMD gemm on the training pass's largest product shape, [1280, 128] x [128, 512]. */
async function gemmGflops(reps: number): Promise<Rate> {
  const M = TRAIN_B * TRAIN_T, K = CONFIG.dModel, N = CONFIG.dFF;
  const ws = new Workspace();
  const a = ws.alloc(M * K), b = ws.alloc(K * N), c = ws.alloc(M * N);
  ws.reserveGemm(K);
  for (let i = 0; i < a.length; i++) a.a[i] = Math.sin(i);
  for (let i = 0; i < b.length; i++) b.a[i] = Math.cos(i);
  const r = await measure(reps, 3, () => {
    for (let k = 0; k < 10; k++) ws.gemm(M, N, K, a, 0, K, 1, b, 0, N, c, 0, N, false);
    return (10 * 2 * M * N * K) / 1e9;
  });
  return r;
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
  const put = (key: string, r: Rate) => {
    fig[key] = Math.round(r.wall);
    fig[key + "_per_cpu_s"] = Math.round(r.cpu);
  };
  const train = await trainRate("native", reps), samp = await sampleRate("native", reps);
  const one = await poolRate(1, reps), two = await poolRate(2, reps);
  put("train_tokens_per_s", train);
  put("sampling_tokens_per_s", samp);
  put("sampling_tokens_per_s_1worker", one);
  put("sampling_tokens_per_s_2", two);
  fig.sampling_speedup_2 = +(two.wall / samp.wall).toFixed(2);
  fig.sampling_cores_used_2 = +(two.wall / two.cpu).toFixed(2);
  put("tfjs_train_tokens_per_s", await trainRate("tfjs", Math.min(reps, 3)));
  put("tfjs_sampling_tokens_per_s", await sampleRate("tfjs", Math.min(reps, 3)));
  const g = await gemmGflops(reps);
  fig.gemm_gflops = +g.wall.toFixed(1);
  fig.gemm_gflops_per_cpu_s = +g.cpu.toFixed(1);
  if (python) {
    const t = torchTwin(python);
    fig.torch = t.torch;
    fig.torch_train_tokens_per_s = Math.round(t.train_tokens_per_s);
    fig.torch_sampling_tokens_per_s = Math.round(t.sampling_tokens_per_s);
    fig.train_ratio_vs_torch = +(train.wall / t.train_tokens_per_s).toFixed(2);
    fig.sampling_ratio_vs_torch = +(samp.wall / t.sampling_tokens_per_s).toFixed(2);
  }
  fig.load_average = loadavg()[0].toFixed(1);
  // The GGUF sampler (llama.cpp through node-llama-cpp) on the same workload, in the same run.
  const llamaCpp = await llamaCppSampling(Number(process.env.BENCH_REPS ?? reps));
  if (json) {
    process.stdout.write(JSON.stringify({ ...fig, ...llamaCpp.figures }) + "\n");
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
    row("sampling speed-up, 2 workers vs 1 core", `${fig.sampling_speedup_2}x (${fig.sampling_cores_used_2} cores busy)`, "", ""),
    "",
    python ? `Ratios to PyTorch ${fig.torch}: training ${fig.train_ratio_vs_torch}, sampling ${fig.sampling_ratio_vs_torch}.` : "Pass --python PY (with torch installed) to measure the PyTorch twin back to back.",
    `The wasm SIMD gemm on [${TRAIN_B * TRAIN_T}, ${CONFIG.dModel}] x [${CONFIG.dModel}, ${CONFIG.dFF}]: ${fig.gemm_gflops} GFLOP/s (${fig.gemm_gflops_per_cpu_s} per CPU-second).`,
    `Per CPU-second of this process (what a core of its own gives): training ${fig.train_tokens_per_s_per_cpu_s}, sampling ${fig.sampling_tokens_per_s_per_cpu_s}.`,
    `Load average at the end: ${fig.load_average} (the machine may be shared; compare ratios measured in one run).`,
  ];
  process.stdout.write(out.join("\n") + "\n");
  process.stdout.write("\n" + llamaCpp.table);
}

await main();
