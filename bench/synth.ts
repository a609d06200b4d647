/**
 * The benchmark batch: rollouts x tokens in groups, with every standard field a method may
 * need, generated from a seed. Responses of a group share prefixes (a few early branch points),
 * so prefix-tree methods see realistic trees; some responses hold a masked tool span.
 */
import { mulberry32 } from "../src/core/random.js";
import type { RolloutRow } from "../src/core/rows.js";

export { mulberry32 };

export interface SynthOptions {
  rollouts: number;
  tokens: number;
  groupSize: number;
  seed: number;
}

export const DEFAULT_SYNTH: SynthOptions = { rollouts: 4096, tokens: 256, groupSize: 8, seed: 1 };

/**
 * Rows with: tokens (vocab 50k, shared prefixes within a group), reward in {0, 1}, mask (a
 * 16-token tool span in every 4th rollout), logprobs (70% of tokens with p > 0.9), ref_logprobs,
 * entropies, values, step_ends every 16..48 tokens (last step ends at T-1), step_rewards in
 * [-1, 1], episode/t/anchor (each group is 2 episodes of 4 steps, anchors repeat across
 * episodes), finished (5% false).
 */
export function synthRows(opts: SynthOptions = DEFAULT_SYNTH): RolloutRow[] {
  const rng = mulberry32(opts.seed);
  const rows: RolloutRow[] = [];
  const T = opts.tokens;
  for (let i = 0; i < opts.rollouts; i++) {
    const g = Math.floor(i / opts.groupSize);
    const j = i % opts.groupSize;
    // Branch structure: responses share a prefix whose length depends on their index bits.
    const tokens = new Array<number>(T);
    const branchAt = [T >> 3, T >> 2, T >> 1];
    for (let t = 0; t < T; t++) {
      let key = g * 7919;
      if (t >= branchAt[0]) key += (j & 1) * 104729;
      if (t >= branchAt[1]) key += (j & 2) * 1299709;
      if (t >= branchAt[2]) key += (j + 1) * 15485863;
      tokens[t] = (Math.imul(key + t * 2654435761, 1597334677) >>> 0) % 50000;
    }
    const mask = new Array<number>(T).fill(1);
    if (i % 4 === 3) for (let t = T >> 1; t < (T >> 1) + 16 && t < T; t++) mask[t] = 0;
    const logprobs = new Array<number>(T);
    const refLogprobs = new Array<number>(T);
    const entropies = new Array<number>(T);
    const values = new Array<number>(T);
    for (let t = 0; t < T; t++) {
      const p = rng() < 0.7 ? 0.9 + 0.0999 * rng() : 0.01 + 0.88 * rng();
      logprobs[t] = Math.log(p);
      refLogprobs[t] = Math.log(Math.min(0.999, Math.max(0.001, p + 0.05 * (rng() - 0.5))));
      entropies[t] = -Math.log(p) * (0.5 + rng());
      values[t] = rng();
    }
    const stepEnds: number[] = [];
    let e = -1;
    while (true) {
      e += 16 + Math.floor(rng() * 33);
      if (e >= T - 1) break;
      stepEnds.push(e);
    }
    stepEnds.push(T - 1);
    const stepRewards = stepEnds.map(() => 2 * rng() - 1);
    rows.push({
      id: `r${i}`,
      group: `q${g}`,
      tokens,
      reward: rng() < 0.5 ? 1 : 0,
      mask,
      logprobs,
      ref_logprobs: refLogprobs,
      entropies,
      values,
      step_ends: stepEnds,
      step_rewards: stepRewards,
      finished: rng() >= 0.05,
      episode: `q${g}-e${j >> 2}`,
      t: j & 3,
      anchor: `q${g}-s${(j & 3) === 0 ? 0 : Math.floor(rng() * 3) + (j & 3) * 10}`,
    });
  }
  return rows;
}
