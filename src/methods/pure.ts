/**
 * PURE: min-form credit assignment with a process reward model ("Stop Summation: Min-Form
 * Credit Assignment Is All Process Reward Model Needs for Reasoning", arXiv 2504.15275), as the
 * reference code CJReinforce/PURE main @41f9363b (OpenRLHF `experience_maker.py`,
 * `utils.turn_process_reward_logits_to_reward`, `replay_buffer.normalize`).
 *
 * Per response i with steps k = 1..S (`step_ends`; the last step must end at the last token,
 * which plays EOS) and PRM scores r_k (`step_rewards`, in [-1, 1]):
 *
 *   r*_k   = w_k r_k,   w = softmax_k(-r_k / temperature)   (variant "softmin": sum r* ~ min r)
 *                       w = 1 / S                            (variant "mean": --disable_weighted_reward)
 *   o_i    = sum_k r*_k
 *   step baseline:  b_i = mean over the other responses j of the group of o_j / S_j;
 *                   r**_k = r*_k - b_i
 *   token baseline: beta_i = (sum_{j != i} o_j) / (sum_{j != i} L_j);  r**_k = r*_k - beta_i ntok_k
 *   v_i    = solved_i - 1;  v'_i = v_i - mean_{j != i} v_j      (verifiable reward, leave-one-out)
 *   x_t    = token_rewards_t + sum of r**_k at step end t + vrCoef v'_i at the last token
 *   G_t    = sum_{u >= t} x_u                                   (gamma 1); returns = G
 *   A_t    = G_t, and 0 on every step-end token when maskSeparator (--mask_separator_adv)
 *
 * ntok_k counts the mask-1 tokens of step k other than its end token; L_i the mask-1 tokens of
 * response i. Solved is `signals.solved` when given, else `reward > 0`; `reward` enters nowhere
 * else. A one-response group has all baselines 0.
 *
 * Normalisation (`normalize`, `replay_buffer.normalize`) over the batch's mask-1 tokens:
 *   count = tokens with A != 0;  mean = sum A / count;  var = sum_{all mask-1} (A - mean)^2 / count;
 *   A <- (A - mean) / sqrt(max(var, 1e-8)) on tokens with A != 0; tokens with A == 0 stay 0.
 * QUIRK (reference default): the variance numerator includes the zero tokens, its denominator
 * does not. No token with A != 0 leaves the advantages as they are.
 *
 * QUIRK: the paper's value is the suffix minimum of future step rewards; the released code
 * instead reweights all steps of the response at once and sums, so after the arg-min step the
 * return is ~0 rather than the suffix minimum. This method follows the code. The verl branch
 * (`strict min-form`, per-token suffix minimum, padded-length baseline) is not implemented.
 *
 * Step rewards sit on their step's end token even when that token has mask 0; with gamma 1
 * that equals putting them on the step's last mask-1 token, so mask-0 tokens take no part.
 * `token_rewards` (the reference's per-token KL penalty, -kl_coef kl_t) join x_t on mask-1 tokens.
 * `finished` is not used.
 */
import type { RolloutBatch } from "../core/batch.js";
import { InputError } from "../core/errors.js";
import { registerMethod, type Assignment } from "../core/registry.js";

export interface PureOptions {
  temperature: number;
  variant: "softmin" | "mean";
  baseline: "step" | "token";
  vrCoef: number;
  maskSeparator: boolean;
  normalize: boolean;
}

/** Per-rollout pieces of the PURE reward, for diagnostics and for trainers that log them. */
export interface PureRewards {
  /** [nTokens] x_t: the token rewards whose suffix sums are the returns. */
  tokenRewards: Float64Array;
  /** [nSteps] r*_k, the transformed step rewards. */
  transformed: Float64Array;
  /** [n] o_i. */
  outcome: Float64Array;
  /** [n] b_i (step baseline) or beta_i (token baseline). */
  baseline: Float64Array;
  /** [n] v'_i. */
  verifiable: Float64Array;
}

