/**
 * SPO-chain: Segment Policy Optimization for short chains of thought (arXiv 2505.23564), as the
 * reference code's `MathEpisodeGeneratorWithMCAdvantages` (episode side) and its PPO trainer
 * with `use_prob_mask` and `whiten_advantages` (trainer side).
 *
 * With p_t = exp(logprobs[t]) and rho = `threshold`:
 *
 *   candidates = { t - 1 : p_t < rho, mask_t = 1 }, ascending;  cutpoints = candidates[::interval]
 *   segment (c_prev, c] gets  A = V(c) - V(c_prev);  the last segment (c_last, T-1] gets R - V(c_last)
 *
 * where V(c) is the Monte Carlo value of the state after token c (`signals.cut_values[String(c)]`,
 * sampled by the trainer at the cutpoints {@link spoChainCutpoints} lists), V(-1) the prompt
 * state's value (`signals.start_value`, needed only when token 0 is low-probability) and R the
 * outcome score reward + sum(token_rewards). A rollout without cutpoints gets 0 everywhere.
 *
 * QUIRK (reference): the prompt value is estimated only when token 0 is a low-probability token;
 * otherwise the first segment [0, c_0] has no base and gets advantage 0.
 *
 * Probability mask (`probMask`, reference default): tokens with p > rho get advantage 0 (strict:
 * p = rho keeps it); whitening statistics run over mask-1 tokens with p < rho (all mask-1 tokens
 * of the batch if there is none); `weights` are 1 on mask-1 tokens with p < rho, 0 elsewhere, so
 * only the tokens that open a segment are trained. `probMask: false`: no zeroing, no weights,
 * whitening over all mask-1 tokens.
 *
 * Whitening (`whiten`): (A - mean) / sqrt(var + 1e-8) with the unbiased variance over the
 * whitening set of the whole batch, skipped when that set has fewer than 2 tokens. Tokens
 * outside the set are output as 0 (the reference shifts them too, but they carry weight 0, so
 * advantages x weights is the same).
 *
 * Mask-0 tokens are never cutpoint tokens and take no part in whitening; a cutpoint's state is
 * still "after token c" even when token c is a tool token. `finished: false` changes nothing
 * (the caller puts the reference's unfinished-response penalty in `reward`).
 */
import type { RolloutBatch } from "../core/batch.js";
import { InputError } from "../core/errors.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { outcomeScores } from "../core/rewards.js";
import { maskedWhiten } from "../core/whiten.js";

export interface SpoChainOptions {
  threshold: number;
  interval: number;
  probMask: boolean;
  whiten: boolean;
}

/** The options that decide where the cutpoints are. */
export type SpoCutpointOptions = Pick<SpoChainOptions, "threshold" | "interval">;

const WHITEN_EPS = 1e-8;

/**
 * Writes the cutpoints of tokens [from, to) into `out` (within-rollout indices, -1 = the prompt
 * state) and returns how many there are. `low[k]` is 1 for mask-1 tokens with p < threshold.
 */
function findCutpoints(low: ArrayLike<number>, from: number, to: number, interval: number, out: Int32Array): number {
  let candidates = 0;
  let count = 0;
  for (let k = from; k < to; k++) {
    if (low[k] !== 1) continue;
    if (candidates % interval === 0) out[count++] = k - from - 1;
    candidates++;
  }
  return count;
}

/**
 * Bounds in logprob space outside which `exp(logprob)` compares with `threshold` the same way
 * without computing the exp. The 1e-9 margin dwarfs the rounding of Math.log and Math.exp (a few
 * ulps), so the comparison is decided exactly; inside the band (and for NaN) the exp is computed.
 * Outside [1e-300, 1] (below: exp underflows to 0 or subnormals near the threshold; above: the
 * schema's max, and exp may overflow) the band is everything: lo = -inf, hi = +inf, always the exp.
 */
function logBounds(threshold: number): { lo: number; hi: number } {
  if (!(threshold >= 1e-300 && threshold <= 1)) return { lo: -Infinity, hi: Infinity };
  const l = Math.log(threshold);
  return { lo: l - 1e-9, hi: l + 1e-9 };
}

/** [len] 1 where the token is the policy's (mask 1) and p = exp(logprob) < threshold. */
function lowProbability(logprobs: ArrayLike<number>, mask: ArrayLike<number> | null, len: number, threshold: number): Uint8Array {
  const low = new Uint8Array(len);
  const { lo, hi } = logBounds(threshold);
  for (let k = 0; k < len; k++) {
    if (mask !== null && mask[k] !== 1) continue;
    const x = logprobs[k];
    if (x < lo || (x <= hi && Math.exp(x) < threshold)) low[k] = 1;
  }
  return low;
}

