/**
 * The trainer's sampler choice (config.sampler): llama.cpp sampling of the exported policy gives
 * log-probs equal to the policy's own rescoring, follows the weights after an update, and (exact
 * mode) draws the same tokens as the built-in sampler for the same seed; a 2-step run with
 * `sampler: "llamacpp"` matches the built-in run's first step.
 */
import test from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { useBackend } from "../../src/train/policy/tf.js";
import { initialWeights, type ModelConfig } from "../../src/train/policy/model.js";
import { Rng } from "../../src/train/rng.js";
import { DEFAULT_TRAIN, validateConfig } from "../../src/train/config.js";
import { ConfigError } from "../../src/core/errors.js";
import { parseTrainArgs } from "../../src/cli/train.js";
import { runTraining, type StepMetrics } from "../../src/train/trainer.js";
import { runTiny, tinyConfig } from "./tiny-run.js";
import { resolveTask } from "../../src/train/tasks.js";
import { sampleGroups } from "../../src/train/rollouts.js";
import { PolicySampling, type SamplerKind } from "../../src/train/policy-sampling.js";
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

/**
 * Samples 4 groups of 4 with `kind` at two temperatures, each with new weights (the second is a
 * weight change for the same sampler); every sampled log-prob must equal the policy's own
 * rescoring to 1e-4. Returns the rollouts' tokens per setting.
 */
async function sampleAndRescore(kind: SamplerKind): Promise<number[][][]> {
  const sampling = new PolicySampling(kind, model, task.vocab, 1);
  const prompts = Array.from({ length: 4 }, (_, k) => task.samplePrompt(new Rng(k).fn()));
  const out: number[][][] = [];
  try {
    for (const [seed, T] of [[1, 1], [2, 0.7]] as const) {
      const w = weights(seed);
      const options = { temperature: T, topP: 1, eos: task.vocab.eos };
      const open = await sampling.open(w, options);
      const g = await sampleGroups(task, open.sampler, prompts, 4, options, new Rng(9), 0);
      open.release();
      const rescoring = new BuiltinBackend(model, w);
      const scored = await rescoring.score(g.rollouts.map((r) => ({ prefix: r.prompt.tokens, tokens: r.tokens })), T);
      await rescoring.close();
      g.rollouts.forEach((r, i) => assertClose(r.logprobs, scored[i], 1e-4, 0, `${kind}, weights ${seed}, row ${i}: sampled vs rescored`));
      assert.equal(g.sampledTokens, g.rollouts.reduce((s, r) => s + r.tokens.length, 0));
      // not vacuous: some sampled tokens were unlikely, and the rows differ
      assert.ok(Math.min(...scored.flatMap((x) => [...x])) < -1);
      assert.ok(new Set(g.rollouts.map((r) => r.tokens.join(","))).size > 4);
      out.push(g.rollouts.map((r) => r.tokens));
    }
  } finally {
    await sampling.close();
  }
  return out;
}

test("llamacpp sampling: log-probs equal the policy's rescoring to 1e-4 across a weight change, and the tokens are builtin's", async () => {
  assert.deepEqual(await sampleAndRescore("llamacpp"), await sampleAndRescore("builtin"));
});

test("llamacpp-native sampling: llama.cpp draws; log-probs equal the policy's rescoring to 1e-4 across a weight change", async () => {
  const native = await sampleAndRescore("llamacpp-native");
  assert.notDeepEqual(native, await sampleAndRescore("builtin"), "llama.cpp's own draws");
});

async function run(name: string, over: { sampler: SamplerKind }): Promise<StepMetrics[]> {
  const m = await runTiny(root, name, over);
  assert.equal(JSON.parse(readFileSync(join(root, name, "config.json"), "utf8")).sampler, over.sampler);
  return m;
}

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

test("a run saved before the sampler key existed resumes with the builtin sampler", async () => {
  const dir = join(root, "old-run");
  await runTraining(tinyConfig({ checkpointEvery: 1 }), { outDir: dir, resume: false, stopAfter: 1 });
  const ckpt = join(dir, "checkpoint.json");
  const f = JSON.parse(readFileSync(ckpt, "utf8"));
  delete f.config.sampler;
  writeFileSync(ckpt, JSON.stringify(f));
  const summary = await runTraining(tinyConfig({ checkpointEvery: 1 }), { outDir: dir, resume: true });
  assert.equal(summary.steps, 2);
});
