/**
 * RTO: "DPO Meets PPO: Reinforced Token Optimization for RLHF" (Zhong et al., ICML 2025,
 * arXiv 2404.18922), as its reference code (zkshan2002/RTO @f2c12948c2d9, OpenRLHF fork:
 * experience_maker.py `_compute_dpo_rewards`, models/utils.py `compute_reward`):
 *
 *   d_t = clip(beta (lp_dpo(y_t) - lp_sft(y_t)), -c, c)                (no clip when c = 0)
 *   r_t = d_t - klCoef (lp_old(y_t) - lp_sft(y_t)) + token_rewards[t] + [t = last mask-1] clamp(reward, -10, 10)
 *   delta_t = r_t + gamma V_{t+1} - V_t,   A_t = delta_t + gamma lambda A_{t+1},   returns = A + V
 *
 * The DPO token reward is taken against the SFT/initial model, `ref_logprobs` here; the reference
 * code loads a separate DPO reference but never uses it. Inputs: `signals.dpo_logprobs` (the
 * DPO-trained model), `ref_logprobs` (SFT), `logprobs` (the rollout actor), `values` (critic).
 *
 * Choices (methods.md Part 0, rto): GAE skips mask-0 tokens as `gae` does (they contribute no
 * reward and their values are never read); the RM reward is clamped to +-10 as in the code; no
 * whitening; beta must be > 0 (a config error otherwise). Defaults are the paper's script
 * (train_rto_llama_8b.sh: beta 0.05, clip 0.05), not the CLI's (beta 1, clip off). The script's
 * `--normalize_reward` (running RM-score normalisation) is the trainer's job: pass the normalised
 * score as `reward`.
 */
import type { RolloutBatch } from "../core/batch.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { gae } from "../core/returns.js";
import { lastTrainableIndex } from "../core/rewards.js";
import { implicitTokenRewards } from "./dpo-token-reward.js";

export interface RtoOptions {
  beta: number;
  clip: number;
  klCoef: number;
  gamma: number;
  lambda: number;
}

/** The reference code's clamp on the sequence RM score. */
const RM_CLAMP = 10;

/** [nTokens] RTO's token rewards r_t (0 on mask-0 tokens) and the clipped DPO part d_t. */
export function rtoTokenRewards(batch: RolloutBatch, opts: RtoOptions): { r: Float64Array; d: Float64Array } {
  const d = implicitTokenRewards(batch, opts.beta, "rto");
  const c = opts.clip;
  const kl = opts.klCoef;
  const lp = batch.logprobs!.data; // presence of every input column is checked by the runner (requires)
  const ref = batch.refLogprobs!.data;
  const tr = batch.tokenRewards ? batch.tokenRewards.data : null;
  const { mask } = batch;
  const r = new Float64Array(batch.nTokens);
  const nTokens = batch.nTokens;
  for (let k = 0; k < nTokens; k++) {
    if (mask[k] === 0) continue;
    let dk = d[k];
    if (c > 0) {
      dk = dk < -c ? -c : dk > c ? c : dk;
      d[k] = dk;
    }
    r[k] = dk - kl * (lp[k] - ref[k]);
  }
  if (tr) for (let k = 0; k < nTokens; k++) if (mask[k] === 1) r[k] += tr[k];
  const last = lastTrainableIndex(batch);
  for (let i = 0; i < batch.n; i++) {
    if (last[i] < 0) continue;
    const s = batch.reward[i];
    r[last[i]] += s < -RM_CLAMP ? -RM_CLAMP : s > RM_CLAMP ? RM_CLAMP : s;
  }
  return { r, d };
}

export function rto(batch: RolloutBatch, opts: RtoOptions): Assignment {
  const { r, d } = rtoTokenRewards(batch, opts);
  // Output buffers passed like every other caller of the shared gae does, so its optimised code
  // sees one call shape (ma-rlhf calls it per rollout with scratch buffers).
  const out = { advantages: new Float64Array(batch.nTokens), returns: new Float64Array(batch.nTokens) };
  const { advantages, returns } = gae(r, batch.values!.data, batch.mask, batch.offsets, opts.gamma, opts.lambda, out);
  return { advantages, returns, diag: { tokens: { token_reward: r, dpo_reward: d } } };
}

export const rtoSpec = registerMethod<RtoOptions>({
  name: "rto",
  locality: "group",
  summary: "RTO: clipped DPO token reward - KL + clamped RM reward at the end, then GAE with critic values",
  paper: "RTO, Zhong et al. ICML 2025, arXiv 2404.18922; code zkshan2002/RTO (OpenRLHF fork)",
  status: "reference-code",
  requires: ["ref_logprobs", "logprobs", "values"],
  signals: ["dpo_logprobs"],
  requiredSignals: ["dpo_logprobs"],
  example: "implicit.jsonl",
  options: {
    beta: { type: "number", default: 0.05, min: 0, exclusiveMin: true, doc: "scale of the DPO token reward beta * (lp_dpo - lp_ref)" },
    clip: { type: "number", default: 0.05, min: 0, doc: "clip the scaled DPO token reward to [-clip, clip]; 0 = no clip" },
    klCoef: { type: "number", default: 0.01, min: 0, doc: "per-token KL penalty coefficient on lp_old - lp_ref" },
    gamma: { type: "number", default: 1, min: 0, max: 1, doc: "discount factor" },
    lambda: { type: "number", default: 0.95, min: 0, max: 1, doc: "GAE lambda" },
  },
  assign: rto,
});
