/**
 * DPO implicit token reward, from "From r to Q*: Your Language Model is Secretly a Q-Function"
 * (Rafailov, Hejna, Park, Finn, COLM 2024, arXiv 2404.12358):
 *
 *   A_t = r^_t = beta (log pi_dpo(y_t | s_t) - log pi_ref(y_t | s_t))      on mask-1 tokens
 *
 * In the token MDP of KL-regularised RL, beta log(pi* / pi_ref) = r(s_t, a_t) + V*(s_{t+1}) - V*(s_t):
 * the DPO policy's log-ratio is the reward shaped by the potential V*, so it is a dense per-token
 * credit (large negative r^_t marks erroneous tokens) whose sum over a response is its sequence
 * reward up to V*(s_0), a function of the prompt only. beta is the beta the DPO model was trained with.
 *
 * Inputs: `signals.dpo_logprobs` (log-probs of the response under the DPO-trained policy, one per
 * token) and `ref_logprobs` (the DPO reference). `reward` and `token_rewards` are not used; no
 * returns (methods.md Part 0). `diag.rollouts.implicit_reward` is the per-response sum.
 *
 * SECONDARY: no official code was found and the paper body was not retrieved (methods.md Part 3
 * section 5); the formula is the standard derivation, checked against OPRL's restatement and RTO's code.
 */
import type { RolloutBatch } from "../core/batch.js";
import { InputError } from "../core/errors.js";
import { registerMethod, type Assignment } from "../core/registry.js";

export interface DpoTokenRewardOptions {
  beta: number;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "number") return String(v);
  return typeof v === "string" ? "a string" : typeof v;
}

/**
 * [nTokens] `signals.dpo_logprobs` of every rollout, packed like the batch's token columns.
 * Shared with `rto`. Every rollout must carry it, one finite number per token (mask-0 entries
 * included, as for `logprobs`); otherwise an input error naming the row.
 */
export function packDpoLogprobs(batch: RolloutBatch, method: string): Float64Array {
  const out = new Float64Array(batch.nTokens);
  const { offsets } = batch;
  for (let i = 0; i < batch.n; i++) {
    const sig = batch.signals[i];
    const v = sig === undefined ? undefined : sig.dpo_logprobs;
    const fail = (detail: string): never => {
      throw new InputError(batch.source, batch.lines[i], "signals.dpo_logprobs", detail);
    };
    if (v === undefined) fail(`required by method '${method}' but missing`);
    const T = offsets[i + 1] - offsets[i];
    if (!Array.isArray(v)) fail(`expected an array of ${T} finite numbers (one per token), got ${describe(v)}`);
    const arr = v as unknown[];
    if (arr.length !== T) fail(`expected ${T} entries (one per token), got ${arr.length}`);
    const o = offsets[i];
    for (let k = 0; k < T; k++) {
      const x = arr[k];
      if (typeof x !== "number" || !Number.isFinite(x)) fail(`entry ${k} is not a finite number (${describe(x)})`);
      out[o + k] = x as number;
    }
  }
  return out;
}

/**
 * [nTokens] beta (dpo - ref) on mask-1 tokens, 0 elsewhere. A product that leaves float range is
 * an input error (the log-probs are not log-probs), never an Infinity in the output.
 */
export function implicitTokenRewards(batch: RolloutBatch, dpo: Float64Array, ref: Float64Array, beta: number, method: string): Float64Array {
  const out = new Float64Array(batch.nTokens);
  const { offsets, mask } = batch;
  for (let i = 0; i < batch.n; i++) {
    for (let k = offsets[i]; k < offsets[i + 1]; k++) {
      if (mask[k] === 0) continue;
      const r = beta * (dpo[k] - ref[k]);
      if (!Number.isFinite(r)) {
        throw new InputError(batch.source, batch.lines[i], "signals.dpo_logprobs", `method '${method}': beta * (dpo_logprobs - ref_logprobs) at token ${k - offsets[i]} is not finite (inputs too large)`);
      }
      out[k] = r;
    }
  }
  return out;
}

export function dpoTokenReward(batch: RolloutBatch, opts: DpoTokenRewardOptions): Assignment {
  const dpo = packDpoLogprobs(batch, "dpo-token-reward");
  const ref = batch.refLogprobs!.data; // presence checked by the runner (requires: ref_logprobs)
  const advantages = implicitTokenRewards(batch, dpo, ref, opts.beta, "dpo-token-reward");
  const total = new Float64Array(batch.n);
  const { offsets } = batch;
  for (let i = 0; i < batch.n; i++) {
    let s = 0;
    for (let k = offsets[i]; k < offsets[i + 1]; k++) s += advantages[k];
    total[i] = s;
  }
  return { advantages, diag: { rollouts: { implicit_reward: total } } };
}

export const dpoTokenRewardSpec = registerMethod<DpoTokenRewardOptions>({
  name: "dpo-token-reward",
  summary: "Dense DPO implicit reward beta * (log pi_dpo - log pi_ref) per token (r-to-Q*); SECONDARY",
  paper: "From r to Q*, Rafailov et al. COLM 2024, arXiv 2404.12358 (no official code)",
  status: "secondary",
  requires: ["ref_logprobs"],
  signals: ["dpo_logprobs"],
  example: "implicit.jsonl",
  options: {
    beta: { type: "number", default: 0.1, min: 0, exclusiveMin: true, doc: "the DPO model's beta" },
  },
  assign: dpoTokenReward,
});