/**
 * The cutpoints of one rollout whose values a trainer must estimate: -1 means the prompt state
 * (`signals.start_value`), c >= 0 the state after token c (`signals.cut_values[String(c)]`).
 * `mask` absent means every token is the policy's.
 */
export function spoChainCutpoints(logprobs: ArrayLike<number>, mask: ArrayLike<number> | undefined, opts: SpoCutpointOptions): number[] {
  if (mask !== undefined && mask.length !== logprobs.length) {
    throw new RangeError(`spoChainCutpoints: mask has ${mask.length} entries, logprobs ${logprobs.length}`);
  }
  const out = new Int32Array(logprobs.length);
  const low = lowProbability(logprobs, mask ?? null, logprobs.length, opts.threshold);
  const count = findCutpoints(low, 0, logprobs.length, opts.interval, out);
  return Array.from(out.subarray(0, count));
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "number") return String(v);
  return typeof v;
}

/** signals.cut_values and signals.start_value of rollout i, type-checked. */
function valueSignals(batch: RolloutBatch, i: number): { cutValues: Readonly<Record<string, unknown>> | undefined; startValue: number | undefined } {
  const sig = batch.signals[i];
  if (sig === undefined) return { cutValues: undefined, startValue: undefined };
  const cv = sig.cut_values;
  if (cv !== undefined && (typeof cv !== "object" || cv === null || Array.isArray(cv))) {
    throw new InputError(batch.source, batch.lines[i], "signals.cut_values", `expected an object keyed by cutpoint index, got ${describe(cv)}`);
  }
  const sv = sig.start_value;
  if (sv !== undefined && (typeof sv !== "number" || !Number.isFinite(sv))) {
    throw new InputError(batch.source, batch.lines[i], "signals.start_value", `expected a finite number, got ${describe(sv)}`);
  }
  return { cutValues: cv as Readonly<Record<string, unknown>> | undefined, startValue: sv };
}

function cutValue(batch: RolloutBatch, i: number, cutValues: Readonly<Record<string, unknown>> | undefined, c: number): number {
  if (cutValues === undefined) {
    throw new InputError(batch.source, batch.lines[i], "signals.cut_values", `missing; needed for cutpoint ${c} (the state before low-probability token ${c + 1})`);
  }
  // c is a non-negative integer, so the number key names the same property as String(c) and
  // skips building a string per cutpoint (the key is spelled out only for the error).
  const v = Object.prototype.hasOwnProperty.call(cutValues, c) ? cutValues[c] : undefined;
  if (v === undefined) {
    throw new InputError(batch.source, batch.lines[i], "signals.cut_values", `no value for cutpoint "${String(c)}" (the state before low-probability token ${c + 1})`);
  }
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new InputError(batch.source, batch.lines[i], "signals.cut_values", `value for cutpoint "${String(c)}" is not a finite number (${describe(v)})`);
  }
  return v;
}

