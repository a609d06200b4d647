/** The wasm op layer gives the same loss and gradients as the pure-JS cpu backend; sampler agrees with the model. */
import test from "node:test";
import assert from "node:assert/strict";
import { tf, useBackend } from "../../src/train/policy/tf.js";
import { Policy, initialWeights, type ModelConfig } from "../../src/train/policy/model.js";
import { selectLogProbs } from "../../src/train/policy/ops.js";
import { sample, samplerWeights, disposeSamplerWeights } from "../../src/train/policy/sampler.js";
import { Rng } from "../../src/train/rng.js";

const cfg: ModelConfig = { vocabSize: 11, dModel: 16, nLayers: 2, nHeads: 2, dFF: 24, maxSeqLen: 16, tieEmbeddings: false, normEps: 1e-5, ropeTheta: 10000 };

/** Weights scaled up so the distributions are far from uniform (a stronger check). */
function sharpWeights(c: ModelConfig, seed: number): Map<string, Float32Array> {
  const w = initialWeights(c, seed);
  for (const [k, v] of w) if (!k.includes("norm")) for (let i = 0; i < v.length; i++) v[i] *= 15;
  return w;
}

async function lossAndGrads(backend: "wasm" | "cpu", c: ModelConfig): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  await useBackend(backend);
  const m = new Policy(c, sharpWeights(c, 3), true, { backend: "tfjs" });
  const B = 2, T = 7;
  const toks = Int32Array.from({ length: B * T }, (_, k) => (k * 7 + 3) % c.vocabSize);
  const targets = Int32Array.from({ length: B * T }, (_, k) => (k * 5 + 1) % c.vocabSize);
  const { value, grads } = tf.variableGrads(() => tf.neg(tf.mean(selectLogProbs(m.forward(toks, B, T), targets))) as tf.Scalar);
  const out = new Map<string, Float32Array>();
  for (const [name, v] of m.params) out.set(name, Float32Array.from(grads[v.name].dataSync() as Float32Array));
  const loss = value.dataSync()[0];
  tf.dispose([value, ...Object.values(grads)]);
  m.dispose();
  return { loss, grads: out };
}

for (const tied of [false, true]) {
  test(`wasm and cpu backends give the same loss and gradients (tied=${tied})`, async () => {
    const c = { ...cfg, tieEmbeddings: tied };
    const a = await lossAndGrads("cpu", c);
    const b = await lossAndGrads("wasm", c);
    assert.ok(Math.abs(a.loss - b.loss) < 1e-4 * Math.max(1, Math.abs(a.loss)), `loss ${a.loss} vs ${b.loss}`);
    for (const [name, ga] of a.grads) {
      const gb = b.grads.get(name) as Float32Array;
      let scale = 1e-6;
      for (const x of ga) scale = Math.max(scale, Math.abs(x));
      for (let k = 0; k < ga.length; k++) assert.ok(Math.abs(ga[k] - gb[k]) <= 1e-3 * scale, `${name}[${k}]: ${ga[k]} vs ${gb[k]}`);
    }
  });
}

test("sampler log-probs equal the model's, continue prefixes, and are deterministic", async () => {
  await useBackend("wasm");
  const m = new Policy(cfg, sharpWeights(cfg, 4));
  const sw = samplerWeights(cfg, m.weights());
  const reqs = [{ prefix: [1, 2, 3], maxNew: 9 }, { prefix: [1], maxNew: 12 }, { prefix: [4, 5, 6, 7, 8], maxNew: 5 }];
  const opts = { temperature: 0.8, topP: 1, eos: 0 };
  const r1 = sample(sw, reqs, opts, new Rng(9));
  const r2 = sample(sw, reqs, opts, new Rng(9));
  assert.deepEqual(r1, r2);
  // Row results do not depend on the other rows of the batch.
  const alone = sample(sw, [reqs[1]], opts, (() => { const g = new Rng(9); g.fork(); return g; })());
  assert.deepEqual(alone[0], r1[1]);
  for (let i = 0; i < reqs.length; i++) {
    const seq = [...reqs[i].prefix, ...r1[i].tokens];
    const T = seq.length;
    assert.ok(r1[i].tokens.length <= reqs[i].maxNew);
    assert.equal(r1[i].finished, r1[i].tokens[r1[i].tokens.length - 1] === 0);
    const lp = tf.tidy(() => {
      const logits = tf.div(m.forward(Int32Array.from(seq), 1, T), 0.8) as tf.Tensor2D;
      return selectLogProbs(logits.slice([0, 0], [T - 1, cfg.vocabSize]), Int32Array.from(seq.slice(1)));
    });
    const all = Array.from(lp.dataSync());
    lp.dispose();
    const mine = all.slice(reqs[i].prefix.length - 1);
    for (let k = 0; k < mine.length; k++) assert.ok(Math.abs(mine[k] - r1[i].logprobs[k]) < 1e-4, `row ${i} token ${k}: ${mine[k]} vs ${r1[i].logprobs[k]}`);
    for (const e of r1[i].entropies) assert.ok(e >= 0 && e <= Math.log(cfg.vocabSize) + 1e-6);
  }
  // Greedy decoding is the argmax path; top-p near 0 is greedy too.
  const g = sample(sw, reqs, { temperature: 0, topP: 1, eos: 0 }, new Rng(1));
  const p = sample(sw, reqs, { temperature: 1, topP: 1e-6, eos: 0 }, new Rng(2));
  assert.deepEqual(g.map((r) => r.tokens), p.map((r) => r.tokens));
  disposeSamplerWeights(sw);
  m.dispose();
});
