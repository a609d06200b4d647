/**
 * The contract between verifiable tasks and the trainer. A task owns its vocabulary (small,
 * character- or symbol-level), a seeded prompt generator whose held-out evaluation set never
 * overlaps the training prompts, an exact verifier, and a demonstration generator for the
 * supervised warm start.
 */

/** A seeded random source in [0, 1). */
export type Rng = () => number;

export interface Vocab {
  /** Number of token ids; ids are 0..size-1. */
  readonly size: number;
  readonly bos: number;
  readonly eos: number;
  readonly pad: number;
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
}

export interface TaskPrompt {
  /** Stable id, unique per prompt content (used for the train/eval split). */
  readonly id: string;
  /** Human-readable prompt text. */
  readonly text: string;
  /** Prompt token ids, starting with bos. */
  readonly tokens: readonly number[];
  /** Whatever the verifier needs (the target, the numbers, ...). */
  readonly answer: unknown;
}

export interface Verdict {
  /** Outcome reward (1 correct, 0 wrong, task-specific partial credit allowed in [0, 1]). */
  readonly reward: number;
  readonly correct: boolean;
  /** Token index (within the response) of the last token of each reasoning step, if the task has steps. */
  readonly stepEnds?: number[];
  /** Indices (within the response) of the tokens that decide the outcome, when known by construction. */
  readonly decisive?: number[];
  /**
   * One exact score per entry of `stepEnds`, for tasks whose verifier judges every step (process
   * verdicts, turn rewards, per-rank relevance): the rollout's `step_rewards`.
   */
  readonly stepRewards?: number[];
  /** Method inputs the verdict determines, written as the rollout's `signals` (rollouts.md). */
  readonly signals?: Record<string, unknown>;
}

export interface Task {
  readonly name: string;
  readonly description: string;
  readonly vocab: Vocab;
  /** Upper bound on response length (eos included) the sampler should allow. */
  readonly maxResponseTokens: number;
  /** A training prompt; never one of the held-out evaluation prompts. */
  samplePrompt(rng: Rng): TaskPrompt;
  /** The held-out evaluation set: deterministic for (n, seed), disjoint from every training prompt. */
  evalSet(n: number, seed: number): TaskPrompt[];
  /** Exact verifier of a response (token ids after the prompt; may or may not end with eos). */
  verify(prompt: TaskPrompt, response: readonly number[]): Verdict;
  /** A correct response for the supervised warm start, ending with eos. */
  demonstration(prompt: TaskPrompt, rng: Rng): number[];
  /**
   * Rollout inputs the task supplies beyond tokens and reward, in the names of rollouts.md and
   * `creditflow methods` ("step_ends", "step_rewards", "signals.planning", "episode", ...).
   * Absent: "step_ends" when verdicts carry stepEnds, nothing else (src/tasks/providers.ts).
   */
  readonly provides?: readonly string[];
  /**
   * Multi-turn tasks: the environment that answers the policy's calls. A response is then a
   * transcript of policy turns and environment outputs (mask 0); src/tasks/episodes.ts runs it.
   */
  readonly environment?: TaskEnvironment;
  /** Tasks whose responses think and then answer: where to cut the thinking and how to score an answer (BRPO). */
  readonly budget?: TaskBudget;
  /** Method options a task's inputs call for (e.g. rank-grpo's `ranks`), by method name. */
  readonly methodOptions?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

/**
 * The environment of a multi-turn task. A policy turn ends at one of `stopTokens` (or at eos, which
 * ends the episode); the environment then answers with tokens the policy did not produce.
 */
export interface TaskEnvironment {
  /** Tokens that end a policy turn and hand over to the environment (eos always ends the episode). */
  readonly stopTokens: readonly number[];
  /** Policy turns per episode at most; the turn after the last one ends the episode as it stands. */
  readonly maxTurns: number;
  /**
   * The environment's answer to a policy turn that ended with a stop token: the tool output,
   * tokens the policy never samples (mask 0). `turn` holds the policy's turn tokens, stop token last.
   */
  respond(prompt: TaskPrompt, turn: readonly number[]): number[];
}

export interface TaskBudget {
  /** Budgets b_1 < ... < b_S in thinking tokens; the last covers any response. */
  readonly budgets: readonly number[];
  /** Tokens appended after truncated thinking to ask for the answer. */
  readonly cue: readonly number[];
  /** Length of the thinking part of a response (the tokens before its answer cue). */
  thinkingLength(response: readonly number[]): number;
  /** Exact score in [0, 1] of an answer (the tokens generated after the cue, eos optional). */
  scoreAnswer(prompt: TaskPrompt, answer: readonly number[]): number;
}
