/**
 * Sinkhorn timing for MatchTIR's soft matching: 64 predicted x 64 ground-truth tool calls
 * (reg 0.1, <= 1000 iterations, stop at marginal error 1e-9). `benchSinkhorn()` is called by the
 * benchmark harness; `node dist/bench/toolcalls.js` prints the numbers.
 *
 * The calls are drawn from 8 tools with 0-3 arguments over small value sets, so the similarity
 * matrix has the ties and zeros real trajectories have. Reported: the median wall time of the
 * Sinkhorn solve on that matrix (`ms`, the target is < 5 ms), of the similarity matrix, and of a
 * full 1000-iteration solve (stopping disabled), the worst case any 64 x 64 input can cost.
 */
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { similarityMatrix, sinkhorn } from "../src/rewards/toolcalls.js";
import { mulberry32 } from "./synth.js";

const N = 64;

function randomCalls(rng: () => number, n: number, asPrediction: boolean): unknown[] {
  const params = ["q", "k", "city", "unit", "id", "lang"];
  const values = ["a", "b", "c", 1, 2, 3, true];
  return Array.from({ length: n }, () => {
    const args: Record<string, unknown> = {};
    const m = Math.floor(rng() * 4);
    for (let k = 0; k < m; k++) args[params[Math.floor(rng() * params.length)]] = values[Math.floor(rng() * values.length)];
    const name = `tool${Math.floor(rng() * 8)}`;
    return asPrediction ? { name, arguments: JSON.stringify(args) } : { name, parameters: args };
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

function time(fn: () => void, reps: number): number {
  for (let r = 0; r < Math.min(20, reps); r++) fn(); // warm-up: let the JIT compile the loops
  const ts: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

export interface SinkhornBench {
  /** Median ms of one 64 x 64 Sinkhorn solve on the tool-call similarity matrix. */
  ms: number;
  /** Iterations that solve took. */
  iterations: number;
  /** Median ms to build the 64 x 64 similarity matrix from the raw calls. */
  similarityMs: number;
  /** Median ms of a 64 x 64 solve forced to run all 1000 iterations. */
  fullMs: number;
}

export function benchSinkhorn(reps = 101): SinkhornBench {
  const rng = mulberry32(7);
  const preds = randomCalls(rng, N, true);
  const gts = randomCalls(rng, N, false);
  let S = similarityMatrix(preds, gts);
  const similarityMs = time(() => {
    S = similarityMatrix(preds, gts);
  }, reps);
  let iterations = 0;
  const ms = time(() => {
    iterations = sinkhorn(S, N, N).iterations;
  }, reps);
  const fullMs = time(() => {
    sinkhorn(S, N, N, { stopThr: 0 });
  }, Math.max(5, Math.floor(reps / 5)));
  return { ms, iterations, similarityMs, fullMs };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = benchSinkhorn();
  console.log(`sinkhorn 64x64: ${r.ms.toFixed(3)} ms (${r.iterations} iterations; target < 5 ms); similarity matrix ${r.similarityMs.toFixed(3)} ms; 1000 iterations ${r.fullMs.toFixed(3)} ms`);
}
