/**
 * Credit for sampled rollouts, shared by the trainer and CreditBench: the rollout rows exactly as
 * `creditflow assign` reads them (with the signals the policy itself provides), then the
 * registered method. One route for every method; what differs per method lives in its adapter.
 */
import { packRows } from "../core/rows.js";
import { getMethod, runMethod } from "../core/registry.js";
import type { Policy } from "./policy/model.js";
import { MODEL_SIGNALS, modelSignals, policyFileSignals } from "./model-signals.js";
import { toRows, type Rollout } from "./rollouts.js";

export interface CreditRequest {
  method: string;
  methodOptions: Record<string, unknown>;
  rollouts: readonly Rollout[];
  /** The policy that sampled the rollouts (for signals read from the model). */
  policy: Policy;
  pad: number;
  temperature: number;
  /** Frozen policies loaded from policy files, by the signal their log-probs fill (dpo_logprobs). */
  signalPolicies?: ReadonlyMap<string, Policy>;
  /** Per-rollout reference log-probs, given to methods that read ref_logprobs. */
  refLogprobs?: number[][] | null;
  /** Dense per-token rewards (a KL penalty in the reward, say). */
  tokenRewards?: number[][];
  /** Critic values V(s_t) per rollout, given to methods that read values. */
  values?: number[][] | null;
  /** Steps done so far: fills a method's `step` option (a schedule) unless the options fix it. */
  step?: number;
  /** Names the batch in error messages. */
  source: string;
}

export interface Credit {
  /** Per-rollout advantages (0 where the mask is 0). */
  adv: Float64Array[];
  /** Per-rollout loss weights, when the method emits them. */
  weights: Float64Array[] | null;
  /** Per-rollout returns (value targets), when the method emits them. */
  returns: Float64Array[] | null;
  /** The model signals that were computed (for notes). */
  modelSignals: string[];
}

export function assignCredit(q: CreditRequest): Credit {
  const spec = getMethod(q.method);
  const requires: readonly string[] = spec.requires ?? [];
  const wanted = new Set((spec.signals ?? []).filter((x: string) => MODEL_SIGNALS.has(x)));
  const fromFiles = new Set((spec.signals ?? []).filter((x: string) => q.signalPolicies?.has(x)));
  const rollouts: Rollout[] = q.rollouts.map((r) => ({ ...r }));
  if (wanted.size > 0) {
    const extra = modelSignals(q.policy, rollouts, q.pad, q.temperature, wanted);
    rollouts.forEach((r, i) => (r.signals = { ...(r.signals ?? {}), ...extra[i] }));
  }
  if (fromFiles.size > 0 && q.signalPolicies) {
    const extra = policyFileSignals(q.signalPolicies, rollouts, q.pad, q.temperature, fromFiles);
    rollouts.forEach((r, i) => (r.signals = { ...(r.signals ?? {}), ...extra[i] }));
  }
  const rows = toRows(rollouts, {
    stepEnds: requires.includes("step_ends") || rollouts.some((r) => r.segmentEnds !== undefined),
    episodes: requires.includes("episode") || requires.includes("anchor"),
    refLogprobs: q.refLogprobs && requires.includes("ref_logprobs") ? q.refLogprobs : undefined,
    tokenRewards: q.tokenRewards,
    values: q.values ?? undefined,
  });
  const batch = packRows(rows, Int32Array.from(rows, (_, i) => i + 1), q.source);
  const opts = q.step !== undefined && "step" in spec.options && !("step" in q.methodOptions) ? { ...q.methodOptions, step: q.step } : q.methodOptions;
  const out = runMethod(q.method, batch, opts);
  const slices = (x: Float64Array | undefined): Float64Array[] | null =>
    x ? Array.from({ length: batch.n }, (_, i) => x.slice(batch.offsets[i], batch.offsets[i + 1])) : null;
  return { adv: slices(out.advantages) as Float64Array[], weights: slices(out.weights), returns: slices(out.returns), modelSignals: [...wanted, ...fromFiles] };
}
