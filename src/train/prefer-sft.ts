/**
 * Token-selection SFT for `creditflow sft --method sstoken` (ssToken, Qin et al., ICLR 2026,
 * arXiv 2510.18250): each update trains only the top rho of each demonstration's response tokens
 * by S = gamma REL~ + (1 - gamma) A (src/preference/sstoken.ts), where
 *   REL = log p_theta(x_i) - log p_history(x_i), the history model being the base model (the
 *         fresh initialisation of this SFT, fixed, as the released code's base model);
 *   A   = the last layer's head-averaged attention from token x_i's position to the prompt.
 * The code takes the current loss from the training forward pass; here a separate no-grad pass
 * gives the same values. [QUIRK] kept: gamma is 0 (attention only) for the first `warmupSamples`
 * samples. A response's last token (EOS) is never an input position, so its attention row is
 * the previous position's.
 */
import { tf } from "./policy/tf.js";
import type { Policy } from "./policy/model.js";
import type { PackedBatch } from "./policy/batching.js";
import { selectLogProbs } from "./policy/ops.js";
import type { SftTokenSelector } from "./sft.js";
import { ssTokenGamma, ssTokenScores, ssTokenSelect } from "../preference/sstoken.js";

export interface SsTokenSftOptions {
  gamma: number;
  rho: number;
  warmupSamples: number;
  /** Demonstrations per update (to count samples for the warm-up). */
  batch: number;
}

export const DEFAULT_SSTOKEN_SFT = { gamma: 0.5, rho: 0.6, warmupSamples: 10000 };

/** Per-position log-probs of the targets and, optionally, the last layer's attention [B*H, T, T]. */
function forwardLogps(p: Policy, pb: PackedBatch, withAttention: boolean): { lp: Float32Array; attn: Float32Array | null } {
  const att: tf.Tensor3D[] = [];
  const lp = tf.tidy(() => selectLogProbs(p.forward(pb.tokens, pb.B, pb.T, withAttention ? { attention: att } : undefined), pb.targets).dataSync() as Float32Array);
  const attn = withAttention ? (att[att.length - 1].dataSync() as Float32Array) : null;
  tf.dispose(att);
  return { lp, attn };
}

/** The ssToken selector; `init` (the model before SFT) becomes the fixed history model. */
export function ssTokenSelector(o: SsTokenSftOptions): (init: Policy) => SftTokenSelector {
  return (init) => {
    const history = init.frozenCopy();
    return (policy, pb, step) => {
      const H = policy.config.nHeads, T = pb.T;
      const cur = forwardLogps(policy, pb, true);
      const his = forwardLogps(history, pb, false);
      const gamma = ssTokenGamma(step * o.batch, o.gamma, o.warmupSamples);
      const mask = new Float32Array(pb.B * T);
      for (let i = 0; i < pb.B; i++) {
        const s = pb.start[i], R = pb.len[i], P = s + 1;
        const c = new Float64Array(R), h = new Float64Array(R), a = new Float64Array(R);
        for (let k = 0; k < R; k++) {
          c[k] = -cur.lp[i * T + s + k];
          h[k] = -his.lp[i * T + s + k];
          const q = k === R - 1 ? s + k : s + k + 1; // token x_i's own position, EOS: the previous one
          let sum = 0;
          for (let hd = 0; hd < H; hd++) for (let j = 0; j < P; j++) sum += cur.attn![((i * H + hd) * T + q) * T + j];
          a[k] = sum / H;
        }
        const keep = ssTokenSelect(ssTokenScores(c, h, a, gamma), o.rho);
        for (let k = 0; k < R; k++) mask[i * T + s + k] = keep[k];
      }
      return mask;
    };
  };
}
