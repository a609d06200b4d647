/**
 * A scripted backend for tests: it plays a task's demonstrations, corrupting a token now and then,
 * so episodes run through the real runner with known content and groups get reward variance.
 */
import { mulberry32 } from "../../src/tasks/index.js";
import type { Generate, Generation, ScoreNext, Task, TaskPrompt } from "../../src/tasks/index.js";

/** Logprob and entropy the script reports for the k-th token it writes (distinct, finite). */
export const scriptLogprob = (k: number): number => -0.05 - 0.01 * (k % 7);
export const scriptEntropy = (k: number): number => 0.1 + 0.02 * (k % 5);

export interface Script {
  generate: Generate;
  scoreNext: ScoreNext;
  /** Every request the backend received. */
  calls: { prefix: number[]; maxTokens: number; stopTokens: number[] }[][];
}

/**
 * Continues the demonstration of the prompt a prefix starts with, from where the transcript stands
 * (the whole rest of it: the runner must cut at stop tokens). A transcript that left the
 * demonstration gets the demonstration's answer after the task's budget cue when it ends with the
 * cue (a BRPO summary), else just eos. With probability `corrupt` one written token is replaced.
 */
export function scripted(task: Task, prompts: readonly TaskPrompt[], corrupt: number, seed: number): Script {
  const rng = mulberry32(seed);
  const calls: Script["calls"] = [];
  const promptOf = (prefix: readonly number[]): TaskPrompt => {
    let best: TaskPrompt | null = null;
    for (const p of prompts) {
      if (p.tokens.length <= prefix.length && p.tokens.every((t, k) => prefix[k] === t) && (best === null || p.tokens.length > best.tokens.length)) best = p;
    }
    if (best === null) throw new Error("scripted: unknown prompt");
    return best;
  };
  const continuation = (prefix: readonly number[]): number[] => {
    const prompt = promptOf(prefix);
    const done = prefix.slice(prompt.tokens.length);
    const demo = task.demonstration(prompt, mulberry32(0));
    if (done.length <= demo.length && done.every((t, k) => demo[k] === t)) return demo.slice(done.length);
    const cue = task.budget?.cue ?? [];
    if (cue.length > 0 && done.length >= cue.length && cue.every((t, k) => done[done.length - cue.length + k] === t)) {
      return demo.slice(task.budget!.thinkingLength(demo) + cue.length);
    }
    return [task.vocab.eos];
  };
  const generate: Generate = (requests) => {
    calls.push(requests.map((r) => ({ prefix: [...r.prefix], maxTokens: r.maxTokens, stopTokens: [...r.stopTokens] })));
    return requests.map((r): Generation => {
      const tokens = continuation(r.prefix);
      if (tokens.length > 0 && rng() < corrupt) tokens[Math.floor(rng() * tokens.length)] = 3 + Math.floor(rng() * (task.vocab.size - 3));
      return { tokens, logprobs: tokens.map((_, k) => scriptLogprob(k)), entropies: tokens.map((_, k) => scriptEntropy(k)) };
    });
  };
  const scoreNext: ScoreNext = (requests) => requests.map((r) => -1 - (r.prefix.length % 5));
  return { generate, scoreNext, calls };
}
