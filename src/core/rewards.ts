/**
 * Where rewards sit on tokens (rollouts.md section 1): the outcome reward is placed on the last
 * token with mask 1, token_rewards are added everywhere, and outcome estimators use the score
 * s = sum of r_t over trainable tokens.
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

/** [n] outcome score s_i = reward_i + sum of token_rewards over mask-1 tokens. */
export function outcomeScores(batch: RolloutBatch): Float64Array {
  const s = Float64Array.from(batch.reward);
  const tr = batch.tokenRewards;
  if (!tr) return s;
  const { offsets, mask } = batch;
  for (let i = 0; i < batch.n; i++) {
    let acc = 0;
    for (let k = offsets[i]; k < offsets[i + 1]; k++) if (mask[k] === 1) acc += tr.data[k];
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
