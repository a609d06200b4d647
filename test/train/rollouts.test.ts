/** Tree sampling and Monte Carlo values: structure and exact token accounting. */
import test from "node:test";
import assert from "node:assert/strict";
import { useBackend } from "../../src/train/policy/tf.js";
import { initialWeights, type ModelConfig } from "../../src/train/policy/model.js";
import { sample, samplerWeights, disposeSamplerWeights } from "../../src/train/policy/sampler.js";
import { monteCarloValues, sampleTrees, toRows, type BatchSampler } from "../../src/train/rollouts.js";
import { resolveTask } from "../../src/train/tasks.js";
import { Rng } from "../../src/train/rng.js";

test("SPO-tree sampling: paths share segments, each sampled token is owned by one path", async () => {
  await useBackend("wasm");
  const task = resolveTask("addition-1d");
  const cfg: ModelConfig = { vocabSize: task.vocab.size, dModel: 16, nLayers: 1, nHeads: 2, dFF: 32, maxSeqLen: 32, tieEmbeddings: false, normEps: 1e-5, ropeTheta: 10000 };
  const sw = samplerWeights(cfg, initialWeights(cfg, 2));
  const s: BatchSampler = { maxSeqLen: cfg.maxSeqLen, sample: async (r, o, g) => sample(sw, r, o, g) };
  const rng = new Rng(4);
  const prompts = [task.samplePrompt(rng.fn()), task.samplePrompt(rng.fn())];
  const opts = { temperature: 1, topP: 1, eos: task.vocab.eos };
  const gen = await sampleTrees(task, s, prompts, [3, 2], 3, opts, rng, 0);
  // Random weights rarely emit eos within 3 tokens, so nearly every first segment branches.
  assert.ok(gen.rollouts.length > 6, `${gen.rollouts.length} paths`);
  let owned = 0;
  for (const r of gen.rollouts) {
    assert.equal(r.trainMask?.length, r.tokens.length);
    owned += (r.trainMask as number[]).reduce((a, b) => a + b, 0);
    const ends = r.segmentEnds as number[];
    assert.equal(ends[ends.length - 1], r.tokens.length - 1);
    assert.ok(ends[0] <= 2, "first segment is at most segmentTokens long");
  }
  assert.equal(owned, gen.sampledTokens);
  const rows = toRows(gen.rollouts, { stepEnds: true, episodes: false });
  assert.deepEqual(rows[0].step_ends, gen.rollouts[0].segmentEnds);
  // Identical prefixes are valued once; values are means of verifier rewards in [0, 1].
  const q = { prompt: prompts[0], prefix: [] as number[] };
  const mc = await monteCarloValues(task, s, [q, q, { prompt: prompts[1], prefix: [] }], 3, opts, rng);
  assert.equal(mc.values[0], mc.values[1]);
  for (const v of mc.values) assert.ok(v >= 0 && v <= 1);
  assert.ok(mc.sampledTokens > 0 && mc.sampledTokens <= 6 * task.maxResponseTokens);
  disposeSamplerWeights(sw);
});
