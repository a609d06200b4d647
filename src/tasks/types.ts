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
}
