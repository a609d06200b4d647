/**
 * The trainer's sampler choice (config.sampler): llama.cpp sampling of the exported policy gives
 * log-probs equal to the policy's own rescoring, follows the weights after an update, and (exact
 * mode) draws the same tokens as the built-in sampler for the same seed; a 2-step run with
 * `sampler: "llamacpp"` matches the built-in run's first step.
 */
import test from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { useBackend } from "../../src/train/policy/tf.js";
import { initialWeights, type ModelConfig } from "../../src/train/policy/model.js";
import { Rng } from "../../src/train/rng.js";
import { DEFAULT_TRAIN, mergeConfig, validateConfig, type TrainConfig } from "../../src/train/config.js";
import { ConfigError } from "../../src/core/errors.js";
import { parseTrainArgs } from "../../src/cli/train.js";
import { runTraining, type StepMetrics } from "../../src/train/trainer.js";
import { resolveTask } from "../../src/train/tasks.js";
import { sampleGroups } from "../../src/train/rollouts.js";
import { PolicySampling } from "../../src/train/policy-sampling.js";
import { BuiltinBackend } from "../../src/rollout/builtin.js";
import { assertClose } from "../helpers.js";

const root = mkdtempSync(join(tmpdir(), "cf-policy-sampling-"));
test.after(() => rmSync(root, { recursive: true, force: true }));
test.before(async () => useBackend("wasm"));

const task = resolveTask("addition-1d");
const model: ModelConfig = { dModel: 16, nHeads: 2, nLayers: 1, dFF: 32, maxSeqLen: 32, tieEmbeddings: false, normEps: 1e-5, ropeTheta: 10000, vocabSize: task.vocab.size };

/** Weights scaled so the distributions are peaked (log-probs far from uniform). */
function weights(seed: number): Map<string, Float32Array> {
  const w = initialWeights(model, seed);
  for (const [name, a] of w) if (!name.includes("norm")) for (let k = 0; k < a.length; k++) a[k] *= 6;
  return w;
}

test("llamacpp sampling: log-probs equal the policy's rescoring to 1e-4, same tokens as builtin, and it follows new weights", async () => {
  const cpp = new PolicySampling("llamacpp", model, task.vocab, 1);
  const builtin = new PolicySampling("builtin", model, task.vocab, 1);
  const prompts = Array.from({ length: 4 }, (_, k) => task.samplePrompt(new Rng(k).fn()));
  try {
    for (const [seed, T] of [[1, 1], [2, 0.7]] as const) {
      const w = weights(seed);
      const options = { temperature: T, topP: 1, eos: task.vocab.eos };
      const a = await cpp.open(w, options);
      const b = await builtin.open(w, options);
      const ga = await sampleGroups(task, a.sampler, prompts, 4, options, new Rng(9), 0);
      const gb = await sampleGroups(task, b.sampler, prompts, 4, options, new Rng(9), 0);
      a.release();
      b.release();
      const rescoring = new BuiltinBackend(model, w);
      const scored = await rescoring.score(ga.rollouts.map((r) => ({ prefix: r.prompt.tokens, tokens: r.tokens })), T);
      await rescoring.close();
      ga.rollouts.forEach((r, i) => {
        assert.deepEqual(r.tokens, gb.rollouts[i].tokens, `weights ${seed} row ${i}: same tokens as builtin`);
        assertClose(r.logprobs, scored[i], 1e-4, 0, `weights ${seed} row ${i}: sampled vs rescored`);
      });
      assert.equal(ga.sampledTokens, gb.sampledTokens);
      // not vacuous: some sampled tokens were unlikely, and the rows differ
      assert.ok(Math.min(...scored.flatMap((x) => [...x])) < -1);
      assert.ok(new Set(ga.rollouts.map((r) => r.tokens.join(","))).size > 4);
    }
  } finally {
    await cpp.close();
    await builtin.close();
  }
});

