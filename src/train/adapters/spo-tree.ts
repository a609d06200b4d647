/**
 * SPO-tree's model side (methods.md Part 2 §1.2): the step's rollouts are segment-level trees
 * (branching[d] children per segment of `segmentTokens`), one group per prompt; rows carry the
 * segment ends as step_ends and a train mask so each shared edge is trained once.
 */
import type { TrainConfig } from "../config.js";
import { sampleTrees } from "../rollouts.js";
import type { AdapterFactory, MethodAdapter } from "./types.js";

export const spoTreeAdapter: AdapterFactory = {
  method: "spo-tree",
  singleTurnOnly: true,
  create: (config: TrainConfig): MethodAdapter => ({
    benchNote: "on the shared groups (the trainer samples segment trees instead)",
    collect: (ctx, prompts) => sampleTrees(ctx.task, ctx.sampler, prompts, config.spoTree.branching, config.spoTree.segmentTokens, ctx.options, ctx.rng, ctx.step),
  }),
};
