/** Demonstration data for the supervised warm start (creditflow sft). */
import { mulberry32 } from "./common.js";
import type { Task, TaskPrompt } from "./types.js";

export interface Demonstration {
  prompt: TaskPrompt;
  /** Response token ids, ending with eos. */
  response: number[];
}

/**
 * n (prompt, correct response) pairs from the training side of the split, deterministic for
 * (task, n, seed). One generator drives both prompts and demonstrations, so the whole set
 * depends on the seed alone.
 */
export function demonstrationDataset(task: Task, n: number, seed: number): Demonstration[] {
  if (!Number.isInteger(n) || n < 0) throw new Error(`demonstrationDataset: n must be a non-negative integer, got ${n}`);
  const rng = mulberry32(seed);
  const out: Demonstration[] = [];
  for (let k = 0; k < n; k++) {
    const prompt = task.samplePrompt(rng);
    out.push({ prompt, response: task.demonstration(prompt, rng) });
  }
  return out;
}
