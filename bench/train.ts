/**
 * Trainer speed (`node dist/bench/train.js`): training tokens/s (forward + backward) and
 * sampling tokens/s (batch 64) for the default ~0.5M-parameter model on one core, then
 * sampling on a pool of worker threads (one per core) and the speed-up. Prints a Markdown table.
 */
import { availableParallelism, loadavg } from "node:os";
import { tf, useBackend } from "../src/train/policy/tf.js";
import { DEFAULT_MODEL, Policy, countParameters, type ModelConfig } from "../src/train/policy/model.js";
import { selectLogProbs } from "../src/train/policy/ops.js";
import { sample, samplerWeights, disposeSamplerWeights } from "../src/train/policy/sampler.js";
import { SamplerPool } from "../src/train/policy/pool.js";
import { Rng } from "../src/train/rng.js";
import { llamaCppSamplingTable } from "./llamacpp-sampling.js";

/** CPU seconds this process has used: a rate per CPU-second is what one idle core would give. */
function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  await useBackend("wasm");
  const cfg: ModelConfig = { ...DEFAULT_MODEL, vocabSize: 49 };
  const policy = Policy.create(cfg, 1);
  const reps = Number(process.env.BENCH_REPS ?? 5);

  // Training: B sequences of T tokens, mean next-token NLL, full backward pass.
  const B = 32, T = 40;
  const toks = Int32Array.from({ length: B * T }, (_, k) => (k * 7 + 3) % cfg.vocabSize);
  const trainRates: number[] = [];
  const trainCpu: number[] = [];
  for (let r = 0; r < reps + 2; r++) {
    const t0 = performance.now();
    const c0 = cpuSeconds();
    const { value, grads } = tf.variableGrads(() => tf.neg(tf.mean(selectLogProbs(policy.forward(toks, B, T), toks))) as tf.Scalar);
    value.dataSync();
    for (const g of Object.values(grads)) g.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
    if (r >= 2) {
      trainRates.push((B * T) / ((performance.now() - t0) / 1000));
      trainCpu.push((B * T) / (cpuSeconds() - c0));
    }
  }

  // Sampling: 64 rows, a 9-token prefix, 32 new tokens each (no eos, so every row runs to the end).
  const reqs = Array.from({ length: 64 }, (_, i) => ({ prefix: [1, 3 + (i % 10), 4, 5, 6, 7, 8, 9, 10], maxNew: 32 }));
  const opts = { temperature: 1, topP: 1, eos: -1 };
  const sw = samplerWeights(cfg, policy.weights());
  const sampleRates: number[] = [];
  const sampleCpu: number[] = [];
  for (let r = 0; r < reps + 1; r++) {
    const t0 = performance.now();
    const c0 = cpuSeconds();
    const res = sample(sw, reqs, opts, new Rng(r));
    const n = res.reduce((s, x) => s + x.tokens.length, 0);
    if (r >= 1) {
      sampleRates.push(n / ((performance.now() - t0) / 1000));
      sampleCpu.push(n / (cpuSeconds() - c0));
    }
  }
  disposeSamplerWeights(sw);

  const cores = Math.max(1, availableParallelism());
  const pool = new SamplerPool(cores);
  await pool.setWeights(cfg, policy.weights());
  const poolRates: number[] = [];
  for (let r = 0; r < reps + 1; r++) {
    const t0 = performance.now();
    const res = await pool.sample(reqs, opts, new Rng(r));
    const n = res.reduce((s, x) => s + x.tokens.length, 0);
    if (r >= 1) poolRates.push(n / ((performance.now() - t0) / 1000));
  }
  await pool.close();
  policy.dispose();

  const tr = median(trainRates), sr = median(sampleRates), pr = median(poolRates);
  const out = [
    `## Trainer speed (default model, ${countParameters(cfg)} parameters, tfjs ${tf.version.tfjs} wasm backend)`,
    "",
    "| measure | tokens/s (wall, median) | best run | tokens per CPU-second | target |",
    "|---|---:|---:|---:|---:|",
    `| training, forward + backward (batch ${B} x ${T} tokens), 1 core | ${Math.round(tr)} | ${Math.round(Math.max(...trainRates))} | ${Math.round(median(trainCpu))} | 3000 |`,
    `| sampling with KV cache (batch 64, 32 new tokens), 1 core | ${Math.round(sr)} | ${Math.round(Math.max(...sampleRates))} | ${Math.round(median(sampleCpu))} | 10000 |`,
    `| sampling, ${cores} worker threads | ${Math.round(pr)} | ${Math.round(Math.max(...poolRates))} | | |`,
    `| sampling speed-up, ${cores} workers vs 1 core (wall, medians) | ${(pr / sr).toFixed(2)}x | | | |`,
    "",
    `Medians of ${reps} runs after warm-up. Load average at the end: ${loadavg().map((x) => x.toFixed(1)).join(" ")} on ${cores} cores;`,
    "wall-clock rates fall with other load, tokens per CPU-second much less so (single-threaded parts).",
  ];
  process.stdout.write(out.join("\n") + "\n");
}

await main();
process.stdout.write("\n" + (await llamaCppSamplingTable(Number(process.env.BENCH_REPS ?? 5))));
