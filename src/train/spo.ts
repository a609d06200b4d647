/**
 * The model side of SPO-chain (methods.md Part 2 §1.1): which response prefixes need a Monte
 * Carlo value. The cutpoint rule is the assign side's own (`spoChainCutpoints`), with the
 * method's resolved options, so the values the trainer estimates are exactly the ones
 * `spo-chain` will ask for in signals.cut_values / signals.start_value.
 */
import { resolveOptions } from "../core/schema.js";
import { spoChainCutpoints, spoChainSpec } from "../methods/spo-chain.js";

export interface SpoChainPlan {
  /** States to value: -1 is the prompt state, c >= 0 the state after response token c. */
  cutpoints: number[];
}

export function spoChainPlan(logprobs: readonly number[], methodOptions: Record<string, unknown>): SpoChainPlan {
  const o = resolveOptions(spoChainSpec.name, spoChainSpec.options, methodOptions);
  return { cutpoints: spoChainCutpoints(logprobs, undefined, o) };
}
