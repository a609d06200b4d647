/**
 * Where rewards sit on tokens (rollouts.md section 1): the outcome reward is placed on the last
 * token with mask 1, token_rewards are added everywhere, and outcome estimators use the score
 * s = reward + sum of token_rewards over every response position (verl's
 * `token_level_rewards.sum(-1)`). Token-level estimators (reinforce++, gae) see no reward on a
 * mask-0 token: verl's loops drop it there too.
 */
import type { RolloutBatch } from "./batch.js";

/** [n] index (into the flat token arrays) of each rollout's last mask-1 token, -1 if none. */
export function lastTrainableIndex(batch: RolloutBatch): Int32Array {
  const out = new Int32Array(batch.n).fill(-1);
  const { offsets, mask } = batch;
  for (let i = 0; i < batch.n; i++) {
    for (let k = offsets[i + 1] - 1; k >= offsets[i]; k--) {
      if (mask[k] === 1) {
        out[i] = k;
        break;
      }
    }
  }
  return out;
}

/**
 * [nTokens] r_t = token_rewards[t] + (t == last trainable ? reward : 0), on mask-1 tokens;
 * 0 on mask-0 tokens, which take no part in any method (methods.md Part 0).
 */
export function tokenLevelRewards(batch: RolloutBatch, last: Int32Array = lastTrainableIndex(batch)): Float64Array {
  const r = new Float64Array(batch.nTokens);
  const tr = batch.tokenRewards;
  const { mask } = batch;
  if (tr) for (let k = 0; k < batch.nTokens; k++) r[k] = mask[k] === 1 ? tr.data[k] : 0;
  for (let i = 0; i < batch.n; i++) if (last[i] >= 0) r[last[i]] += batch.reward[i];
  return r;
}

/**
 * Which token_rewards enter the outcome score: "all" response positions (the contract and verl's
 * `token_level_rewards.sum(-1)`, mask-0 tool tokens included) or only "trainable" (mask-1) ones.
 */
export type ScoreTokens = "all" | "trainable";

/** The option every outcome estimator exposes for the score's token_rewards sum. */
export const SCORE_TOKENS_OPTION = {
  type: "enum",
  values: ["all", "trainable"],
  default: "all",
  doc: "token_rewards summed into the score: at every position (verl) or on mask-1 tokens only",
} as const;

/**
 * [n] outcome score s_i = reward_i + sum of token_rewards (over every position by default, as
 * rollouts.md and verl; over mask-1 tokens with "trainable").
 */
export function outcomeScores(batch: RolloutBatch, tokens: ScoreTokens = "all"): Float64Array {
  const s = Float64Array.from(batch.reward);
  const tr = batch.tokenRewards;
  if (!tr) return s;
  const { offsets, mask } = batch;
  const data = tr.data;
  for (let i = 0; i < batch.n; i++) {
    if (tr.present[i] === 0) continue;
    let acc = 0;
    if (tokens === "all") for (let k = offsets[i]; k < offsets[i + 1]; k++) acc += data[k];
    else for (let k = offsets[i]; k < offsets[i + 1]; k++) if (mask[k] === 1) acc += data[k];
    s[i] += acc;
  }
  return s;
}

/** [n] number of mask-1 tokens of each rollout. */
export function trainableCounts(batch: RolloutBatch): Int32Array {
  const out = new Int32Array(batch.n);
  const { offsets, mask } = batch;
  for (let i = 0; i < batch.n; i++) {
    let c = 0;
    for (let k = offsets[i]; k < offsets[i + 1]; k++) c += mask[k];
    out[i] = c;
  }
  return out;
}
