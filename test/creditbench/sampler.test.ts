/**
 * CreditBench through llama.cpp (`creditflow bench --sampler llamacpp`): the groups, the oracle's
 * Monte Carlo continuations and SPO-chain's cutpoint values are sampled by llama.cpp from the
 * exported warm start. llama.cpp's exact mode draws the same tokens as the built-in sampler for
 * the same generator, so every count, every oracle value and every method's score equals the
 * built-in run's.
 */
import test from "node:test";
import assert from "node:assert/strict";
import { useBackend } from "../../src/train/policy/tf.js";
import { initialWeights, type ModelConfig } from "../../src/train/policy/model.js";
import { resolveTask } from "../../src/train/tasks.js";
import { DEFAULT_FIDELITY, runFidelity, type FidelityTaskResult } from "../../src/creditbench/fidelity.js";
import type { WarmStart } from "../../src/creditbench/warmstart.js";
import { parseBenchArgs } from "../../src/cli/bench.js";

test.before(async () => useBackend("wasm"));

const task = resolveTask("addition-1d");
const model: ModelConfig = { dModel: 16, nHeads: 2, nLayers: 1, dFF: 32, maxSeqLen: 32, tieEmbeddings: false, normEps: 1e-5, ropeTheta: 10000, vocabSize: task.vocab.size };

function warmStart(): WarmStart {
  const weights = initialWeights(model, 3);
  // Peaked distributions, so continuations from different prefixes differ.
  for (const [name, a] of weights) if (!name.includes("norm")) for (let k = 0; k < a.length; k++) a[k] *= 6;
  return { path: "", model, weights, evalAccuracy: 0, sftSteps: 0, seconds: 0, cached: false };
}

test("bench --sampler llamacpp: fidelity's groups, oracle and SPO-chain values equal the builtin sampler's", async () => {
  const run = (sampler: "builtin" | "llamacpp"): Promise<FidelityTaskResult> =>
    runFidelity(task, warmStart(), ["grpo", "spo-chain"], { ...DEFAULT_FIDELITY, groups: 3, groupSize: 4, K: 4, spoChainSamples: 2, sampler }, () => {});
  const cpp = await run("llamacpp");
  const ref = await run("builtin");
  assert.equal(cpp.config.sampler, "llamacpp");
  assert.ok(cpp.oracle.sampledTokens > cpp.responseTokens, "the oracle sampled continuations");
  for (const k of ["responses", "responseTokens", "groupSampledTokens", "rewardMean", "mixedGroups"] as const) assert.equal(cpp[k], ref[k], k);
  assert.deepEqual({ ...cpp.oracle }, { ...ref.oracle });
  assert.deepEqual(cpp.heatmaps, ref.heatmaps);
  assert.deepEqual(cpp.methods.map((m) => m.method), ["grpo", "spo-chain"]);
  const spo = cpp.methods[1];
  assert.ok(spo.extraSampledTokens > 0, "SPO-chain's Monte Carlo values were sampled");
  assert.deepEqual(cpp.methods, ref.methods);
});

test("bench --sampler sets the fidelity sampler and the training runs' sampler; a bad name is refused", () => {
  const a = parseBenchArgs(["--sampler", "llamacpp"]);
  assert.equal(a.options.fidelity.sampler, "llamacpp");
  assert.equal(a.options.efficiency.train.sampler, "llamacpp");
  assert.equal(parseBenchArgs([]).options.fidelity.sampler, "builtin");
  assert.throws(() => parseBenchArgs(["--sampler", "vllm"]), /--sampler must be one of builtin, llamacpp, llamacpp-native, got "vllm"/);
});