export function spoChain(batch: RolloutBatch, opts: SpoChainOptions): Assignment {
  const lp = batch.logprobs;
  for (let i = 0; i < batch.n; i++) {
    if (lp === null || !lp.present[i]) throw new InputError(batch.source, batch.lines[i], "logprobs", "required by method 'spo-chain' but missing");
  }
  const logprobs = (lp as NonNullable<typeof lp>).data;
  const { offsets, mask, nTokens } = batch;
  const { threshold, interval, probMask } = opts;
  const scores = outcomeScores(batch);
  const advantages = new Float64Array(nTokens);
  const nCutpoints = new Float64Array(batch.n);
  let maxLen = 0;
  for (let i = 0; i < batch.n; i++) maxLen = Math.max(maxLen, offsets[i + 1] - offsets[i]);
  const cuts = new Int32Array(maxLen + 1); // + the final segment end
  const low = new Uint8Array(nTokens); // mask 1 and p < threshold
  // Per rollout: 1 where a mask-1 token has p > threshold (loses its advantage under probMask).
  const high = new Uint8Array(maxLen);
  const { lo, hi } = logBounds(threshold);
  let nLow = 0;
  let nMask = 0;
  // Every interval-th candidate (0, interval, 2 interval, ...) cuts: a countdown instead of a
  // modulo per low-probability token when interval is a positive integer (the schema's type).
  const countdown = Number.isInteger(interval) && interval >= 1;

  for (let i = 0; i < batch.n; i++) {
    const from = offsets[i], to = offsets[i + 1];
    const { cutValues, startValue } = valueSignals(batch, i);
    // One pass classifies every token (one exp at most, usually none) and collects the cutpoints:
    // every interval-th low-probability token, starting with the first, cuts before itself.
    let count = 0;
    let candidates = 0;
    let untilCut = 0;
    for (let k = from; k < to; k++) {
      const mk = mask[k];
      nMask += mk;
      high[k - from] = 0;
      if (mk !== 1) continue;
      const x = logprobs[k];
      let isLow: boolean;
      let isHigh: boolean;
      if (x < lo) {
        isLow = true;
        isHigh = false;
      } else if (x > hi) {
        isLow = false;
        isHigh = true;
      } else {
        const p = Math.exp(x);
        isLow = p < threshold;
        isHigh = p > threshold;
      }
      if (isLow) {
        low[k] = 1;
        nLow++;
        if (countdown ? untilCut === 0 : candidates % interval === 0) {
          cuts[count++] = k - from - 1;
          untilCut = interval;
        }
        untilCut--;
        candidates++;
      } else if (isHigh) {
        high[k - from] = 1;
      }
    }
    nCutpoints[i] = count;
    if (count === 0) continue;
    let first = 0;
    let base: number | undefined;
    if (cuts[0] === -1) {
      if (startValue === undefined) {
        throw new InputError(batch.source, batch.lines[i], "signals.start_value", "missing; needed because token 0 is low-probability (the prompt state is a cutpoint)");
      }
      base = startValue;
      first = 1;
    }
    // Segment (cuts[j-1], cuts[j]] takes V(cuts[j]) - V(cuts[j-1]); the final one ends at T-1 with value R.
    cuts[count] = to - from - 1;
    count++;
    let segStart = from;
    for (let j = first; j < count; j++) {
      const isLast = j === count - 1;
      const value = isLast ? scores[i] : cutValue(batch, i, cutValues, cuts[j]);
      const a = base === undefined ? 0 : value - base;
      const segEnd = from + cuts[j] + 1;
      // Mask-0 tokens get 0; under the probability mask so do p > threshold tokens (p = threshold
      // keeps it, strict as the reference). A zero advantage is written as is (keeps -0 as before).
      for (let k = segStart; k < segEnd; k++) {
        advantages[k] = mask[k] !== 1 || (probMask && a !== 0 && high[k - from] === 1) ? 0 : a;
      }
      segStart = segEnd;
      base = value;
    }
  }

  let out: Float64Array = advantages;
  if (opts.whiten) {
    const useLow = probMask && nLow > 0;
    const size = useLow ? nLow : nMask;
    if (size >= 2) out = maskedWhiten(advantages, useLow ? low : mask, { eps: WHITEN_EPS, unbiased: true });
  }

  const result: Assignment = { advantages: out, diag: { rollouts: { cutpoints: nCutpoints } } };
  if (probMask) {
    // Once whitening has written its own output, the raw advantages' buffer is free: it becomes
    // the weights, saving one fresh [nTokens] array (allocation and first touch dominate here).
    const weights = out === advantages ? new Float64Array(nTokens) : advantages;
    for (let k = 0; k < nTokens; k++) weights[k] = low[k];
    result.weights = weights;
  }
  return result;
}

export const spoChainSpec = registerMethod<SpoChainOptions>({
  name: "spo-chain",
  summary: "SPO-chain: segment advantages V(c) - V(c_prev) between low-probability cutpoints, from MC values in signals",
  paper: "SPO, arXiv 2505.23564; reference code MathEpisodeGeneratorWithMCAdvantages + PPO trainer (prob mask, whitening)",
  status: "reference-code",
  requires: ["logprobs"],
  signals: ["cut_values", "start_value"],
  example: "spo.jsonl",
  options: {
    threshold: { type: "number", default: 0.9, min: 0, max: 1, doc: "rho: p < rho opens a segment (cutpoint) and is trained; p > rho is zeroed by the probability mask" },
    interval: { type: "number", default: 5, min: 1, integer: true, doc: "keep every interval-th candidate cutpoint, starting with the first" },
    probMask: { type: "boolean", default: true, doc: "zero tokens with p > rho, whiten over p < rho, weights 1 only on p < rho" },
    whiten: { type: "boolean", default: true, doc: "whiten advantages over the batch (unbiased variance, eps 1e-8 under the root)" },
  },
  assign: spoChain,
});
