/** Worker-thread sampling returns exactly the single-thread results. */
import test from "node:test";
import assert from "node:assert/strict";
import { useBackend } from "../../src/train/policy/tf.js";
import { initialWeights, type ModelConfig } from "../../src/train/policy/model.js";
import { sample, samplerWeights, disposeSamplerWeights } from "../../src/train/policy/sampler.js";
import { SamplerPool } from "../../src/train/policy/pool.js";
import { Rng } from "../../src/train/rng.js";

test("a 2-worker pool samples exactly what one thread samples", async () => {
  await useBackend("wasm");
  const cfg: ModelConfig = { vocabSize: 13, dModel: 16, nLayers: 1, nHeads: 2, dFF: 32, maxSeqLen: 24, tieEmbeddings: true, normEps: 1e-5, ropeTheta: 10000 };
  const w = initialWeights(cfg, 5);
  for (const [k, v] of w) if (!k.includes("norm")) for (let i = 0; i < v.length; i++) v[i] *= 10;
  const reqs = Array.from({ length: 7 }, (_, i) => ({ prefix: [1, 2 + (i % 5), 3], maxNew: 6 + i }));
  const opts = { temperature: 0.9, topP: 0.95, eos: 0 };
  const sw = samplerWeights(cfg, w);
  const one = sample(sw, reqs, opts, new Rng(3));
  disposeSamplerWeights(sw);
  const pool = new SamplerPool(2);
  try {
    await pool.setWeights(cfg, w);
    const two = await pool.sample(reqs, opts, new Rng(3));
    assert.deepEqual(two, one);
  } finally {
    await pool.close();
  }
});
