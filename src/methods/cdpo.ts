/**
 * cDPO's critical-token weights as token credit ("Critical Tokens Matter", Lin et al., ICML 2025,
 * arXiv 2411.19943; code chenzhiling9954/Critical-Tokens-Matter).
 *
 *   s_t = softmax((1 + c) z_pos(t) - c z_neg(t))[y_t]     contrastive estimation, c = 1 in the code
 *   weights: 1 - s_t on an incorrect rollout (critical tokens, preferred by the negative model, get
 *   weight near 1), s_t on a correct one when `weightChosen` (else 1, the code's only_neg default);
 *   the last token of a finished rollout is EOS and gets 1 on both sides, as the code appends it.
 *   advantages: GRPO's group-relative outcome advantage (src/preference/credit.ts says why).
 *
 * Inputs: `signals.pos_logits` and `signals.neg_logits`, T x V logits of the positive and negative
 * models at the positions that predict each token (row t predicts tokens[t]; token ids < V);
 * `signals.solved` (optional) overrides reward > 0.5 as the side. The loss itself (both
 * aggregations) is src/preference/cdpo.ts.
 */
import type { RolloutBatch } from "../core/batch.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { signalError, signalMatrix } from "../core/signals.js";
import { criticalTokenScores } from "../preference/cdpo.js";
import { GROUP_NORM_OPTIONS, groupAdvantages, isChosen } from "../preference/credit.js";
import type { GroupNorm } from "./grpo.js";

export interface CdpoOptions extends GroupNorm {
  contrast: number;
  weightChosen: boolean;
}

export function cdpo(batch: RolloutBatch, opts: CdpoOptions): Assignment {
  const weights = new Float64Array(batch.nTokens).fill(1);
  const scores = new Float64Array(batch.nTokens);
  const { offsets, mask, tokens } = batch;
  for (let i = 0; i < batch.n; i++) {
    const o = offsets[i];
    const T = offsets[i + 1] - o;
    const pos = signalMatrix(batch, i, "pos_logits", "cdpo", T);
    const neg = signalMatrix(batch, i, "neg_logits", "cdpo", T, pos.cols);
    for (let t = 0; t < T; t++) {
      if (tokens[o + t] >= pos.cols) throw signalError(batch, i, "pos_logits", `token ${t} is id ${tokens[o + t]}, outside the ${pos.cols} logit columns`);
    }
    const s = criticalTokenScores(pos.data, neg.data, tokens.subarray(o, o + T), Math.max(pos.cols, 1), opts.contrast);
    const chosen = isChosen(batch, i, "cdpo");
    let last = -1;
    for (let t = 0; t < T; t++) {
      if (mask[o + t] === 0) continue;
      last = t;
      scores[o + t] = s[t];
      weights[o + t] = chosen ? (opts.weightChosen ? s[t] : 1) : 1 - s[t];
    }
    if (batch.finished[i] && last >= 0) weights[o + last] = 1;
  }
  return { advantages: groupAdvantages(batch, opts), weights, diag: { tokens: { critical_score: scores } } };
}

export const cdpoSpec = registerMethod<CdpoOptions>({
  name: "cdpo",
  locality: "group",
  summary: "cDPO critical-token weights (1 - s_t on incorrect rollouts, s_t = contrastive pos/neg model probability) on GRPO advantages",
  paper: "Critical Tokens Matter, Lin et al. ICML 2025, arXiv 2411.19943; code chenzhiling9954/Critical-Tokens-Matter",
  status: "reference-code",
  signals: ["pos_logits", "neg_logits", "solved"],
  requiredSignals: ["pos_logits", "neg_logits"],
  example: "preference.jsonl",
  options: {
    contrast: { type: "number", default: 1, min: 0, doc: "c in (1 + c) z_pos - c z_neg (hard-coded 1 in the code)" },
    weightChosen: { type: "boolean", default: false, doc: "weight correct rollouts by s_t too (false: the code's only_neg)" },
    ...GROUP_NORM_OPTIONS,
  },
  assign: cdpo,
});
