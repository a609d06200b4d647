/**
 * Discounted returns and GAE over packed rollouts. Both walk each rollout backwards and treat
 * mask-0 tokens (tool output, environment observations) as transparent: nothing is added or
 * discounted there, so a tool call in the middle of a response does not cut the return.
 */
import type { RolloutBatch } from "./batch.js";
import { MaskedStats } from "./whiten.js";

/**
 * G_t = r_t + gamma * G_{t+1} over mask-1 tokens, [nTokens].
 * mode "skip" (default): mask-0 tokens are transparent and get G = 0.
 * mode "reset": verl's loop as written before Aug 2026 ("reset after EOS"): at a mask-0 token
 *   G_t = r_t + gamma * G_{t+1} is computed, then the running return restarts at 0.
 */
export function discountedReturns(
  r: ArrayLike<number>,
  mask: ArrayLike<number>,
  offsets: ArrayLike<number>,
  gamma: number,
  mode: "skip" | "reset" = "skip",
): Float64Array {
  const out = new Float64Array(r.length);
  const n = offsets.length - 1;
  for (let i = 0; i < n; i++) {
    let running = 0;
    for (let k = offsets[i + 1] - 1; k >= offsets[i]; k--) {
      if (mask[k]) {
        running = r[k] + gamma * running;
        out[k] = running;
      } else if (mode === "reset") {
        out[k] = r[k] + gamma * running;
        running = 0;
      }
    }
  }
  return out;
}

/** Caller-owned output buffers for {@link gae}, so hot callers avoid fresh [nTokens] arrays. */
export interface GaeOutput {
  advantages: Float64Array;
  returns: Float64Array;
}

/**
 * Generalised advantage estimation as verl's `compute_gae_advantage_return`:
 * delta_t = r_t + gamma V_{t+1} - V_t, A_t = delta_t + gamma lambda A_{t+1}, where "t+1" is the
 * next mask-1 token (values and advantages carry across mask-0 tokens, so values at masked
 * positions never matter). Returns = A + V. Both are 0 on mask-0 tokens. No whitening here.
 *
 * `out` (optional) receives the result instead of two fresh arrays and is returned as is: large
 * batches pay more for allocating and page-faulting new 8 MB arrays than for the loop itself.
 * Only the tokens of `offsets` are written. `out.advantages` or `out.returns` may be `r` itself
 * (each r[k] is read before position k is written), never `values`.
 */
export function gae(
  r: ArrayLike<number>,
  values: ArrayLike<number>,
  mask: ArrayLike<number>,
  offsets: ArrayLike<number>,
  gamma: number,
  lambda: number,
  out?: GaeOutput,
): GaeOutput {
  const advantages = out ? out.advantages : new Float64Array(r.length);
  const returns = out ? out.returns : new Float64Array(r.length);
  // gamma * lambda * A is evaluated left to right, so hoisting the product is bit-identical.
  const gl = gamma * lambda;
  const n = offsets.length - 1;
  for (let i = 0; i < n; i++) {
    let nextValue = 0;
    let lastGae = 0;
    const from = offsets[i];
    for (let k = offsets[i + 1] - 1; k >= from; k--) {
      if (!mask[k]) {
        // Fresh arrays already hold 0; a caller's buffer (possibly r itself) may not.
        advantages[k] = 0;
        returns[k] = 0;
        continue;
      }
      const vk = values[k];
      lastGae = r[k] + gamma * nextValue - vk + gl * lastGae;
      nextValue = vk;
      advantages[k] = lastGae;
      returns[k] = lastGae + vk;
    }
  }
  return out ?? { advantages, returns };
}

/**
 * The rewards of `tokenLevelRewards` (token_rewards on mask-1 tokens, the outcome reward on the
 * last mask-1 token), discounted as `discountedReturns` in "skip" mode, in one reverse pass that
 * allocates nothing: the reinforce++ hot path. Writes `out` on every token of the batch and
 * returns the mask-1 statistics of the returns, gathered in the same pass, for whitening.
 */
