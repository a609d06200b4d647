/**
 * Sampling tokens/s of the default model through the built-in sampler and through llama.cpp (the
 * policy exported to GGUF, node-llama-cpp), batch 64, in one run: the built-in sampler on one
 * core is the reference the ratios are taken against. llama.cpp runs in exact mode (the full
 * distribution comes back, we draw) and native mode (llama.cpp draws), on 1 and 2 cores; for each,
 * where the time went: llama.cpp's decode per batch and the wall time per output read. Part of
 * `npm run bench:train`.
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
const ROWS = 64, NEW_TOKENS = 32;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Wall-clock tokens/s of `reps` runs after one warm-up. */
async function rate(b: RolloutBackend, reps: number): Promise<number> {
  // 64 rows, a 9-token prefix, 32 new tokens each (no eos, so every row runs to the end).
  const reqs = Array.from({ length: ROWS }, (_, i) => ({ prefix: [1, 3 + (i % 10), 4, 5, 6, 7, 8, 9, 10], maxNew: NEW_TOKENS }));
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

export interface LlamaCppFigures {
  /** JSON keys: tokens/s per sampler, ratios to the built-in sampler, where llama.cpp's time went. */
  figures: Record<string, number | string>;
  table: string;
}

export async function llamaCppSampling(reps: number): Promise<LlamaCppFigures> {
  const cfg: ModelConfig = { ...DEFAULT_MODEL, vocabSize: VOCAB.size };
  const weights = initialWeights(cfg, 1);
  const builtin = new BuiltinBackend(cfg, weights);
  const ref = await rate(builtin, reps);
  await builtin.close();
  const figures: Record<string, number | string> = { llamacpp_reference_tokens_per_s: Math.round(ref) };
  let gguf: typeof import("../src/rollout/gguf.js");
  try {
    gguf = await import("../src/rollout/gguf.js");
  } catch (e) {
    return { figures, table: `llama.cpp sampling: skipped (${(e as Error).message})\n` };
  }
  const rows: string[] = [];
  const rates = new Map<string, number>();
  // BENCH_LLAMACPP_THREADS=1 skips the 2-core measures (on a machine whose cores are oversubscribed).
  const threadList = (process.env.BENCH_LLAMACPP_THREADS ?? "1,2").split(",").map(Number);
  // Each mode on 1 and 2 cores with the default shards of 16 sequences; native also with all 64 rows in one context (why the shards).
  const runs: { mode: "exact" | "native"; threads: number; per: number }[] = [];
  for (const mode of ["exact", "native"] as const) for (const threads of threadList) runs.push({ mode, threads, per: 16 });
  runs.push({ mode: "native", threads: 1, per: ROWS });
  for (const { mode, threads, per } of runs) {
    const label = `llama.cpp ${mode}, ${threads} core${threads > 1 ? "s" : ""}${per === ROWS ? `, one ${ROWS}-sequence context` : ""}`;
    const b = await gguf.GgufBackend.fromPolicy(cfg, weights, policyVocab(VOCAB), { threads, sequences: ROWS, sequencesPerContext: per, mode });
    try {
      // One decode step first: when the cores are oversubscribed, a multi-thread step can take
      // seconds, and the full measure would run for many minutes.
      const t0 = performance.now();
      await b.sample(Array.from({ length: ROWS }, () => ({ prefix: [1, 3, 4], maxNew: 1 })), { temperature: 1, topP: 1, eos: -1 }, new Rng(0));
      const step = (performance.now() - t0) / 1000;
      if (step > STALL_SECONDS) {
        rows.push(`| ${label} | not measured: one step took ${step.toFixed(1)} s (cores oversubscribed) | | | | |`);
        continue;
      }
      const before = b.timings();
      const r = await rate(b, reps);
      const t = b.timings();
      const decodeMs = (t.decodeMs - before.decodeMs) / Math.max(1, t.decodes - before.decodes);
      // rate() samples reps + 1 times ROWS x NEW_TOKENS tokens (the warm-up included).
      const decodeUs = (1000 * (t.decodeMs - before.decodeMs)) / ((reps + 1) * ROWS * NEW_TOKENS);
      const readUs = (1000 * (t.readMs - before.readMs)) / Math.max(1, t.reads - before.reads);
      const key = `llamacpp_${mode}_${threads}${per === ROWS ? "_one_context" : ""}`;
      rates.set(key, r);
      figures[`${key}_tokens_per_s`] = Math.round(r);
      figures[`${key}_vs_reference`] = +(r / ref).toFixed(2);
      figures[`${key}_decode_ms_per_batch`] = +decodeMs.toFixed(2);
      figures[`${key}_read_us_per_token`] = Math.round(readUs);
      figures[`${key}_decode_us_per_token`] = Math.round(decodeUs);
      rows.push(`| ${label} | ${Math.round(r)} | ${(r / ref).toFixed(2)}x | ${decodeMs.toFixed(2)} | ${Math.round(decodeUs)} | ${Math.round(readUs)} |`);
      if (mode === "exact" && threads === 1) {
        // What the trainer pays after each update: a new GGUF file, model and contexts.
        const times: number[] = [];
        for (let k = 0; k < 3; k++) {
          const t1 = performance.now();
          await b.setWeights(weights);
          times.push(performance.now() - t1);
        }
        figures.llamacpp_set_weights_ms = Math.round(median(times));
      }
    } finally {
      await b.close();
    }
  }
  const speedups: string[] = [];
  for (const mode of ["exact", "native"]) {
    const one = rates.get(`llamacpp_${mode}_1`), two = rates.get(`llamacpp_${mode}_2`);
    if (one && two) {
      figures[`llamacpp_${mode}_speedup_2`] = +(two / one).toFixed(2);
      speedups.push(`${mode} ${(two / one).toFixed(2)}x`);
    }
  }
  figures.llamacpp_load_average = loadavg()[0].toFixed(1);
  const table = [
    `## Sampling backends (default model, batch ${ROWS}, ${NEW_TOKENS} new tokens, temperature 1)`,
    "",
    "| sampler | tokens/s (wall, median) | vs built-in | llama.cpp decode, ms per batch | decode, us per token | output reads, us per token |",
    "|---|---:|---:|---:|---:|---:|",
    `| built-in wasm sampler, 1 core (reference) | ${Math.round(ref)} | 1.00x | | ${Math.round(1e6 / ref)} (whole sampler) | |`,
    ...rows,
    "",
    speedups.length ? `llama.cpp speed-up, 2 cores vs 1: ${speedups.join(", ")}.` : "",
    figures.llamacpp_set_weights_ms !== undefined ? `Replacing the weights (setWeights: GGUF write, model and contexts reloaded): ${figures.llamacpp_set_weights_ms} ms.` : "",
    "Decode, us per token: llama.cpp's decode time alone (no reads, no drawing) over the tokens sampled; the reference's figure is its whole sampler.",
    "Output reads: wall time from a batch's first sampleToken call to its last, per token (reads of other shards and decodes overlap it).",
    `Medians of ${reps} runs after warm-up, same run. Load average at the end: ${loadavg().map((x) => x.toFixed(1)).join(" ")}.`,
    "",
  ].join("\n");
  return { figures, table };
}
