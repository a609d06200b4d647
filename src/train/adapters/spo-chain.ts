/**
 * SPO-chain's model side (methods.md Part 2 §1.1): Monte Carlo values at the method's own
 * cutpoints, from continuations of each response prefix. The cutpoint rule is the assign side's
 * (`spoChainCutpoints` with the resolved options), so the values estimated are exactly those
 * `spo-chain` asks for in signals.cut_values / signals.start_value.
 */
import { resolveOptions } from "../../core/schema.js";
import { spoChainCutpoints, spoChainSpec } from "../../methods/spo-chain.js";
import type { TrainConfig } from "../config.js";
import { monteCarloValues, type PrefixQuery, type Rollout } from "../rollouts.js";
import type { AdapterFactory, MethodAdapter, SamplingContext } from "./types.js";

/** States to value: -1 is the prompt state, c >= 0 the state after response token c. */
export function spoChainCutpointsOf(logprobs: readonly number[], methodOptions: Record<string, unknown>): number[] {
  const o = resolveOptions(spoChainSpec.name, spoChainSpec.options, methodOptions);
  return spoChainCutpoints(logprobs, undefined, o);
}

export const spoChainAdapter: AdapterFactory = {
  method: "spo-chain",
  singleTurnOnly: true,
  providesSignals: ["cut_values", "start_value"],
  create: (config: TrainConfig): MethodAdapter => ({
    async enrich(ctx: SamplingContext, rollouts: Rollout[]) {
      const plans = rollouts.map((r) => spoChainCutpointsOf(r.logprobs, config.methodOptions));
      const queries: PrefixQuery[] = [];
      rollouts.forEach((r, i) => {
        for (const cut of plans[i]) queries.push({ prompt: r.prompt, prefix: r.tokens.slice(0, cut + 1) });
      });
      // Values of the policy itself: no per-token temperature function, whatever the base options hold.
      const mc = await monteCarloValues(ctx.task, ctx.sampler, queries, config.spoChain.samples, { ...ctx.options, adaptiveTemperature: undefined }, ctx.rng);
      let q = 0;
      rollouts.forEach((r, i) => {
        const cutValues: Record<string, number> = {};
        const signals: Record<string, unknown> = { ...(r.signals ?? {}), cut_values: cutValues };
        for (const cut of plans[i]) {
          const v = mc.values[q++];
          if (cut < 0) signals.start_value = v;
          else cutValues[String(cut)] = v;
        }
        r.signals = signals;
      });
      return { sampledTokens: mc.sampledTokens, note: `${queries.length} cutpoint values x ${config.spoChain.samples} continuations` };
    },
  }),
};
