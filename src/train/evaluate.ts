/**
 * Held-out accuracy on the task's evaluation set, scored by its verifier: greedy decoding by
 * default, or sampling at a given temperature (what RL at that temperature optimises) from a
 * fixed seed, so the same weights always score the same. Multi-turn tasks (an environment) are
 * scored on whole episodes, every tool call answered, as the trainer samples them.
 */
import type { Task, TaskPrompt } from "../tasks/types.js";
import { Rng } from "./rng.js";
import { sample, samplerWeights, disposeSamplerWeights } from "./policy/sampler.js";
import type { ModelConfig } from "./policy/model.js";
import { runEpisodesSync } from "../tasks/index.js";
import { asGeneration, fitted, toSampleRequests } from "./episodes.js";

export interface EvalResult {
  accuracy: number;
  rewardMean: number;
  n: number;
}

export interface EvalSampling {
  temperature: number;
  topP: number;
  seed: number;
}

/** Evaluates in chunks of `batch` prompts (greedy unless `sampling` is given; the run's randomness is never consumed). */
export function evaluate(task: Task, config: ModelConfig, weights: Map<string, Float32Array>, prompts: readonly TaskPrompt[], batch = 128, sampling?: EvalSampling): EvalResult {
  const sw = samplerWeights(config, weights);
  const rng = new Rng(sampling ? sampling.seed : 0);
  const opts = sampling ? { temperature: sampling.temperature, topP: sampling.topP, eos: task.vocab.eos } : { temperature: 0, topP: 1, eos: task.vocab.eos };
  let correct = 0, reward = 0;
  try {
    for (let a = 0; a < prompts.length; a += batch) {
      const chunk = prompts.slice(a, a + batch);
      const maxNew = (p: TaskPrompt) => Math.min(task.maxResponseTokens, config.maxSeqLen - p.tokens.length);
      const verdicts = task.environment
        ? // A multi-turn task is judged on the whole transcript: run the episodes, the environment answering each call.
          runEpisodesSync(fitted(task, config.maxSeqLen, chunk, 0), chunk, (reqs) => sample(sw, toSampleRequests(reqs, config.maxSeqLen), opts, sampling ? rng : new Rng(0)).map(asGeneration)).map((ep) => ep.verdict)
        : sample(sw, chunk.map((p) => ({ prefix: p.tokens, maxNew: maxNew(p) })), opts, sampling ? rng : new Rng(0)).map((r, k) => task.verify(chunk[k], r.tokens));
      for (const v of verdicts) {
        if (v.correct) correct++;
        reward += v.reward;
      }
    }
  } finally {
    disposeSamplerWeights(sw);
  }
  const n = prompts.length;
  return { accuracy: n ? correct / n : 0, rewardMean: n ? reward / n : 0, n };
}
