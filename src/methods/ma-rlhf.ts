/**
 * MA-RLHF: PPO over macro actions (Chai et al., "MA-RLHF: Reinforcement Learning from Human
 * Feedback with Macro Actions", ICLR 2025, arXiv 2410.02743), as the reference code
 * (ernie-research/MA-RLHF @807551d, DeepSpeed-Chat `ppo_trainer.py`).
 *
 * Per trainable token (mask 1):   r_t = -klCoef (logprobs_t - ref_logprobs_t) + token_rewards_t,
 * plus clamp(reward, -rewardClip, rewardClip) on the last trainable token. The trainable tokens are
 * cut into macro actions by a termination rule (`fixed` n-gram, `random` n-gram, `ppl`; see
 * src/rewards/macro.ts), the last token always being its own macro. Per macro k, values and rewards
 * are aggregated the same way (`equal`: mean; `position`: weights 1/(j+1), normalised):
 *
 *   V_k = sum_j sigma_j V_j,   R_k = sum_j sigma_j r_j
 *   delta_k = R_k + gamma V_{k+1} - V_k,   A_k = delta_k + gamma lambda A_{k+1},   Ret_k = A_k + V_k
 *
 * and every token of macro k gets A_k (returns Ret_k). No whitening, as the reference.
 *
 * QUIRKS (reference behaviour is the default):
 * - The macro reward is the aggregate (with `equal`, the mean) of token rewards, not their sum; the
 *   paper's own definition was not checked (methods.md Part 3 §6).
 * - `keepEmptyMacro` (default true): when the n-gram rule's last boundary already is the sentinel,
 *   the reference appends it again, leaving an empty macro action with V = R = 0 that still counts
 *   as a GAE step. false drops it.
 * - `fixed` with n = 1 is vanilla token-level PPO-GAE, as the reference runs it (its macro path would
 *   add the empty macro above).
 * - `random` shuffles [1, 2, 3, 5, 10] x repeatTimes with a seeded PRNG (one stream over the batch,
 *   in input order) instead of Python's global `random.shuffle`, so runs are reproducible.
 * - The RM reward clamp is the reference's 2.5 (`rewardClip`, null disables).
 * Mask-0 tokens take no part (the sentinel is the last mask-1 token) and get advantage 0.
 */
import type { RolloutBatch } from "../core/batch.js";
import { ConfigError, InputError } from "../core/errors.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { gae } from "../core/returns.js";
import {
  aggregateMacro,
  fixedNgramBoundariesInto,
  macroChunksInto,
  pplBoundariesInto,
  randomNgramBoundariesInto,
  randomNgramLengths,
  seededRandom,
  type MacroAggregate,
  type MacroTermination,
} from "../rewards/macro.js";

export interface MaRlhfOptions {
  termination: MacroTermination;
  n: number;
  seed: number | null;
  repeatTimes: number;
  aggregate: MacroAggregate;
  gamma: number;
  lambda: number;
  klCoef: number;
  rewardClip: number | null;
  keepEmptyMacro: boolean;
}

function requireColumn(batch: RolloutBatch, col: { present: Uint8Array } | null, field: string, why: string): void {
  for (let i = 0; i < batch.n; i++) {
    if (col === null || col.present[i] !== 1) {
      throw new InputError(batch.source, batch.lines[i], field, `required by method 'ma-rlhf' (${why}) but missing`);
    }
  }
}

