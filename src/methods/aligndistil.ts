/**
 * AlignDistil's token-adaptive distillation as token credit (Zhang et al., ACL 2025, arXiv
 * 2503.02832; code songmzhang/AlignDistil, `aligndistil` mode).
 *
 *   alpha_t = tvdScale sum_v |p_dpo(v|t) - p_rdpo(v|t)| + 1e-3          per-token coefficient
 *   lp*_t   = log softmax((alpha_t (z_dpo - z_rdpo) + z_dpo) / tau)      extrapolated teacher
 *   A_t     = (beta / alpha_t) (lp*_t(y_t) - logprobs_t)                 on mask-1 tokens
 *
 * For a sampled token y_t ~ pi_theta, E[A_t grad log pi_theta(y_t)] = -grad (beta/alpha_t) KL(pi_theta
 * || pi*) at position t: A_t is the single-sample (on-policy) estimate of AlignDistil's per-position
 * reverse-KL gradient. The code instead sums the KL over the full vocabulary (the exact loss is
 * src/preference/aligndistil.ts); this estimate is unbiased only when the rollouts were sampled from
 * the policy whose `logprobs` are given.
 *
 * Inputs: `logprobs`; `signals.dpo_logits`, `signals.rdpo_logits`: T x V logits of the DPO and
 * reverse-DPO models, row t predicting tokens[t]. `diag.tokens.alpha` is alpha_t.
 */
import type { RolloutBatch } from "../core/batch.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { signalError, signalMatrix } from "../core/signals.js";
import { alignDistilTeacher } from "../preference/aligndistil.js";

export interface AlignDistilOptions {
  beta: number;
  tvdScale: number;
  temperature: number;
}

export function alignDistil(batch: RolloutBatch, opts: AlignDistilOptions): Assignment {
  const advantages = new Float64Array(batch.nTokens);
  const alphaOut = new Float64Array(batch.nTokens);
  const lp = batch.logprobs!.data; // presence checked by the runner (requires: logprobs)
  const { offsets, mask, tokens } = batch;
  for (let i = 0; i < batch.n; i++) {
    const o = offsets[i];
    const T = offsets[i + 1] - o;
    const dpo = signalMatrix(batch, i, "dpo_logits", "aligndistil", T);
    const rdpo = signalMatrix(batch, i, "rdpo_logits", "aligndistil", T, dpo.cols);
    if (T === 0) continue;
    const V = dpo.cols;
    if (V === 0) throw signalError(batch, i, "dpo_logits", "rows are empty; expected one logit per vocabulary entry");
    const { alpha, coef, lpStar } = alignDistilTeacher(dpo.data, rdpo.data, V, opts);
    for (let t = 0; t < T; t++) {
      if (mask[o + t] === 0) continue;
      const y = tokens[o + t];
      if (y >= V) throw signalError(batch, i, "dpo_logits", `token ${t} is id ${y}, outside the ${V} logit columns`);
      alphaOut[o + t] = alpha[t];
      advantages[o + t] = coef[t] * (lpStar[t * V + y] - lp[o + t]);
    }
  }
  return { advantages, diag: { tokens: { alpha: alphaOut } } };
}

export const alignDistilSpec = registerMethod<AlignDistilOptions>({
  name: "aligndistil",
  locality: "group",
  summary: "AlignDistil: (beta/alpha_t)(log pi*(y_t) - log pi(y_t)), pi* the DPO/reverse-DPO extrapolated teacher, alpha_t from their TVD",
  paper: "AlignDistil, Zhang et al. ACL 2025, arXiv 2503.02832; code songmzhang/AlignDistil",
  status: "reference-code",
  requires: ["logprobs"],
  signals: ["dpo_logits", "rdpo_logits"],
  requiredSignals: ["dpo_logits", "rdpo_logits"],
  example: "preference.jsonl",
  options: {
    beta: { type: "number", default: 0.1, min: 0, exclusiveMin: true, doc: "KL coefficient beta (0.1 in both scripts)" },
    tvdScale: { type: "number", default: 10, min: 0, doc: "TVD scale, the code's --beta2 (10 off-policy, 15 on-policy)" },
    temperature: { type: "number", default: 1, min: 0, exclusiveMin: true, doc: "teacher temperature tau_kd" },
  },
  assign: alignDistil,
});
