/**
 * One rollout interface over every sampler in the project: the built-in tfjs policy, GGUF models
 * through llama.cpp, and OpenAI-compatible inference servers (vLLM, SGLang, llama.cpp's server).
 *
 * A backend is a drop-in `BatchSampler` (src/train/rollouts.ts): `sample` takes the same
 * requests, options and generator, forks one generator per request in request order, and returns
 * one result per request, so sampleGroups / sampleTrees / monteCarloValues run on any backend.
 * On top of that it scores given token sequences and counts every token it samples.
 *
 * Log-prob convention (the clipped loss's old log-prob): log pi_T(y_t), the sampled token under
 * the distribution at the sampling temperature T (greedy: T = 1). With top-p < 1 the local
 * backends (builtin, gguf) report it before nucleus truncation, as the trainer's sampler always
 * has; the servers report what they can (docs/backends.md says which).
 */
import type { BatchSampler } from "../train/rollouts.js";
import type { SampleOptions, SampleRequest, SampleResult } from "../train/policy/sampler.js";
import type { Rng } from "../train/rng.js";

export type { SampleOptions, SampleRequest, SampleResult };

/** A given continuation to score: log pi_T(tokens[j] | prefix, tokens[0..j)). */
export interface ScoreRequest {
  prefix: readonly number[];
  tokens: readonly number[];
}

export interface BackendCapabilities {
  /** SampleResult.entropies holds the entropy of each step's distribution (else it is empty). */
  readonly entropies: boolean;
  /** The same generator state gives the same samples. */
  readonly seeded: boolean;
  /** score() at a temperature other than 1. */
  readonly scoreAnyTemperature: boolean;
  /** SampleOptions.adaptiveTemperature is honoured. */
  readonly adaptiveTemperature: boolean;
}

export interface RolloutBackend extends BatchSampler {
  readonly name: string;
  /** Longest prompt + response the backend takes. */
  readonly maxSeqLen: number;
  readonly capabilities: BackendCapabilities;
  /** Tokens sampled through this backend so far (every response token, eos included). */
  readonly sampledTokens: number;
  sample(requests: readonly SampleRequest[], opts: SampleOptions, rng: Rng): Promise<SampleResult[]>;
  /** Per-token log-probs of each request's tokens at `temperature` (default 1). */
  score(requests: readonly ScoreRequest[], temperature?: number): Promise<Float64Array[]>;
  /** Frees the model, workers or connections. */
  close(): Promise<void>;
}

/** A backend whose weights the trainer replaces after each update (builtin, gguf). */
export interface UpdatableBackend extends RolloutBackend {
  setWeights(weights: Map<string, Float32Array>): Promise<void>;
}

/** A backend failure that is the user's to fix (bad server answer, missing package, bad request). */
export class BackendError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BackendError";
  }
}

/** Checks a request batch against a backend's limits before anything is sampled. */
export function checkRequests(name: string, requests: readonly { prefix: readonly number[] }[], maxSeqLen: number, vocabSize: number | null): void {
  requests.forEach((q, r) => {
    if (q.prefix.length < 1) throw new BackendError(`${name}: request ${r} has an empty prefix`);
    if (q.prefix.length > maxSeqLen) throw new BackendError(`${name}: request ${r} has a prefix of ${q.prefix.length} tokens, more than the ${maxSeqLen} the model takes`);
    for (const t of q.prefix) {
      if (!Number.isInteger(t) || t < 0 || (vocabSize !== null && t >= vocabSize)) throw new BackendError(`${name}: request ${r} has token ${t} outside the vocabulary`);
    }
  });
}

/** Total tokens of a batch of results. */
export function countTokens(results: readonly SampleResult[]): number {
  let n = 0;
  for (const r of results) n += r.tokens.length;
  return n;
}