export function maRlhf(batch: RolloutBatch, opts: MaRlhfOptions): Assignment {
  if (opts.termination === "random" && opts.seed === null) {
    throw new ConfigError("--config: method 'ma-rlhf' option 'seed': termination 'random' needs an integer seed");
  }
  const { n, nTokens, offsets, mask } = batch;
  const values = batch.values!.data; // presence checked by the runner (requires: values)
  if (opts.klCoef !== 0) {
    requireColumn(batch, batch.logprobs, "logprobs", "KL penalty, klCoef != 0");
    requireColumn(batch, batch.refLogprobs, "ref_logprobs", "KL penalty, klCoef != 0");
  }
  if (opts.termination === "ppl") requireColumn(batch, batch.refLogprobs, "ref_logprobs", "perplexity termination");
  const lp = batch.logprobs?.data;
  const ref = batch.refLogprobs?.data;
  const tr = batch.tokenRewards?.data;
  const clip = opts.rewardClip;
  const rng = opts.termination === "random" ? seededRandom(opts.seed ?? 0) : null;
  // fixed n = 1 is the reference's vanilla PPO path: one macro per token and no empty macro.
  const keepEmpty = opts.keepEmptyMacro && !(opts.termination === "fixed" && opts.n === 1);

  // Everything per rollout lives in scratch buffers sized by the longest rollout, reused across
  // rollouts: only the two [nTokens] outputs are allocated, however large the batch.
  let maxLen = 0;
  for (let i = 0; i < n; i++) maxLen = Math.max(maxLen, offsets[i + 1] - offsets[i]);
  const cap = maxLen + 1; // a rollout with L trainable tokens has at most L + 1 boundaries / macros
  const r = new Float64Array(maxLen); // token rewards at trainable positions 0..L-1
  const v = new Float64Array(maxLen);
  const refBuf = opts.termination === "ppl" ? new Float64Array(maxLen) : null;
  const pos = new Int32Array(maxLen); // trainable position -> flat token index
  const bounds = new Int32Array(cap);
  const start = new Int32Array(cap);
  const end = new Int32Array(cap);
  const macroR = new Float64Array(cap);
  const macroV = new Float64Array(cap);
  const ones = new Uint8Array(cap).fill(1); // every macro, empty ones included, is a GAE step
  const macroOffsets = new Int32Array(2);
  const mg = { advantages: new Float64Array(cap), returns: new Float64Array(cap) };
  const advantages = new Float64Array(nTokens);
  const returns = new Float64Array(nTokens);
  const macroCount = new Float64Array(n);
  const kl = opts.klCoef;
  const aggregate = opts.aggregate;

  for (let i = 0; i < n; i++) {
    let L = 0;
    for (let k = offsets[i]; k < offsets[i + 1]; k++) {
      if (mask[k] !== 1) continue;
      pos[L] = k;
      let rt = tr ? tr[k] : 0;
      if (kl !== 0) rt -= kl * (lp![k] - ref![k]);
      r[L] = rt;
      v[L] = values[k];
      if (refBuf) refBuf[L] = ref![k];
      L++;
    }
    if (L === 0) continue;
    const R = batch.reward[i];
    r[L - 1] += clip === null ? R : Math.min(clip, Math.max(-clip, R));

    let nb: number;
    switch (opts.termination) {
      case "fixed":
        nb = fixedNgramBoundariesInto(L, opts.n, bounds);
        break;
      case "random":
        nb = randomNgramBoundariesInto(L, randomNgramLengths(rng!, opts.repeatTimes), bounds);
        break;
      case "ppl":
        nb = pplBoundariesInto(refBuf!, 0, L, bounds);
        break;
    }
    const K = macroChunksInto(bounds, nb, L, keepEmpty, start, end);
    for (let c = 0; c < K; c++) {
      macroR[c] = aggregateMacro(r, start[c], end[c], aggregate);
      macroV[c] = aggregateMacro(v, start[c], end[c], aggregate);
    }
    // GAE over this rollout's macros alone is what one GAE over all rollouts' macros computes.
    macroOffsets[1] = K;
    gae(macroR, macroV, ones, macroOffsets, opts.gamma, opts.lambda, mg);
    // Later macros overwrite earlier ones on shared positions, as the flat macro index did.
    // (A native fill per macro loses here: macros are a few tokens and each call has overhead.)
    for (let c = 0; c < K; c++) {
      const a = mg.advantages[c];
      const ret = mg.returns[c];
      for (let p = start[c]; p < end[c]; p++) {
        advantages[pos[p]] = a;
        returns[pos[p]] = ret;
      }
    }
    macroCount[i] = K;
  }
  return { advantages, returns, diag: { rollouts: { macroActions: macroCount } } };
}

export const maRlhfSpec = registerMethod<MaRlhfOptions>({
  name: "ma-rlhf",
  summary: "PPO-GAE over macro actions (n-gram or perplexity termination), macro values/rewards aggregated per macro",
  paper: "MA-RLHF, Chai et al., ICLR 2025, arXiv 2410.02743; code ernie-research/MA-RLHF (DeepSpeed-Chat ppo_trainer.py)",
  status: "reference-code",
  requires: ["values"],
  example: "plain.jsonl",
  options: {
    termination: { type: "enum", values: ["fixed", "random", "ppl"], default: "fixed", doc: "macro termination rule: fixed n-gram, randomized n-gram, or perplexity (needs ref_logprobs)" },
    n: { type: "number", default: 5, min: 1, integer: true, doc: "n-gram length of the fixed rule (1 = vanilla token-level PPO)" },
    seed: { type: "number", default: null, integer: true, nullable: true, doc: "PRNG seed of the random rule (required by termination 'random')" },
    repeatTimes: { type: "number", default: 1, min: 1, integer: true, doc: "random rule: times each length of [1, 2, 3, 5, 10] appears in the shuffled list" },
    aggregate: { type: "enum", values: ["equal", "position"], default: "equal", doc: "macro value/reward aggregation: mean, or weights 1/(k+1) normalised" },
    gamma: { type: "number", default: 1, min: 0, max: 1, doc: "discount over macro steps" },
    lambda: { type: "number", default: 0.95, min: 0, max: 1, doc: "GAE lambda over macro steps" },
    klCoef: { type: "number", default: 0.05, min: 0, doc: "per-token KL penalty -klCoef (logprobs - ref_logprobs); 0 needs no logprobs" },
    rewardClip: { type: "number", default: 2.5, min: 0, nullable: true, doc: "clamp of the outcome reward to +-rewardClip (reference 2.5; null = no clamp)" },
    keepEmptyMacro: { type: "boolean", default: true, doc: "keep the reference's empty macro (V = R = 0) when the last boundary already is the sentinel (QUIRK)" },
  },
  assign: maRlhf,
});
