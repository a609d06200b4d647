/**
 * Sampling tokens/s of the default model through tfjs and through llama.cpp (the policy exported
 * to GGUF, node-llama-cpp), 1 thread and 2, batch 64, in one run: the tfjs sampler is the
 * reference the ratios are taken against. Part of `npm run bench:train`.
 */
import { loadavg } from "node:os";
import { DEFAULT_MODEL, initialWeights, type ModelConfig } from "../src/train/policy/model.js";
import { Rng } from "../src/train/rng.js";
import { VOCAB } from "../src/tasks/vocab.js";
import { BuiltinBackend } from "../src/rollout/builtin.js";
import type { RolloutBackend } from "../src/rollout/backend.js";
import { policyVocab } from "../src/rollout/open.js";

/** A first decode step slower than this means the machine is too loaded to measure threads. */
const STALL_SECONDS = 2;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Wall-clock tokens/s of `reps` runs after one warm-up. */
async function rate(b: RolloutBackend, reps: number): Promise<number> {
  // 64 rows, a 9-token prefix, 32 new tokens each (no eos, so every row runs to the end).
  const reqs = Array.from({ length: 64 }, (_, i) => ({ prefix: [1, 3 + (i % 10), 4, 5, 6, 7, 8, 9, 10], maxNew: 32 }));
  const opts = { temperature: 1, topP: 1, eos: -1 };
  const rates: number[] = [];
  for (let r = 0; r < reps + 1; r++) {
    const t0 = performance.now();
    const res = await b.sample(reqs, opts, new Rng(r));
    const n = res.reduce((s, x) => s + x.tokens.length, 0);
    if (r >= 1) rates.push(n / ((performance.now() - t0) / 1000));
  }
  return median(rates);
}

export async function llamaCppSamplingTable(reps: number): Promise<string> {
  const cfg: ModelConfig = { ...DEFAULT_MODEL, vocabSize: VOCAB.size };
  const weights = initialWeights(cfg, 1);
  const tfjs = new BuiltinBackend(cfg, weights);
  const ref = await rate(tfjs, reps);
  await tfjs.close();
  let gguf: typeof import("../src/rollout/gguf.js");
  try {
    gguf = await import("../src/rollout/gguf.js");
  } catch (e) {
    return `llama.cpp sampling: skipped (${(e as Error).message})\n`;
  }
  const rows: string[] = [];
  const rates: number[] = [];
  // BENCH_LLAMACPP_THREADS=1 skips the 2-thread measure (on a machine whose cores are oversubscribed).
  for (const threads of (process.env.BENCH_LLAMACPP_THREADS ?? "1,2").split(",").map(Number)) {
    const b = await gguf.GgufBackend.fromPolicy(cfg, weights, policyVocab(VOCAB), { threads, sequences: 64 });
    // One decode step first: when the cores are oversubscribed, llama.cpp's thread barriers can
    // make a multi-thread step take seconds, and the full measure would run for many minutes.
    const t0 = performance.now();
    await b.sample(Array.from({ length: 64 }, () => ({ prefix: [1, 3, 4], maxNew: 1 })), { temperature: 1, topP: 1, eos: -1 }, new Rng(0));
    const step = (performance.now() - t0) / 1000;
    if (step > STALL_SECONDS) {
      await b.close();
      rows.push(`| llama.cpp (node-llama-cpp), ${threads} threads | not measured: one step took ${step.toFixed(1)} s (cores oversubscribed) | |`);
      continue;
    }
    const r = await rate(b, reps);
    await b.close();
    rates.push(r);
    rows.push(`| llama.cpp (node-llama-cpp), ${threads} thread${threads > 1 ? "s" : ""} | ${Math.round(r)} | ${(r / ref).toFixed(2)}x |`);
  }
  return [
    "## Sampling backends (default model, batch 64, 32 new tokens, temperature 1)",
    "",
    "| sampler | tokens/s (wall, median) | vs tfjs |",
    "|---|---:|---:|",
    `| tfjs wasm sampler, 1 thread (reference) | ${Math.round(ref)} | 1.00x |`,
    ...rows,
    ...(rates.length === 2 ? [`| llama.cpp speed-up, 2 threads vs 1 | ${(rates[1] / rates[0]).toFixed(2)}x | |`] : []),
    "",
    `Medians of ${reps} runs after warm-up, same run. Load average at the end: ${loadavg().map((x) => x.toFixed(1)).join(" ")}.`,
    "",
  ].join("\n");
}
