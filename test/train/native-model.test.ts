/** The hand-written native forward and backward compute what the tfjs reference model computes. */
import test from "node:test";
import assert from "node:assert/strict";
import { tf, useBackend } from "../../src/train/policy/tf.js";
import { Policy, initialWeights, type ModelConfig } from "../../src/train/policy/model.js";
import { NativeModel } from "../../src/train/native/model.js";
import { Rng } from "../../src/train/rng.js";

const base: ModelConfig = { vocabSize: 13, dModel: 16, nLayers: 2, nHeads: 2, dFF: 24, maxSeqLen: 16, tieEmbeddings: false, normEps: 1e-5, ropeTheta: 10000 };

/** Random weights well away from the init scale (norm gains too), so every path matters. */
function randomWeights(c: ModelConfig, seed: number): Map<string, Float32Array> {
  const w = initialWeights(c, seed);
  const rng = new Rng(seed + 100);
  for (const [k, v] of w) for (let i = 0; i < v.length; i++) v[i] = k.includes("norm") ? 1 + 0.5 * rng.normal() : 0.3 * rng.normal();
  return w;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function assertClose(name: string, got: ArrayLike<number>, want: ArrayLike<number>, rel: number): void {
  assert.equal(got.length, want.length, `${name}: length`);
  const scale = Math.max(1, maxAbs(want));
  for (let i = 0; i < want.length; i++) {
    assert.ok(Number.isFinite(got[i]), `${name}[${i}] is not finite`);
    assert.ok(Math.abs(got[i] - want[i]) <= rel * scale, `${name}[${i}]: native ${got[i]} vs tfjs ${want[i]}`);
  }
}

for (const [label, c, B, T] of [
  ["untied, B=3 T=9", base, 3, 9],
  ["tied, B=2 T=16 (full length)", { ...base, tieEmbeddings: true }, 2, 16],
  ["one layer, 4 heads, odd sizes", { ...base, nLayers: 1, nHeads: 4, dModel: 24, dFF: 20, vocabSize: 7 }, 5, 3],
] as [string, ModelConfig, number, number][]) {
  test(`native forward and gradients equal tfjs to 1e-4 (${label})`, async () => {
    await useBackend("cpu");
    const w = randomWeights(c, 7);
    const rng = new Rng(11);
    const tokens = Int32Array.from({ length: B * T }, () => Math.floor(rng.next() * c.vocabSize));
    const R = Float32Array.from({ length: B * T * c.vocabSize }, () => rng.normal());
    const ref = new Policy(c, w);
    const Rt = tf.tensor2d(R, [B * T, c.vocabSize]);
    const refLogits = tf.tidy(() => ref.forward(tokens, B, T).dataSync() as Float32Array);
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(ref.forward(tokens, B, T), Rt)) as tf.Scalar);
    const nm = new NativeModel(c);
    nm.setWeights(w);
    const logits = nm.forward(tokens, B, T);
    assertClose("logits", logits, refLogits, 1e-4);
    nm.backward(R);
    for (const [name, v] of ref.params) assertClose(name, nm.grad(name), grads[v.name].dataSync() as Float32Array, 1e-4);
    tf.dispose([value, Rt, ...Object.values(grads)]);
    ref.dispose();
  });
}

test("native forward is deterministic and rows do not see later positions (causal)", () => {
  const c = base;
  const nm = new NativeModel(c);
  nm.setWeights(randomWeights(c, 3));
  const a = Int32Array.from([1, 2, 3, 4, 5, 6]);
  const b = Int32Array.from([1, 2, 3, 9, 9, 9]);
  const la = Float32Array.from(nm.forward(a, 1, 6));
  const la2 = Float32Array.from(nm.forward(a, 1, 6));
  assert.deepEqual(la, la2);
  const lb = Float32Array.from(nm.forward(b, 1, 6));
  const V = c.vocabSize;
  assert.deepEqual(la.subarray(0, 3 * V), lb.subarray(0, 3 * V));
  assert.notDeepEqual(la.subarray(3 * V), lb.subarray(3 * V));
});

test("re-used buffers hold no stale values: after a larger batch, a smaller one equals a fresh model's, bit for bit", () => {
  const c = base;
  const w = randomWeights(c, 5);
  const rng = new Rng(6);
  const toks = (n: number) => Int32Array.from({ length: n }, () => Math.floor(rng.next() * c.vocabSize));
  const big = toks(4 * 12), small = toks(3 * 5);
  const R = Float32Array.from({ length: 3 * 5 * c.vocabSize }, () => rng.normal());
  const Rbig = Float32Array.from({ length: 4 * 12 * c.vocabSize }, () => rng.normal() * 100);
  const used = new NativeModel(c), fresh = new NativeModel(c);
  used.setWeights(w);
  fresh.setWeights(w);
  used.forward(big, 4, 12);
  used.backward(Rbig);
  const a = Float32Array.from(used.forward(small, 3, 5));
  used.backward(R);
  const b = Float32Array.from(fresh.forward(small, 3, 5));
  fresh.backward(R);
  assert.deepEqual(a, b);
  assert.deepEqual(Float32Array.from(used.grads.a), Float32Array.from(fresh.grads.a));
});
