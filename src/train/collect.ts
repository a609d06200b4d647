/**
 * Rollout collection for one step: the method's adapter decides how responses are sampled (G
 * independent ones per prompt by default, trees, ...) and what extra sampling fills their signals
 * (prefix values, ...). Every sampled token is counted.
 */
import type { TaskPrompt } from "../tasks/types.js";
import type { MethodAdapter, SamplingContext } from "./adapters/index.js";
import { sampleGroups, type Generated } from "./rollouts.js";

export interface Collected extends Generated {
  /** What the adapter's extra sampling did, for notes (empty when none). */
  note: string;
}

export async function collectRollouts(adapter: MethodAdapter, ctx: SamplingContext, prompts: readonly TaskPrompt[]): Promise<Collected> {
  const gen = adapter.collect
    ? await adapter.collect(ctx, prompts)
    : await sampleGroups(ctx.task, ctx.sampler, prompts, ctx.config.group, ctx.options, ctx.rng, ctx.step);
  let note = "";
  if (adapter.enrich) {
    const extra = await adapter.enrich(ctx, gen.rollouts);
    gen.sampledTokens += extra.sampledTokens;
    note = extra.note;
  }
  return { ...gen, note };
}