function tiny(over: unknown): TrainConfig {
  const base = mergeConfig(structuredClone(DEFAULT_TRAIN), {
    task: "addition-1d", steps: 2, group: 4, promptsPerStep: 2, checkpointEvery: 0,
    model: { dModel: 16, nHeads: 2, nLayers: 1, dFF: 32, maxSeqLen: 32 },
    sft: { steps: 3, batch: 4 },
    eval: { n: 8, every: 2 },
  });
  return mergeConfig(base, over);
}

async function run(name: string, over: unknown): Promise<StepMetrics[]> {
  const dir = join(root, name);
  await runTraining(tiny(over), { outDir: dir, resume: false });
  assert.equal(JSON.parse(readFileSync(join(dir, "config.json"), "utf8")).sampler, (over as { sampler: string }).sampler);
  return readFileSync(join(dir, "metrics.jsonl"), "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l) as StepMetrics);
}

test("llamacpp-native sampling: llama.cpp draws, and the log-probs equal the policy's rescoring to 1e-4 after each weight change", async () => {
  const cpp = new PolicySampling("llamacpp-native", model, task.vocab, 1);
  const prompts = Array.from({ length: 4 }, (_, k) => task.samplePrompt(new Rng(k).fn()));
  try {
    for (const [seed, T] of [[1, 1], [2, 0.7]] as const) {
      const w = weights(seed);
      const options = { temperature: T, topP: 1, eos: task.vocab.eos };
      const a = await cpp.open(w, options);
      const g = await sampleGroups(task, a.sampler, prompts, 4, options, new Rng(9), 0);
      a.release();
      const rescoring = new BuiltinBackend(model, w);
      const scored = await rescoring.score(g.rollouts.map((r) => ({ prefix: r.prompt.tokens, tokens: r.tokens })), T);
      await rescoring.close();
      g.rollouts.forEach((r, i) => assertClose(r.logprobs, scored[i], 1e-4, 0, `weights ${seed} row ${i}`));
      assert.ok(new Set(g.rollouts.map((r) => r.tokens.join(","))).size > 4);
    }
  } finally {
    await cpp.close();
  }
});

test("a 2-step run with sampler llamacpp writes its metrics; step 1 samples what the builtin run samples", async () => {
  const cpp = await run("llamacpp", { sampler: "llamacpp" });
  const ref = await run("builtin", { sampler: "builtin" });
  assert.equal(cpp.length, 2);
  for (const m of cpp) for (const [k, v] of Object.entries(m)) if (typeof v === "number") assert.ok(Number.isFinite(v), `${k} = ${v}`);
  assert.ok(cpp[1].sampled_tokens > cpp[0].sampled_tokens);
  assert.ok(typeof cpp[1].eval_accuracy === "number");
  // Same warm start, same seed, exact llama.cpp sampling: step 1's rollouts are the builtin's.
  for (const k of ["reward_mean", "accuracy", "step_sampled_tokens", "response_len_mean"] as const) assert.equal(cpp[0][k], ref[0][k], k);
  // old log-probs differ by float rounding only (< 1e-4), so the step's loss barely moves
  assert.ok(Math.abs(cpp[0].loss - ref[0].loss) < 1e-3, `loss ${cpp[0].loss} vs ${ref[0].loss}`);
  const native = await run("llamacpp-native", { sampler: "llamacpp-native" });
  assert.equal(native.length, 2);
  for (const m of native) for (const [k, v] of Object.entries(m)) if (typeof v === "number") assert.ok(Number.isFinite(v), `native ${k} = ${v}`);
});

test("train --sampler sets config.sampler; an unknown sampler is refused by the flag and by the config schema", () => {
  assert.equal(parseTrainArgs(["--sampler", "llamacpp"]).config.sampler, "llamacpp");
  assert.equal(parseTrainArgs([]).config.sampler, "builtin");
  assert.throws(() => parseTrainArgs(["--sampler", "gguf"]), /--sampler must be one of builtin, llamacpp, llamacpp-native, got "gguf"/);
  assert.throws(() => validateConfig({ ...structuredClone(DEFAULT_TRAIN), sampler: "gguf" as never }), (e: unknown) => e instanceof ConfigError && /^config\.sampler: /.test(e.message));
});
