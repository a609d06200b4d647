/**
 * LaRe: latent reward from LLM-written factor functions (Qu et al., AAAI 2025; reference code
 * thu-rllab/LaRe `mujoco/reward_model`). An LLM writes `evaluation_func(observation, action)`
 * returning factor values z(s, a); a reward model r^ = f(z) is fitted so that a trajectory's
 * rewards redistribute its episodic return G:
 *
 *   LaRe_RD:   L = mean_batch ( (sum_t r^_t / T - G/T)^2 )
 *   LaRe_RRDu: L = mean_batch ( (mean_K r^ - G/T)^2 ) - mean_batch ( Var_K(r^) (1 - K/T) / K )
 *              over K sampled steps, Var_K the sample variance (QUIRK: T < K samples with
 *              replacement and makes 1 - K/T negative)
 *
 * Through assign (PROPOSAL: the reference's reward model is a 3-layer MLP trained by Adam; a
 * linear r^ = w.z + b fitted in closed form to the RD loss over the batch stands in for it):
 * `signals.factors` gives each step (`step_ends`) its factor vector, G is the outcome score, and
 * each step's tokens get the fitted r^_t's return-to-go as `returns` and that minus the group's
 * mean return as the advantage. Running the generated factor code itself needs a sandbox
 * (not in this library yet).
 */
import type { RolloutBatch } from "../core/batch.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { outcomeScores } from "../core/rewards.js";
import { signalMatrix } from "../core/signals.js";
import { stepReturnsAgainstGroup } from "./calm.js";

export interface LareOptions {
  ridge: number;
}

/** LaRe_RD loss of a batch: trajectories' predicted step rewards against their returns. */
export function lareRdLoss(rewards: readonly (readonly number[])[], returns: readonly number[]): number {
  let s = 0;
  rewards.forEach((r, e) => {
    const T = r.length;
    s += (r.reduce((a, x) => a + x, 0) / T - returns[e] / T) ** 2;
  });
  return s / rewards.length;
}

/** LaRe_RRDu loss from each trajectory's rewards at its K sampled steps (and its length T). */
export function lareRrdLoss(sampled: readonly (readonly number[])[], lengths: readonly number[], returns: readonly number[]): number {
  let mse = 0, corr = 0;
  sampled.forEach((x, e) => {
    const K = x.length, T = lengths[e];
    const m = x.reduce((a, v) => a + v, 0) / K;
    mse += (m - returns[e] / T) ** 2;
    const v = K > 1 ? x.reduce((a, y) => a + (y - m) ** 2, 0) / (K - 1) : 0;
    corr += (v * (1 - K / T)) / K;
  });
  return mse / sampled.length - corr / sampled.length;
}

/** Solves (A + ridge I) x = b for a small dense system (Gaussian elimination, partial pivoting). */
function solve(A: Float64Array, b: Float64Array, n: number, ridge: number): Float64Array {
  const M = Float64Array.from(A);
  const x = Float64Array.from(b);
  for (let i = 0; i < n; i++) M[i * n + i] += ridge;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r * n + c]) > Math.abs(M[p * n + c])) p = r;
    if (p !== c) {
      for (let k = 0; k < n; k++) [M[c * n + k], M[p * n + k]] = [M[p * n + k], M[c * n + k]];
      [x[c], x[p]] = [x[p], x[c]];
    }
    const piv = M[c * n + c];
    if (Math.abs(piv) < 1e-300) continue;
    for (let r = c + 1; r < n; r++) {
      const f = M[r * n + c] / piv;
      if (f === 0) continue;
      for (let k = c; k < n; k++) M[r * n + k] -= f * M[c * n + k];
      x[r] -= f * x[c];
    }
  }
  for (let c = n - 1; c >= 0; c--) {
    let s = x[c];
    for (let k = c + 1; k < n; k++) s -= M[c * n + k] * x[k];
    const piv = M[c * n + c];
    x[c] = Math.abs(piv) < 1e-300 ? 0 : s / piv;
  }
  return x;
}

export function lare(batch: RolloutBatch, o: LareOptions): Assignment {
  const G = outcomeScores(batch);
  const Z: { data: Float64Array; rows: number; cols: number }[] = [];
  let F = -1;
  for (let i = 0; i < batch.n; i++) {
    const d = batch.stepOffsets[i + 1] - batch.stepOffsets[i];
    const z = signalMatrix(batch, i, "factors", "lare", d, F >= 0 && d > 0 ? F : undefined);
    if (d > 0 && F < 0) F = z.cols;
    Z.push(z);
  }
  const n = Math.max(F, 0) + 1; // weights and a bias
  // RD in closed form: x_e = [mean_t z_t, 1], y_e = G_e / T_e; minimise sum (w.x_e - y_e)^2.
  const A = new Float64Array(n * n), b = new Float64Array(n);
  const x = new Float64Array(n);
  for (let i = 0; i < batch.n; i++) {
    const T = Z[i].rows;
    if (T === 0) continue;
    x.fill(0);
    for (let t = 0; t < T; t++) for (let f = 0; f < n - 1; f++) x[f] += Z[i].data[t * (n - 1) + f] / T;
    x[n - 1] = 1;
    const y = G[i] / T;
    for (let r = 0; r < n; r++) {
      b[r] += x[r] * y;
      for (let c = 0; c < n; c++) A[r * n + c] += x[r] * x[c];
    }
  }
  const w = solve(A, b, n, o.ridge);
  const toGo = new Float64Array(batch.stepOffsets[batch.n]); // return-to-go of the fitted rewards
  const start = new Float64Array(batch.n);
  Z.forEach((z, i) => {
    const s0 = batch.stepOffsets[i];
    let run = 0;
    for (let t = z.rows - 1; t >= 0; t--) {
      let r = w[n - 1];
      for (let f = 0; f < n - 1; f++) r += w[f] * z.data[t * (n - 1) + f];
      toGo[s0 + t] = run += r;
    }
    start[i] = z.rows > 0 ? toGo[s0] : 0;
  });
  const { advantages, returns } = stepReturnsAgainstGroup(batch, toGo, start);
  return { advantages, returns, diag: { rollouts: { fitted_return: start } } };
}

export const lareSpec = registerMethod<LareOptions>({
  name: "lare",
  summary: "Latent reward: step rewards from LLM-written factors, fitted to redistribute each episode's return (RD)",
  paper: "LaRe, Qu et al., AAAI 2025; thu-rllab/LaRe (linear RD fit in place of the MLP: PROPOSAL)",
  status: "reference-code",
  example: "factors.jsonl",
  requires: ["step_ends"],
  signals: ["factors"],
  requiredSignals: ["factors"],
  options: {
    ridge: { type: "number", default: 1e-6, min: 0, doc: "ridge term of the closed-form least-squares fit" },
  },
  assign: lare,
});
