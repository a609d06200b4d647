/** Both sampler backends produce per-token log-probs and entropies equal to the tfjs scoring pass. */
import test from "node:test";
import assert from "node:assert/strict";
import { tf, useBackend } from "../../src/train/policy/tf.js";
import { Policy, initialWeights, type ModelConfig } from "../../src/train/policy/model.js";
import { entropyFromLogits, selectLogProbs } from "../../src/train/policy/ops.js";
import { sample, samplerWeights, disposeSamplerWeights } from "../../src/train/policy/sampler.js";
import { Rng } from "../../src/train/rng.js";

const cfg: ModelConfig = { vocabSize: 19, dModel: 32, nLayers: 2, nHeads: 4, dFF: 40, maxSeqLen: 20, tieEmbeddings: false, normEps: 1e-5, ropeTheta: 10000 };

for (const tied of [false, true]) {
  test(`native and tfjs samplers agree with the tfjs scoring pass (tied=${tied})`, async () => {
    await useBackend("wasm");
    const c = { ...cfg, tieEmbeddings: tied };
    const w = initialWeights(c, 8);
    for (const [k, v] of w) if (!k.includes("norm")) for (let i = 0; i < v.length; i++) v[i] *= 12;
    const scorer = new Policy(c, w, false, { backend: "tfjs" });
    const reqs = Array.from({ length: 9 }, (_, i) => ({ prefix: Array.from({ length: 1 + (i % 4) }, (_, j) => (i + 3 * j) % c.vocabSize), maxNew: 8 + i }));
    const T0 = 0.9;
    const opts = { temperature: T0, topP: 1, eos: 0 };
    const runs = [];
    for (const backend of ["native", "tfjs"] as const) {
      const sw = samplerWeights(c, w, backend);
      assert.equal(sw.backend, backend);
      const res = sample(sw, reqs, opts, new Rng(4));
      disposeSamplerWeights(sw);
      runs.push(res);
      for (let i = 0; i < reqs.length; i++) {
        const seq = [...reqs[i].prefix, ...res[i].tokens];
        const T = seq.length - 1;
        const [lp, ent] = tf.tidy(() => {
          const logits = tf.div(scorer.forward(Int32Array.from(seq), 1, seq.length), T0) as tf.Tensor2D;
          const first = logits.slice([0, 0], [T, c.vocabSize]);
          return [selectLogProbs(first, Int32Array.from(seq.slice(1))).dataSync(), entropyFromLogits(first).dataSync()];
        });
        const p0 = reqs[i].prefix.length - 1;
        for (let k = 0; k < res[i].tokens.length; k++) {
          assert.ok(Math.abs(lp[p0 + k] - res[i].logprobs[k]) < 1e-4, `${backend} row ${i} token ${k}: ${res[i].logprobs[k]} vs scoring ${lp[p0 + k]}`);
          assert.ok(Math.abs(ent[p0 + k] - res[i].entropies[k]) < 1e-4, `${backend} row ${i} entropy ${k}`);
        }
      }
    }
    // Same generators, distributions equal to rounding: the two backends draw the same tokens here.
    assert.deepEqual(runs[0].map((r) => r.tokens), runs[1].map((r) => r.tokens));
    scorer.dispose();
  });
}