const VAR_FLOOR = 1e-8;

/** [n] solved_i - 1 in {-1, 0}. */
function verifiableRewards(batch: RolloutBatch): Float64Array {
  const v = new Float64Array(batch.n);
  for (let i = 0; i < batch.n; i++) {
    const sig = batch.signals[i];
    const solved = sig === undefined ? undefined : sig.solved;
    if (solved !== undefined && typeof solved !== "boolean") {
      throw new InputError(batch.source, batch.lines[i], "signals.solved", `expected true or false, got ${solved === null ? "null" : Array.isArray(solved) ? "an array" : typeof solved}`);
    }
    const ok = solved === undefined ? batch.reward[i] > 0 : solved;
    v[i] = ok ? 0 : -1;
  }
  return v;
}

function checkSteps(batch: RolloutBatch): Float64Array {
  const { offsets, stepOffsets, stepEnds } = batch;
  const col = batch.stepRewards;
  for (let i = 0; i < batch.n; i++) {
    if (!batch.hasSteps[i]) throw new InputError(batch.source, batch.lines[i], "step_ends", "required by method 'pure' but missing");
    if (col === null || !col.present[i]) throw new InputError(batch.source, batch.lines[i], "step_rewards", "required by method 'pure' but missing");
    const T = offsets[i + 1] - offsets[i];
    if (T === 0) continue;
    const nS = stepOffsets[i + 1] - stepOffsets[i];
    const last = nS > 0 ? stepEnds[stepOffsets[i + 1] - 1] : -1;
    if (last !== T - 1) {
      throw new InputError(batch.source, batch.lines[i], "step_ends",
        `the last step must end at the last token (index ${T - 1}), which PURE treats as EOS; ${nS > 0 ? `it ends at ${last}` : "no steps were given"}`);
    }
  }
  return (col as NonNullable<typeof col>).data;
}

/** Everything of the PURE reward that lives per step or per rollout (no [nTokens] array). */
interface PureParts {
  transformed: Float64Array;
  outcome: Float64Array;
  baseline: Float64Array;
  verifiable: Float64Array;
  /** [nSteps] mask-1 tokens of each step other than its end token. */
  ntok: Int32Array;
}

