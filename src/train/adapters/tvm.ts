/**
 * TVM's model side (methods-part5.md §2): the method's labels (`returns`: the share of correct
 * solutions among those sharing each token prefix) are the targets of a token-level value model,
 * so a run with tvm trains the critic on them; the policy learns from the labels' increments.
 */
import type { AdapterFactory } from "./types.js";

export const tvmAdapter: AdapterFactory = { method: "tvm", trainsCritic: true, create: () => ({}) };
