/**
 * Rollout collection for one step: the method's adapter decides how responses are sampled (G
 * independent ones per prompt by default, trees, ...) and what extra sampling fills their signals
 * (prefix values, ...). Where the method's provision needs episodes (a multi-turn task, rows per
 * turn or per budget, budget summaries, self-rewards, retries; src/tasks/providers.ts), the step
 * runs them through src/train/episodes.ts instead of plain groups. Every sampled token is counted.
 */
import type { TaskPrompt } from "../tasks/types.js";
import type { MethodAdapter, SamplingContext } from "./adapters/index.js";
import { collectEpisodes, collectsEpisodes } from "./episodes.js";
import { sampleGroups, type Generated } from "./rollouts.js";

export interface Collected extends Generated {
  /** What the adapter's extra sampling did, for notes (empty when none). */
  note: string;
}

export async function collectRollouts(adapter: MethodAdapter, ctx: SamplingContext, prompts: readonly TaskPrompt[]): Promise<Collected> {
  const { config, task } = ctx;
  if (!adapter.collect && collectsEpisodes(config.method, task)) {
    // checkRun refuses adapters whose extra sampling continues responses without an environment.
    const ep = await collectEpisodes({ method: config.method, task, group: config.group, sampler: ctx.sampler, options: ctx.options, rng: ctx.rng, step: ctx.step, policy: ctx.policy }, prompts);
    return withEnrichment(adapter, ctx, ep, ep.note);
  }
  const gen = adapter.collect
    ? await adapter.collect(ctx, prompts)
    : await sampleGroups(task, ctx.sampler, prompts, config.group, ctx.options, ctx.rng, ctx.step);
  return withEnrichment(adapter, ctx, gen, "");
}

async function withEnrichment(adapter: MethodAdapter, ctx: SamplingContext, gen: Generated, note: string): Promise<Collected> {
  if (!adapter.enrich) return { ...gen, note };
  const extra = await adapter.enrich(ctx, gen.rollouts);
  return { ...gen, sampledTokens: gen.sampledTokens + extra.sampledTokens, note: [note, extra.note].filter((s) => s).join("; ") };
}
