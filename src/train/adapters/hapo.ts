/**
 * HAPO's model side (methods.md Part 2 §5), on the shared formulas of the core
 * (`compute_entropy_h`) and of the assign side (src/methods/hapo.ts): an adaptive sampling
 * temperature driven by the previous step's entropy statistics, and asymmetric clip bounds with
 * differential advantage redistribution per token, from the normalised entropy of this step.
 */
import { entropyHFromStandardised, entropyHStats, type EntropyHStats, type EntropySign } from "../../core/entropy.js";
import { adaptiveTemperature, asymmetricClipBounds, redistributeAdvantage } from "../../methods/hapo.js";
import type { TrainConfig } from "../config.js";
import type { AdapterFactory, MethodAdapter } from "./types.js";

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

export const hapoAdapter: AdapterFactory = { method: "hapo", create };

function create(config: TrainConfig): MethodAdapter {
  const h = config.hapo;
  let stats: HapoStats | null = null;
  return {
    needsRescoring: true,
    sampleOptions(base) {
      const s = stats;
      if (!s) return base;
      return { ...base, adaptiveTemperature: (H: number) => adaptiveTemperature(H, s, { t0: base.temperature, tau: h.tau, sign: h.signConvention }) };
    },
    shapeLoss(entropies) {
      stats = hapoEntropyStats(entropies, h.entropyPivot);
      const hhat = entropies.map((e) => hapoNormalise(e, stats, h.signConvention));
      return {
        perToken: hhat,
        shape({ adv, ratio, mask, perToken, epsLow, epsHigh }) {
          const lo = new Float32Array(adv.length).fill(epsLow), hi = new Float32Array(adv.length).fill(epsHigh);
          const a2 = Float32Array.from(adv);
          for (let k = 0; k < adv.length; k++) {
            if (mask[k] === 0) continue;
            const b = asymmetricClipBounds(perToken[k], epsLow, epsHigh, h.clipAlpha);
            lo[k] = b.low;
            hi[k] = b.high;
            a2[k] = redistributeAdvantage(adv[k], perToken[k], ratio[k], b, h.advBeta);
          }
          return { adv: a2, epsLow: lo, epsHigh: hi };
        },
      };
    },
    saveState: () => stats,
    loadState(s) {
      stats = (s as HapoStats | null) ?? null;
    },
  };
}
