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
 * [nTokens] beta (dpo_logprobs - ref_logprobs) on mask-1 tokens, 0 elsewhere, read straight from
 * each rollout's `signals.dpo_logprobs` (one pass, no packed copy). Shared with `rto`.
 * Every rollout must carry the signal, one finite number per token (mask-0 entries included, as
 * for `logprobs`), else an input error naming the row; so is a product that leaves float range
 * (the inputs are not log-probs), never an Infinity in the output.
 */
export function implicitTokenRewards(batch: RolloutBatch, beta: number, method: string, totals?: Float64Array): Float64Array {
  const out = new Float64Array(batch.nTokens);
  const { offsets, mask } = batch;
  const ref = batch.refLogprobs!.data; // presence checked by the runner (requires: ref_logprobs)
  for (let i = 0; i < batch.n; i++) {
    const sig = batch.signals[i];
    const v = sig === undefined ? undefined : sig.dpo_logprobs;
    const fail = (detail: string): never => {
      throw new InputError(batch.source, batch.lines[i], "signals.dpo_logprobs", detail);
    };
    if (v === undefined) fail(`required by method '${method}' but missing`);
    const o = offsets[i];
    const T = offsets[i + 1] - o;
    if (!Array.isArray(v)) fail(`expected an array of ${T} finite numbers (one per token), got ${describe(v)}`);
    const dpo = v as unknown[];
    if (dpo.length !== T) fail(`expected ${T} entries (one per token), got ${dpo.length}`);
    // The row's sum in token order, accumulated here instead of in a second pass over `out`
    // (skipping the 0s of mask-0 tokens changes nothing: a sum started at +0 is never -0).
    let sum = 0;
    for (let t = 0; t < T; t++) {
      const x = dpo[t];
      if (typeof x !== "number" || !Number.isFinite(x)) fail(`entry ${t} is not a finite number (${describe(x)})`);
      if (mask[o + t] === 0) continue;
      const r = beta * ((x as number) - ref[o + t]);
      if (!Number.isFinite(r)) fail(`method '${method}': beta * (dpo_logprobs - ref_logprobs) at token ${t} is not finite (inputs too large)`);
      out[o + t] = r;
      sum += r;
    }
    if (totals !== undefined) totals[i] = sum;
  }
  return out;
}

export function dpoTokenReward(batch: RolloutBatch, opts: DpoTokenRewardOptions): Assignment {
  const total = new Float64Array(batch.n);
  // Sums come with the rewards; they are checked only after every entry was, as before.
  const advantages = implicitTokenRewards(batch, opts.beta, "dpo-token-reward", total);
  for (let i = 0; i < batch.n; i++) {
    if (!Number.isFinite(total[i])) throw new InputError(batch.source, batch.lines[i], "signals.dpo_logprobs", "the per-response sum of beta * (dpo_logprobs - ref_logprobs) is not finite (inputs too large)");
  }
  return { advantages, diag: { rollouts: { implicit_reward: total } } };
}

export const dpoTokenRewardSpec = registerMethod<DpoTokenRewardOptions>({
  name: "dpo-token-reward",
  locality: "group",
  summary: "Dense DPO implicit reward beta * (log pi_dpo - log pi_ref) per token (r-to-Q*); SECONDARY",
  paper: "From r to Q*, Rafailov et al. COLM 2024, arXiv 2404.12358 (no official code)",
  status: "secondary",
  requires: ["ref_logprobs"],
  signals: ["dpo_logprobs"],
  requiredSignals: ["dpo_logprobs"],
  example: "implicit.jsonl",
  options: {
    beta: { type: "number", default: 0.1, min: 0, exclusiveMin: true, doc: "the DPO model's beta" },
  },
  assign: dpoTokenReward,
});
