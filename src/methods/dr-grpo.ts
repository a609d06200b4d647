/**
 * Dr.GRPO (arXiv 2503.20783): GRPO without the std normalisation, A_i = s_i - mean_g
 * (verl's grpo with norm_adv_by_std_in_grpo=False). A one-response group has mean 0.
 */
import type { RolloutBatch } from "../core/batch.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { SCORE_TOKENS_OPTION, type ScoreTokens } from "../core/rewards.js";
import { grpo } from "./grpo.js";

export interface DrGrpoOptions {
  scoreTokens: ScoreTokens;
}

export function drGrpo(batch: RolloutBatch, opts: DrGrpoOptions): Assignment {
  return grpo(batch, { eps: 0, normByStd: false, std: "unbiased", scoreTokens: opts.scoreTokens });
}

export const drGrpoSpec = registerMethod<DrGrpoOptions>({
  name: "dr-grpo",
  locality: "group",
  summary: "GRPO without std normalisation: s - group mean",
  paper: "Understanding R1-Zero-Like Training (Dr.GRPO), arXiv 2503.20783; verl grpo with norm off",
  status: "standard",
  example: "plain.jsonl",
  options: { scoreTokens: SCORE_TOKENS_OPTION },
  assign: drGrpo,
});