function pureParts(batch: RolloutBatch, opts: PureOptions): PureParts {
  const stepScores = checkSteps(batch);
  const { offsets, mask, stepOffsets, stepEnds } = batch;
  const n = batch.n;
  const nSteps = stepOffsets[n];

  // Approx-min transform, per response over its own steps.
  const transformed = new Float64Array(nSteps);
  const outcome = new Float64Array(n);
  const T = opts.temperature;
  const softmin = opts.variant !== "mean";
  for (let i = 0; i < n; i++) {
    const a = stepOffsets[i], b = stepOffsets[i + 1];
    if (b === a) continue;
    if (!softmin) {
      for (let j = a; j < b; j++) transformed[j] = stepScores[j] / (b - a);
    } else {
      // Shifted by the largest logit, as torch.softmax; when -r/T overflows (a tiny T), shift
      // before dividing instead, which is the same softmax without the infinity. (The two logit
      // forms are written out in place: no closure per response.)
      let top = -Infinity;
      let least = Infinity;
      for (let j = a; j < b; j++) {
        top = Math.max(top, -stepScores[j] / T);
        least = Math.min(least, stepScores[j]);
      }
      const shiftFirst = !Number.isFinite(top);
      let z = 0;
      for (let j = a; j < b; j++) z += Math.exp(shiftFirst ? (least - stepScores[j]) / T : -stepScores[j] / T - top);
      for (let j = a; j < b; j++) transformed[j] = (Math.exp(shiftFirst ? (least - stepScores[j]) / T : -stepScores[j] / T - top) / z) * stepScores[j];
    }
    let o = 0;
    for (let j = a; j < b; j++) o += transformed[j];
    outcome[i] = o;
  }

  // Mask-1 tokens of each step other than its end token, and of each response (L), in one scan.
  const ntok = new Int32Array(nSteps);
  const L = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const o = offsets[i];
    let prev = -1;
    let total = 0;
    for (let j = stepOffsets[i]; j < stepOffsets[i + 1]; j++) {
      let c = 0;
      const endTok = o + stepEnds[j];
      for (let k = o + prev + 1; k < endTok; k++) c += mask[k];
      ntok[j] = c;
      total += c + mask[endTok];
      prev = stepEnds[j];
    }
    for (let k = o + prev + 1; k < offsets[i + 1]; k++) total += mask[k];
    L[i] = total;
  }
  const v = verifiableRewards(batch);

  // Leave-one-out baselines from per-group sums.
  const baseline = new Float64Array(n);
  const verifiable = new Float64Array(n);
  const { groupOffsets, groupMembers } = batch;
  for (let g = 0; g + 1 < groupOffsets.length; g++) {
    const ga = groupOffsets[g], gb = groupOffsets[g + 1];
    const c = gb - ga;
    let sumPerStep = 0, sumO = 0, sumL = 0, sumV = 0;
    for (let m = ga; m < gb; m++) {
      const i = groupMembers[m];
      const nS = stepOffsets[i + 1] - stepOffsets[i];
      sumPerStep += nS > 0 ? outcome[i] / nS : 0;
      sumO += outcome[i];
      sumL += L[i];
      sumV += v[i];
    }
    for (let m = ga; m < gb; m++) {
      const i = groupMembers[m];
      if (c === 1) {
        verifiable[i] = v[i];
        continue;
      }
      if (opts.baseline === "step") {
        const nS = stepOffsets[i + 1] - stepOffsets[i];
        baseline[i] = (sumPerStep - (nS > 0 ? outcome[i] / nS : 0)) / (c - 1);
      } else {
        const otherTokens = sumL - L[i];
        baseline[i] = otherTokens > 0 ? (sumO - outcome[i]) / otherTokens : 0;
      }
      verifiable[i] = v[i] - (sumV - v[i]) / (c - 1);
    }
  }
  return { transformed, outcome, baseline, verifiable, ntok };
}

/** The PURE token rewards x_t and their parts (everything before returns and normalisation). */
export function pureRewards(batch: RolloutBatch, opts: PureOptions): PureRewards {
  const { transformed, outcome, baseline, verifiable, ntok } = pureParts(batch, opts);
  const { offsets, mask, stepOffsets, stepEnds } = batch;
  const n = batch.n;
  const tokenRewards = new Float64Array(batch.nTokens);
  const dense = batch.tokenRewards;
  if (dense) for (let k = 0; k < batch.nTokens; k++) tokenRewards[k] = mask[k] === 1 ? dense.data[k] : 0;
  for (let i = 0; i < n; i++) {
    const o = offsets[i];
    for (let j = stepOffsets[i]; j < stepOffsets[i + 1]; j++) {
      const shift = opts.baseline === "step" ? baseline[i] : baseline[i] * ntok[j];
      tokenRewards[o + stepEnds[j]] += transformed[j] - shift;
    }
    if (offsets[i + 1] > o) tokenRewards[offsets[i + 1] - 1] += opts.vrCoef * verifiable[i];
  }
  return { tokenRewards, transformed, outcome, baseline, verifiable };
}

/** replay_buffer.normalize with the PURE quirk, in place over mask-1 tokens. */
function normalizeNonZero(adv: Float64Array, mask: Uint8Array): void {
  let count = 0, sum = 0;
  for (let k = 0; k < adv.length; k++) {
    if (mask[k] === 1 && adv[k] !== 0) {
      count++;
      sum += adv[k];
    }
  }
  if (count === 0) return;
  const mean = sum / count;
  let ss = 0;
  for (let k = 0; k < adv.length; k++) {
    if (mask[k] === 1) {
      const d = adv[k] - mean;
      ss += d * d;
    }
  }
  const scale = 1 / Math.sqrt(Math.max(ss / count, VAR_FLOOR));
  for (let k = 0; k < adv.length; k++) if (mask[k] === 1 && adv[k] !== 0) adv[k] = (adv[k] - mean) * scale;
}

