/**
 * The model side of HAPO (methods.md Part 2 §5), on the shared formulas of the core
 * (`compute_entropy_h`) and of the assign side (src/methods/hapo.ts): the normalised entropy
 * the trainer's asymmetric clipping uses, and the adaptive sampling temperature driven by the
 * previous step's statistics.
 */
import { entropyHFromStandardised, entropyHStats, type EntropyHStats, type EntropySign } from "../core/entropy.js";
import { adaptiveTemperature } from "../methods/hapo.js";

export type HapoStats = EntropyHStats;

/** compute_entropy_h statistics over every response token of the batch (null: no tokens). */
export function hapoEntropyStats(entropies: readonly (readonly number[])[], pivot: number): HapoStats | null {
  return entropyHStats(entropies.flat(), pivot);
}

/** ĥ per token with the batch's statistics (0 everywhere when there are none). */
export function hapoNormalise(entropies: readonly number[], s: HapoStats | null, sign: EntropySign): Float64Array {
  const out = new Float64Array(entropies.length);
  if (!s) return out;
  for (let k = 0; k < entropies.length; k++) out[k] = entropyHFromStandardised((Math.log(Math.max(entropies[k], 1e-8)) - s.med) / s.std, s, sign);
  return out;
}

/** The sampler's per-token temperature from the raw-distribution entropy. */
export function hapoTemperature(rawEntropy: number, s: HapoStats | null, T0: number, tau: number, sign: EntropySign): number {
  return adaptiveTemperature(rawEntropy, s, { t0: T0, tau, sign });
}
