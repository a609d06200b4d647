/** The policy's native backend behind the tf API: same loss, gradients and updates as the tfjs reference. */
import test from "node:test";
import assert from "node:assert/strict";
import { tf, useBackend } from "../../src/train/policy/tf.js";
import { Policy, initialWeights, type ModelConfig } from "../../src/train/policy/model.js";
import { selectLogProbs } from "../../src/train/policy/ops.js";
import { Adam, DEFAULT_OPTIM } from "../../src/train/policy/optim.js";
import { Rng } from "../../src/train/rng.js";

const cfg: ModelConfig = { vocabSize: 17, dModel: 32, nLayers: 2, nHeads: 4, dFF: 48, maxSeqLen: 24, tieEmbeddings: false, normEps: 1e-5, ropeTheta: 10000 };

function weights(c: ModelConfig): Map<string, Float32Array> {
  const w = initialWeights(c, 2);
  for (const [k, v] of w) if (!k.includes("norm")) for (let i = 0; i < v.length; i++) v[i] *= 10;
  return w;
}

function batch(B: number, T: number, V: number, seed: number): { toks: Int32Array; targets: Int32Array; adv: Float32Array } {
  const rng = new Rng(seed);
  const toks = Int32Array.from({ length: B * T }, () => Math.floor(rng.next() * V));
  const targets = Int32Array.from({ length: B * T }, () => Math.floor(rng.next() * V));
  const adv = Float32Array.from({ length: B * T }, () => rng.normal());
  return { toks, targets, adv };
}

/** A policy-gradient-shaped loss on two different batches in one tape (the native pass must recompute the first). */
function lossAndGrads(p: Policy): { loss: number; grads: Map<string, Float32Array> } {
  const a = batch(3, 11, cfg.vocabSize, 1), b = batch(2, 20, cfg.vocabSize, 2);
  const { value, grads } = tf.variableGrads(() => {
    const la = tf.mean(tf.mul(selectLogProbs(tf.div(p.forward(a.toks, 3, 11), 0.7) as tf.Tensor2D, a.targets), a.adv));
    const lb = tf.mean(tf.mul(selectLogProbs(p.forward(b.toks, 2, 20), b.targets), b.adv));
    return tf.neg(tf.add(la, tf.mul(lb, 0.5))) as tf.Scalar;
  });
  const out = new Map<string, Float32Array>();
  for (const [name, v] of p.params) out.set(name, Float32Array.from(grads[v.name].dataSync() as Float32Array));
  const loss = value.dataSync()[0];
  tf.dispose([value, ...Object.values(grads)]);
  return { loss, grads: out };
}

function assertClose(name: string, got: Float32Array, want: Float32Array, tol: number): void {
  let scale = 1e-3;
  for (const x of want) scale = Math.max(scale, Math.abs(x));
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= tol * scale, `${name}[${i}]: native ${got[i]} vs tfjs ${want[i]}`);
}

for (const tied of [false, true]) {
  test(`native and tfjs policies give the same loss and gradients through tf.variableGrads (tied=${tied})`, async () => {
    await useBackend("wasm");
    const c = { ...cfg, tieEmbeddings: tied };
    const nat = new Policy(c, weights(c), true, { backend: "native" });
    const ref = new Policy(c, weights(c), true, { backend: "tfjs" });
    assert.equal(nat.backend, "native");
    const n = lossAndGrads(nat), r = lossAndGrads(ref);
    assert.ok(Math.abs(n.loss - r.loss) < 1e-4 * Math.max(1, Math.abs(r.loss)), `loss ${n.loss} vs ${r.loss}`);
    for (const [name, g] of r.grads) assertClose(name, n.grads.get(name) as Float32Array, g, 1e-4);
    nat.dispose();
    ref.dispose();
  });
}

test("after optimizer updates the native pass sees the new weights (logits equal tfjs, steps agree)", async () => {
  await useBackend("wasm");
  const nat = new Policy(cfg, weights(cfg), true, { backend: "native" });
  const ref = new Policy(cfg, weights(cfg), true, { backend: "tfjs" });
  const optN = new Adam(DEFAULT_OPTIM, nat.params), optR = new Adam(DEFAULT_OPTIM, ref.params);
  for (let step = 0; step < 3; step++) {
    for (const [p, opt] of [[nat, optN], [ref, optR]] as const) {
      const { grads } = lossAndGrads(p);
      const named = new Map<string, tf.Tensor>([...grads].map(([k, v]) => [k, tf.tensor(v, p.p(k).shape)]));
      opt.step(named, 1e-3);
      tf.dispose([...named.values()]);
    }
  }
  const x = batch(2, 9, cfg.vocabSize, 7);
  const ln = tf.tidy(() => nat.forward(x.toks, 2, 9).dataSync() as Float32Array);
  const lr = tf.tidy(() => ref.forward(x.toks, 2, 9).dataSync() as Float32Array);
  assertClose("logits after 3 updates", ln, lr, 1e-3);
  // A frozen copy keeps the backend and the weights.
  const frozen = nat.frozenCopy();
  assert.equal(frozen.backend, "native");
  assertClose("frozen copy logits", tf.tidy(() => frozen.forward(x.toks, 2, 9).dataSync() as Float32Array), ln, 1e-6);
  for (const p of [nat, ref, frozen]) p.dispose();
  optN.dispose();
  optR.dispose();
});

test("captured hidden states and attention maps of the native pass equal the tfjs graph's", async () => {
  await useBackend("wasm");
  const nat = new Policy(cfg, weights(cfg), false, { backend: "native" });
  const ref = new Policy(cfg, weights(cfg), false, { backend: "tfjs" });
  const x = batch(3, 7, cfg.vocabSize, 9);
  const got: { hidden: tf.Tensor2D[]; attention: tf.Tensor3D[] }[] = [];
  for (const p of [nat, ref]) {
    const cap = { hidden: [] as tf.Tensor2D[], attention: [] as tf.Tensor3D[] };
    tf.tidy(() => p.forward(x.toks, 3, 7, cap));
    got.push(cap);
  }
  assert.equal(got[0].hidden.length, 1);
  assert.equal(got[0].attention.length, cfg.nLayers);
  assert.deepEqual(got[0].attention[0].shape, [3 * cfg.nHeads, 7, 7]);
  assertClose("hidden", got[0].hidden[0].dataSync() as Float32Array, got[1].hidden[0].dataSync() as Float32Array, 1e-4);
  for (let l = 0; l < cfg.nLayers; l++) assertClose(`attention ${l}`, got[0].attention[l].dataSync() as Float32Array, got[1].attention[l].dataSync() as Float32Array, 1e-4);
  for (const g of got) tf.dispose([...g.hidden, ...g.attention]);
  nat.dispose();
  ref.dispose();
});