export function pure(batch: RolloutBatch, opts: PureOptions): Assignment {
  const { transformed, outcome, baseline, verifiable, ntok } = pureParts(batch, opts);
  const { mask, offsets, stepOffsets, stepEnds } = batch;
  const dense = batch.tokenRewards === null ? null : batch.tokenRewards.data;
  const stepBaseline = opts.baseline === "step";
  const separator = opts.maskSeparator;
  const returns = new Float64Array(batch.nTokens);
  const advantages = new Float64Array(batch.nTokens);
  // One backward scan per response builds x_t on the fly (the same additions, in the same order,
  // as pureRewards: dense reward, then the step term at a step end, then the verifiable term at
  // the last token) and sums it into G_t with gamma 1 over every token, so step rewards on mask-0
  // end tokens still reach the earlier tokens; mask-0 tokens keep 0 in both outputs.
  for (let i = 0; i < batch.n; i++) {
    const o = offsets[i], e = offsets[i + 1];
    if (e === o) continue;
    const s0 = stepOffsets[i];
    let j = stepOffsets[i + 1] - 1; // the next step end at or before k, walking backwards
    let nextEnd = j >= s0 ? o + stepEnds[j] : -1;
    const last = e - 1;
    let running = 0;
    for (let k = last; k >= o; k--) {
      let x = dense !== null && mask[k] === 1 ? dense[k] : 0;
      const isEnd = k === nextEnd;
      if (isEnd) {
        const shift = stepBaseline ? baseline[i] : baseline[i] * ntok[j];
        x += transformed[j] - shift;
        j--;
        nextEnd = j >= s0 ? o + stepEnds[j] : -1;
      }
      if (k === last) x += opts.vrCoef * verifiable[i];
      running = x + running; // gamma 1: 1 * running is running exactly
      if (mask[k] === 1) {
        returns[k] = running;
        advantages[k] = separator && isEnd ? 0 : running;
      }
    }
  }
  if (opts.normalize) normalizeNonZero(advantages, mask);
  return {
    advantages,
    returns,
    diag: { rollouts: { outcome, baseline, verifiable } },
  };
}

export const pureSpec = registerMethod<PureOptions>({
  name: "pure",
  summary: "PURE: PRM step rewards through a softmin (approx-min) transform, RLOO baselines, verifiable reward at EOS",
  paper: "PURE, arXiv 2504.15275; code CJReinforce/PURE main @41f9363b (OpenRLHF experience_maker.py)",
  status: "reference-code",
  requires: ["step_ends", "step_rewards"],
  signals: ["solved"],
  example: "steps.jsonl",
  options: {
    temperature: { type: "number", default: 0.1, min: 0, exclusiveMin: true, doc: "softmin temperature T: w = softmax(-r / T) over a response's steps" },
    variant: { type: "enum", values: ["softmin", "mean"], default: "softmin", doc: "step weights: softmin (approx-min, reference default) or mean (w = 1/S, --disable_weighted_reward)" },
    baseline: { type: "enum", values: ["step", "token"], default: "step", doc: "leave-one-out baseline: per step (o/S, CLI default) or per token (scaled by step length, the train_pure.sh script)" },
    vrCoef: { type: "number", default: 1, min: 0, doc: "coefficient of the leave-one-out verifiable reward (solved - 1) added at the last token; 0 = PRM only" },
    maskSeparator: { type: "boolean", default: true, doc: "step-end tokens (separators, EOS) get advantage 0" },
    normalize: { type: "boolean", default: true, doc: "batch normalisation over tokens with non-zero advantage (reference quirk)" },
  },
  assign: pure,
});
