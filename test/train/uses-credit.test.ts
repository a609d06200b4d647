/**
 * The trainer must act on exactly what a method returns (issue 10, section 3): zero advantages or
 * zero weights leave the policy unchanged, and flipping every advantage flips the update.
 */
import test from "node:test";
import assert from "node:assert/strict";
import { registerMethod, type Assignment } from "../../src/core/registry.js";
import type { RolloutBatch } from "../../src/core/batch.js";
import { useBackend, tf } from "../../src/train/policy/tf.js";
import { DEFAULT_TRAIN, mergeConfig, type TrainConfig } from "../../src/train/config.js";
import { Trainer } from "../../src/train/trainer.js";
import { Policy, type ModelConfig } from "../../src/train/policy/model.js";
import { selectLogProbs } from "../../src/train/policy/ops.js";
import { resolveTask } from "../../src/train/tasks.js";

await useBackend("wasm");

/** A test method giving every mask-1 token advantage `a` (and weight `w` when given). */
function constant(name: string, a: number, w?: number): void {
  registerMethod<Record<string, never>>({
    name, summary: "test", paper: "test", status: "paper", options: {},
    assign: (batch: RolloutBatch): Assignment => {
      const advantages = new Float64Array(batch.nTokens);
      for (let k = 0; k < batch.nTokens; k++) advantages[k] = batch.mask[k] ? a : 0;
      return w === undefined ? { advantages } : { advantages, weights: new Float64Array(batch.nTokens).fill(w) };
    },
  });
}
constant("test-zero", 0);
constant("test-plus", 1);
constant("test-minus", -1);
constant("test-weightless", 1, 0);

const task = resolveTask("addition-1d");
function config(method: string): TrainConfig {
  return mergeConfig(structuredClone(DEFAULT_TRAIN), {
    task: "addition-1d", method, steps: 1, group: 4, promptsPerStep: 2, checkpointEvery: 0,
    model: { dModel: 16, nHeads: 2, nLayers: 1, dFF: 32, maxSeqLen: 32 },
    optim: { lr: 1e-4, warmupSteps: 0 }, eval: { n: 0 },
  });
}
const modelConfig = (c: TrainConfig): ModelConfig => ({ ...c.model, vocabSize: task.vocab.size });
const init = (() => {
  const p = Policy.create(modelConfig(config("grpo")), 5);
  const w = p.weights();
  p.dispose();
  return w;
})();

/** Weights after one trainer step with `method` from the shared initial weights. */
async function afterOneStep(method: string): Promise<Map<string, Float32Array>> {
  const t = new Trainer(config(method), task, init, null, null);
  try {
    await t.trainStep();
    return t.policy.weights();
  } finally {
    await t.close();
    t.dispose();
  }
}

function delta(w: Map<string, Float32Array>): Float64Array {
  const parts: number[] = [];
  for (const [k, v] of w) {
    const base = init.get(k)!;
    for (let i = 0; i < v.length; i++) parts.push(v[i] - base[i]);
  }
  return Float64Array.from(parts);
}

/** Log-probs of fixed token sequences under some weights (teacher forcing, one forward pass). */
function logProbs(weights: Map<string, Float32Array>, seqs: number[][]): Float64Array {
  const p = new Policy(modelConfig(config("grpo")), weights, false);
  try {
    const T = seqs[0].length;
    const tokens = Int32Array.from(seqs.flatMap((s) => s.slice(0, T - 1)));
    const targets = Int32Array.from(seqs.flatMap((s) => s.slice(1)));
    return Float64Array.from(tf.tidy(() => selectLogProbs(p.forward(tokens, seqs.length, T - 1) as tf.Tensor2D, targets)).dataSync());
  } finally {
    p.dispose();
  }
}

test("zero advantages, or zero weights, leave every weight unchanged", async () => {
  for (const m of ["test-zero", "test-weightless"]) {
    const d = delta(await afterOneStep(m));
    assert.equal(d.reduce((s, x) => Math.max(s, Math.abs(x)), 0), 0, m);
  }
  // ... while a non-zero advantage does move them.
  assert.ok(delta(await afterOneStep("test-plus")).some((x) => x !== 0));
});

