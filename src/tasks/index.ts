/**
 * The task registry: every built-in verifiable task by name, plus the shared vocabulary, the
 * seeded generator and the warm-start dataset helper. Browser-safe (no Node built-ins).
 */
import { ConfigError } from "../core/errors.js";
import { addition, addition3 } from "./addition.js";
import { countdown } from "./countdown.js";
import { decisive } from "./decisive.js";
import { chain } from "./chain.js";
import { tools } from "./tools.js";
import { rank } from "./rank.js";
import type { Task } from "./types.js";

export type { Rng, Task, TaskPrompt, Verdict, Vocab, TaskEnvironment, TaskBudget } from "./types.js";
export { VOCAB, SYMBOLS, CharVocab, PAD, BOS, EOS } from "./vocab.js";
export { mulberry32, isEvalKey, EVAL_FRACTION } from "./common.js";
export { demonstrationDataset } from "./dataset.js";
export type { Demonstration } from "./dataset.js";
export { makeAdditionTask, additionSolution, ADDITION_DEFAULT_DIGITS } from "./addition.js";
export type { AdditionOptions, AdditionAnswer } from "./addition.js";
export { makeCountdownTask, countdownSolutions, checkSteps, formatSteps, applyOp } from "./countdown.js";
export type { CountdownOptions, CountdownAnswer, CountdownStep, CountdownOp } from "./countdown.js";
export { makeDecisiveTask, decisiveSolution, decisivePositions, maxDigit, gtLetter, DECISIVE_DEFAULT_KEY_LENGTH } from "./decisive.js";
export type { DecisiveOptions, DecisiveAnswer } from "./decisive.js";
export { makeChainTask, chainSolution, chainValues, chainPlanning, chainStep, judgeChain } from "./chain.js";
export type { ChainOptions, ChainAnswer, ChainOp, ChainJudgement } from "./chain.js";
export { makeToolsTask, toolsCalls, toolsResult, toolOutput, parseCall, evaluateExpression, replayTranscript } from "./tools.js";
export type { ToolsAnswer, ToolsCall, ToolsTurn } from "./tools.js";
export { makeRankTask, rankOrder, judgeRanking, RANK_ITEMS, RANK_SCORES } from "./rank.js";
export type { RankOptions, RankAnswer } from "./rank.js";
export { runEpisodes, runEpisodesSync, oneAtATime, addBudgetScores, budgetStepEnds, addSelfRewards, firstImperfectTurn, r3lRetries, episodeSignals, policyMask } from "./episodes.js";
export type { Episode, EpisodeStart, Generate, GenerateRequest, Generation, PolicyTurn, ScoreNext, SelfRewardOptions } from "./episodes.js";
export { episodeRow, turnRows, budgetRow, buildRows } from "./rows.js";
export type { RowShape } from "./rows.js";
export { provisionFor, taskForMethod, methodInputs, taskInputs, rowShapeOf, extraSamplingOf, meantTaskOf, BACKEND_INPUTS } from "./providers.js";
export type { Provision, ProvisionOptions, ExtraSampling } from "./providers.js";

const TASKS: readonly Task[] = [addition, addition3, countdown, decisive, chain, tools, rank];
const BY_NAME = new Map(TASKS.map((t) => [t.name, t]));

/** A built-in task by name; an unknown name is a ConfigError listing the valid ones. */
export function getTask(name: string): Task {
  const task = BY_NAME.get(name);
  if (!task) throw new ConfigError(`unknown task '${name}'. Tasks: ${TASKS.map((t) => t.name).join(", ")}`);
  return task;
}

export function listTasks(): Task[] {
  return [...TASKS];
}