export function outcomeTokenReturns(batch: RolloutBatch, gamma: number, out: Float64Array): MaskedStats {
  const { offsets, mask, reward } = batch;
  const tr = batch.tokenRewards ? batch.tokenRewards.data : null;
  const stats = new MaskedStats();
  for (let i = 0; i < batch.n; i++) {
    const from = offsets[i];
    const to = offsets[i + 1];
    // The outcome reward lands on the last mask-1 token.
    let k = to - 1;
    while (k >= from && mask[k] === 0) out[k--] = 0;
    if (k < from) continue;
    let running = tr === null ? reward[i] : reward[i] + tr[k];
    out[k] = running;
    // Statistics shifted by the row's first value: without token rewards at gamma = 1 (the
    // default) every return of the row equals it, so the shifted sums are exactly 0.
    const shift = running;
    let count = 1;
    let sum = 0;
    let sumSq = 0;
    if (tr === null && gamma === 1) {
      for (k--; k >= from; k--) {
        const m = mask[k];
        out[k] = m === 1 ? running : 0;
        count += m;
      }
    } else {
      // The return is a dependency chain through every token: at gamma = 1 it is one add per
      // token instead of a multiply and an add, which halves its latency.
      for (k--; k >= from; k--) {
        if (mask[k] === 0) {
          out[k] = 0;
          continue;
        }
        const r = tr === null ? 0 : tr[k];
        running = gamma === 1 ? r + running : r + gamma * running;
        out[k] = running;
        const d = running - shift;
        count++;
        sum += d;
        sumSq += d * d;
      }
    }
    stats.addShifted(count, shift, sum, sumSq);
  }
  return stats;
}

/**
 * `gae` over the rewards of `tokenLevelRewards`, with the reward placement fused into the same
 * reverse pass: one pass, no [nTokens] temporary. Writes both outputs on every token and returns
 * the mask-1 statistics of the advantages, gathered in the same pass, for whitening, and whether
 * every return is finite (the advantages are iff their statistics are).
 */
export function outcomeTokenGae(batch: RolloutBatch, values: Float64Array, gamma: number, lambda: number, out: GaeOutput): { stats: MaskedStats; returnsFinite: boolean } {
  const { offsets, mask, reward } = batch;
  const { advantages, returns } = out;
  const tr = batch.tokenRewards ? batch.tokenRewards.data : null;
  const gl = gamma * lambda;
  const unit = gamma === 1 && lambda === 1;
  const stats = new MaskedStats();
  // Sum of ret - ret: 0 iff every return is finite.
  let check = 0;
  for (let i = 0; i < batch.n; i++) {
    const from = offsets[i];
    let k = offsets[i + 1] - 1;
    while (k >= from && mask[k] === 0) {
      advantages[k] = 0;
      returns[k] = 0;
      k--;
    }
    if (k < from) continue;
    // The last mask-1 token: the outcome reward, no next value.
    const v0 = values[k];
    let lastGae = (tr === null ? reward[i] : reward[i] + tr[k]) - v0;
    let nextValue = v0;
    advantages[k] = lastGae;
    returns[k] = lastGae + v0;
    check += returns[k] - returns[k];
    // Statistics shifted by the row's first advantage (see MaskedStats.addShifted).
    const shift = lastGae;
    let count = 1;
    let sum = 0;
    let sumSq = 0;
    for (k--; k >= from; k--) {
      if (mask[k] === 0) {
        advantages[k] = 0;
        returns[k] = 0;
        continue;
      }
      const r = tr === null ? 0 : tr[k];
      const vk = values[k];
      // The advantage is a dependency chain through every token: at gamma = lambda = 1 (the
      // default) it costs one add per token instead of a multiply and an add.
      lastGae = unit ? r + nextValue - vk + lastGae : r + gamma * nextValue - vk + gl * lastGae;
      nextValue = vk;
      advantages[k] = lastGae;
      const ret = lastGae + vk;
      returns[k] = ret;
      check += ret - ret;
      const d = lastGae - shift;
      count++;
      sum += d;
      sumSq += d * d;
    }
    stats.addShifted(count, shift, sum, sumSq);
  }
  return { stats, returnsFinite: check === 0 };
}
