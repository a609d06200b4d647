/**
 * The built-in tfjs policy as a rollout backend: sampling is today's sampler (in-thread, or the
 * worker pool when `workers` > 1 and no adaptive temperature), scoring is one teacher-forced
 * forward pass of the policy. Results equal what src/train/rollouts.ts gets from the sampler.
 */
import { tf } from "../train/policy/tf.js";
import { Policy, type ModelConfig } from "../train/policy/model.js";
import { disposeSamplerWeights, sample, samplerWeights, type SamplerWeights } from "../train/policy/sampler.js";
import { SamplerPool } from "../train/policy/pool.js";
import type { Rng } from "../train/rng.js";
import { checkRequests, countTokens, type BackendCapabilities, type SampleOptions, type SampleRequest, type SampleResult, type ScoreRequest, type UpdatableBackend } from "./backend.js";
import { DrawScratch, temperedLogprob } from "./draw.js";

export interface BuiltinBackendOptions {
  /** Sampling threads (worker_threads); 1 samples in this thread. */
  workers?: number;
}

/** Rows per scoring forward pass (bounds the logits tensor). */
const SCORE_BATCH = 64;

export class BuiltinBackend implements UpdatableBackend {
  readonly name = "builtin";
  readonly capabilities: BackendCapabilities = { entropies: true, seeded: true, scoreAnyTemperature: true, adaptiveTemperature: true };
  sampledTokens = 0;
  private sw: SamplerWeights;
  private policy: Policy | null = null;
  private pool: SamplerPool | null;
  private poolReady: Promise<void> | null = null;

  constructor(readonly config: ModelConfig, private weights: Map<string, Float32Array>, opts: BuiltinBackendOptions = {}) {
    this.sw = samplerWeights(config, weights);
    const workers = opts.workers ?? 1;
    this.pool = workers > 1 ? new SamplerPool(workers) : null;
    if (this.pool) this.poolReady = this.pool.setWeights(config, weights);
  }

  get maxSeqLen(): number {
    return this.config.maxSeqLen;
  }

  async setWeights(weights: Map<string, Float32Array>): Promise<void> {
    disposeSamplerWeights(this.sw);
    this.weights = weights;
    this.sw = samplerWeights(this.config, weights);
    this.policy?.setWeights(weights);
    if (this.pool) this.poolReady = this.pool.setWeights(this.config, weights);
    await this.poolReady;
  }

  async sample(requests: readonly SampleRequest[], opts: SampleOptions, rng: Rng): Promise<SampleResult[]> {
    checkRequests(this.name, requests, this.maxSeqLen, this.config.vocabSize);
    let res: SampleResult[];
    if (this.pool && !opts.adaptiveTemperature) {
      await this.poolReady;
      res = await this.pool.sample(requests, opts, rng);
    } else res = sample(this.sw, requests, opts, rng);
    this.sampledTokens += countTokens(res);
    return res;
  }

  async score(requests: readonly ScoreRequest[], temperature = 1): Promise<Float64Array[]> {
    checkRequests(this.name, requests.map((q) => ({ prefix: [...q.prefix, ...q.tokens] })), this.maxSeqLen, this.config.vocabSize);
    this.policy ??= new Policy(this.config, this.weights, false);
    const policy = this.policy;
    const V = this.config.vocabSize;
    const scratch = new DrawScratch(V);
    const out: Float64Array[] = [];
    for (let a = 0; a < requests.length; a += SCORE_BATCH) {
      const part = requests.slice(a, a + SCORE_BATCH);
      const T = Math.max(...part.map((q) => q.prefix.length + q.tokens.length));
      const B = part.length;
      // Right padding: the model is causal, so padding never reaches a row's real positions.
      const ids = new Int32Array(B * T);
      part.forEach((q, b) => {
        ids.set(q.prefix, b * T);
        ids.set(q.tokens, b * T + q.prefix.length);
      });
      const logits = tf.tidy(() => policy.forward(ids, B, T));
      const z = logits.dataSync() as Float32Array;
      logits.dispose();
      part.forEach((q, b) => {
        const lp = new Float64Array(q.tokens.length);
        for (let j = 0; j < q.tokens.length; j++) {
          const row = (b * T + q.prefix.length - 1 + j) * V;
          lp[j] = temperedLogprob(z.subarray(row, row + V), q.tokens[j], temperature, scratch);
        }
        out.push(lp);
      });
    }
    return out;
  }

  async close(): Promise<void> {
    disposeSamplerWeights(this.sw);
    this.policy?.dispose();
    this.policy = null;
    await this.pool?.close();
    this.pool = null;
  }
}
