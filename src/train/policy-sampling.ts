/**
 * Where the trainer and CreditBench sample the policy: the built-in sampler (in this thread, or
 * `workers` worker threads) or llama.cpp (the policy exported to GGUF after each update, then
 * sampled through node-llama-cpp). Either way the caller gets a BatchSampler over the weights it
 * passes, with the same contract: one generator forked per row in row order, log-probs of the
 * sampling distribution. Whatever happens downstream (old log-probs, credit, loss) is unchanged.
 */
import type { Vocab } from "../tasks/types.js";
import type { ModelConfig } from "./policy/model.js";
import { disposeSamplerWeights, sample, samplerWeights, type SampleOptions } from "./policy/sampler.js";
import { SamplerPool } from "./policy/pool.js";
import type { BatchSampler } from "./rollouts.js";
import type { GgufBackend } from "../rollout/gguf.js";

/**
 * builtin: the wasm sampler; llamacpp: llama.cpp evaluates and the built-in rules draw (exact:
 * same tokens as builtin for the same seed, entropies kept); llamacpp-native: llama.cpp's own
 * sampler chain draws (no entropies, other tokens than builtin; top-p < 1 and adaptive
 * temperature still sample exactly). Log-probs are those of the sampling distribution in all three.
 */
export const SAMPLER_KINDS = ["builtin", "llamacpp", "llamacpp-native"] as const;
export type SamplerKind = (typeof SAMPLER_KINDS)[number];

/** A sampler over one set of weights, valid until release(). */
export interface OpenSampler {
  sampler: BatchSampler;
  release(): void;
}

export class PolicySampling {
  private pool: SamplerPool | null = null;
  private gguf: GgufBackend | null = null;
  /** The weights the GGUF context holds (the trainer hands a new Map after each update). */
  private ggufWeights: Map<string, Float32Array> | null = null;

  /** `workers`: builtin, worker threads (1: this thread); llamacpp, cores llama.cpp decodes on. */
  constructor(readonly kind: SamplerKind, private readonly model: ModelConfig, private readonly vocab: Vocab, private readonly workers: number) {}

  /** A sampler over `weights` for sampling with `options` (release it before the weights change). */
  async open(weights: Map<string, Float32Array>, options: SampleOptions): Promise<OpenSampler> {
    const maxSeqLen = this.model.maxSeqLen;
    if (this.kind !== "builtin") {
      const b = await this.llamaCpp(weights);
      return { sampler: b, release: () => {} };
    }
    // Workers cannot run a per-token sampling function (a closure): such calls sample in this thread.
    if (this.workers > 1 && !options.adaptiveTemperature) {
      this.pool ??= new SamplerPool(this.workers);
      const pool = this.pool;
      await pool.setWeights(this.model, weights);
      return { sampler: { maxSeqLen, sample: (r, o, g) => pool.sample(r, o, g) }, release: () => {} };
    }
    const sw = samplerWeights(this.model, weights);
    return { sampler: { maxSeqLen, sample: async (r, o, g) => sample(sw, r, o, g) }, release: () => disposeSamplerWeights(sw) };
  }

  /** The GGUF backend holding `weights`: exported and loaded once, re-exported when they change. */
  private async llamaCpp(weights: Map<string, Float32Array>): Promise<GgufBackend> {
    if (this.gguf && this.ggufWeights === weights) return this.gguf;
    if (this.gguf) await this.gguf.setWeights(weights);
    else {
      // Imported here so that the built-in sampler never loads the rollout layer.
      const [{ GgufBackend }, { policyVocab }] = await Promise.all([import("../rollout/gguf.js"), import("../rollout/open.js")]);
      this.gguf = await GgufBackend.fromPolicy(this.model, weights, policyVocab(this.vocab), { threads: this.workers, mode: this.kind === "llamacpp-native" ? "native" : "exact" });
    }
    this.ggufWeights = weights;
    return this.gguf;
  }

  async close(): Promise<void> {
    await this.pool?.close();
    this.pool = null;
    await this.gguf?.close();
    this.gguf = null;
    this.ggufWeights = null;
  }
}
