/**
 * ssToken's token selection as token credit (Qin et al., ICLR 2026, arXiv 2510.18250; code
 * jianke0604/ssToken).
 *
 *   REL_i = logprobs_i - history_logprobs_i, min-max normalised over the rollout's mask-1 tokens
 *   S_i   = gamma REL~_i + (1 - gamma) prompt_attention_i
 *   keep the top ceil(R rho) of the R mask-1 tokens (ties: lower index first)
 *   weights = advantages = 1 on kept tokens, 0 elsewhere: SFT on the selected tokens as a policy-
 *   gradient step with advantage 1 (a token-mean loss over weighted tokens is ssToken's 1/k).
 *
 * Inputs: `logprobs` (current model), `signals.history_logprobs` (the history model, the base model in
 * the code, one per token) and `signals.prompt_attention` (one per token: the last layer's
 * head-averaged attention from the token to the prompt). The code's attention-only warm-up over
 * the first 10000 samples is `gamma: 0` for those batches.
 */
import type { RolloutBatch } from "../core/batch.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { signalNumbers } from "../core/signals.js";
import { ssTokenScores, ssTokenSelect } from "../preference/sstoken.js";

export interface SsTokenOptions {
  gamma: number;
  rho: number;
}

export function ssToken(batch: RolloutBatch, opts: SsTokenOptions): Assignment {
  const keepOut = new Float64Array(batch.nTokens);
  const scoreOut = new Float64Array(batch.nTokens);
  const lp = batch.logprobs!.data; // presence checked by the runner (requires: logprobs)
  for (let i = 0; i < batch.n; i++) {
    const o = batch.offsets[i];
    const T = batch.offsets[i + 1] - o;
    const his = signalNumbers(batch, i, "history_logprobs", "sstoken", T)!;
    const attn = signalNumbers(batch, i, "prompt_attention", "sstoken", T)!;
    const idx: number[] = [];
    for (let t = 0; t < T; t++) if (batch.mask[o + t] === 1) idx.push(t);
    const cur = Float64Array.from(idx, (t) => -lp[o + t]);
    const scores = ssTokenScores(cur, Float64Array.from(idx, (t) => -his[t]), Float64Array.from(idx, (t) => attn[t]), opts.gamma);
    const keep = ssTokenSelect(scores, opts.rho);
    idx.forEach((t, j) => {
      keepOut[o + t] = keep[j];
      scoreOut[o + t] = scores[j];
    });
  }
  return { advantages: keepOut.slice(), weights: keepOut, diag: { tokens: { score: scoreOut } } };
}

export const ssTokenSpec = registerMethod<SsTokenOptions>({
  name: "sstoken",
  locality: "group",
  summary: "ssToken: keep the top rho of tokens by gamma * (history-relative log-prob gain) + (1 - gamma) * prompt attention",
  paper: "ssToken, Qin et al. ICLR 2026, arXiv 2510.18250; code jianke0604/ssToken",
  status: "reference-code",
  requires: ["logprobs"],
  signals: ["history_logprobs", "prompt_attention"],
  requiredSignals: ["history_logprobs", "prompt_attention"],
  example: "preference.jsonl",
  options: {
    gamma: { type: "number", default: 0.5, min: 0, max: 1, doc: "weight of the loss-gain score against attention (--ratio; 0 during the code's warm-up)" },
    rho: { type: "number", default: 0.6, min: 0, max: 1, doc: "fraction of response tokens kept (--data_prop)" },
  },
  assign: ssToken,
});