test("flipping the sign of every advantage flips the update and the change of log-probs", async () => {
  const plus = await afterOneStep("test-plus");
  const minus = await afterOneStep("test-minus");
  const dp = delta(plus), dm = delta(minus);
  // Adam's first step is sign-symmetric in the gradient: the two updates are exact opposites.
  let dot = 0, np = 0, nm = 0;
  for (let i = 0; i < dp.length; i++) {
    dot += dp[i] * dm[i];
    np += dp[i] * dp[i];
    nm += dm[i] * dm[i];
  }
  assert.ok(np > 0);
  assert.ok(dot / Math.sqrt(np * nm) < -0.999, `cosine ${dot / Math.sqrt(np * nm)}`);
  // Log-probs of fixed sequences move in opposite directions.
  const seqs = Array.from({ length: 6 }, (_, i) => Array.from({ length: 12 }, (_, k) => (i * 7 + k * 3) % task.vocab.size));
  const base = logProbs(init, seqs), lp = logProbs(plus, seqs), lm = logProbs(minus, seqs);
  let agree = 0;
  for (let k = 0; k < base.length; k++) if ((lp[k] - base[k]) * (lm[k] - base[k]) < 0) agree++;
  assert.ok(agree / base.length > 0.9, `${agree} of ${base.length} log-probs moved in opposite directions`);
});

test("a method with a `step` option receives the trainer's step (schedules such as length-curriculum's budget)", async () => {
  const seen: number[] = [];
  registerMethod<{ step: number }>({
    name: "test-step-recorder", summary: "test", paper: "test", status: "paper",
    options: { step: { type: "number", default: 0, min: 0, integer: true, doc: "training step" } },
    assign: (batch: RolloutBatch, o: { step: number }): Assignment => {
      seen.push(o.step);
      return { advantages: new Float64Array(batch.nTokens) };
    },
  });
  const t = new Trainer(mergeConfig(config("test-step-recorder"), { steps: 2 }), task, init, null, null);
  try {
    await t.trainStep();
    await t.trainStep();
  } finally {
    await t.close();
    t.dispose();
  }
  assert.deepEqual(seen, [0, 1]);
});

test("methods that read hidden states, distributions or attention get them from the policy, consistent with the sampler", async () => {
  const seen: RolloutBatch[] = [];
  registerMethod<Record<string, never>>({
    name: "test-model-signals", summary: "test", paper: "test", status: "paper", options: {},
    signals: ["hidden", "probs", "attn_local", "attn_global"],
    assign: (batch: RolloutBatch): Assignment => {
      seen.push(batch);
      return { advantages: new Float64Array(batch.nTokens) };
    },
  });
  const t = new Trainer(config("test-model-signals"), task, init, null, null);
  try {
    await t.trainStep();
  } finally {
    await t.close();
    t.dispose();
  }
  const b = seen[0];
  assert.ok(b.n > 0 && b.logprobs);
  let checked = 0;
  for (let i = 0; i < b.n; i++) {
    const T = b.offsets[i + 1] - b.offsets[i];
    const sig = b.signals[i] as { hidden: number[][]; probs: number[][]; attn_local: number[][]; attn_global: number[][] };
    assert.equal(sig.hidden.length, T);
    assert.ok(sig.hidden.every((row) => row.length === 16));
    assert.equal(sig.probs.length, T);
    for (let k = 0; k < T; k++) {
      const row = sig.probs[k];
      assertNear(row.reduce((s, x) => s + x, 0), 1, 1e-4);
      // The sampler's log-prob of the sampled token, from the same weights and temperature.
      assertNear(Math.log(row[b.tokens[b.offsets[i] + k]]), b.logprobs!.data[b.offsets[i] + k], 1e-3);
      checked++;
    }
    for (const m of [sig.attn_local, sig.attn_global]) {
      assert.equal(m.length, T);
      // Rows of a causal attention map restricted to the response: non-negative, at most 1, nothing after the diagonal.
      m.forEach((row, r) => row.forEach((x, s) => assert.ok(x >= 0 && x <= 1 + 1e-6 && (s <= r || x === 0))));
    }
  }
  assert.ok(checked > 0);
});

function assertNear(a: number, b: number, tol: number): void {
  assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);
}
