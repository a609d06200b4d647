/** Adam(W) against hand-derived updates: bias correction, clipping, weight decay, state round trip. */
import test from "node:test";
import assert from "node:assert/strict";
import { tf, useBackend } from "../../src/train/policy/tf.js";
import { Adam, DEFAULT_OPTIM } from "../../src/train/policy/optim.js";

function setup(values: number[][]): Map<string, tf.Variable> {
  return new Map(values.map((v, i) => [`p${i}`, tf.variable(tf.tensor(v, i === 0 ? [v.length] : [1, v.length]))]));
}

function grads(values: number[][]): Map<string, tf.Tensor> {
  return new Map(values.map((v, i) => [`p${i}`, tf.tensor(v, i === 0 ? [v.length] : [1, v.length])]));
}

test("two Adam steps equal the formula (bias-corrected), with the global norm returned before clipping", async () => {
  await useBackend("wasm");
  const params = setup([[1, -2], [0.5, 3]]);
  const c = { ...DEFAULT_OPTIM, gradClip: 0, weightDecay: 0 };
  const opt = new Adam(c, params);
  const g1 = [[0.3, -0.4], [0, 1.2]], g2 = [[-0.1, 0.2], [0.5, 0.5]];
  const n1 = opt.step(grads(g1), 0.01);
  assert.ok(Math.abs(n1 - Math.sqrt(0.09 + 0.16 + 1.44)) < 1e-6);
  opt.step(grads(g2), 0.02);
  const w0 = [[1, -2], [0.5, 3]];
  for (let p = 0; p < 2; p++) {
    const got = params.get(`p${p}`)?.dataSync() as Float32Array;
    for (let i = 0; i < 2; i++) {
      let w = w0[p][i], m = 0, v = 0;
      for (const [t, g, lr] of [[1, g1[p][i], 0.01], [2, g2[p][i], 0.02]]) {
        m = 0.9 * m + 0.1 * g;
        v = 0.999 * v + 0.001 * g * g;
        w -= lr * (m / (1 - 0.9 ** t)) / (Math.sqrt(v / (1 - 0.999 ** t)) + 1e-8);
      }
      assert.ok(Math.abs(got[i] - w) < 1e-6, `p${p}[${i}]: ${got[i]} vs ${w}`);
    }
  }
});

test("clipping scales the gradient to the clip norm; weight decay acts on matrices only", async () => {
  await useBackend("wasm");
  const params = setup([[1, 1], [1, 1]]);
  const opt = new Adam({ ...DEFAULT_OPTIM, gradClip: 1, weightDecay: 0.1 }, params);
  const norm = opt.step(grads([[3, 0], [0, 4]]), 0.1);
  assert.equal(norm, 5);
  // First step: m^ / sqrt(v^) = sign(g) (0 where g = 0), whatever the clip scale.
  const vec = params.get("p0")?.dataSync() as Float32Array, mat = params.get("p1")?.dataSync() as Float32Array;
  assert.ok(Math.abs(vec[0] - 0.9) < 1e-6 && Math.abs(vec[1] - 1) < 1e-6, `vector ${vec}`);
  assert.ok(Math.abs(mat[0] - (1 - 0.1 * 0.1)) < 1e-6 && Math.abs(mat[1] - (1 - 0.1 * (1 + 0.1))) < 1e-6, `matrix ${mat}`);
  const s = opt.state();
  assert.ok(Math.abs(s.m.get("p0")?.[0] as number - 0.1 * 3 / 5.000001) < 1e-6, "m holds the clipped gradient");
});

test("a loaded state continues exactly as the original optimizer; a NaN gradient is refused", async () => {
  await useBackend("wasm");
  const a = setup([[1, 2, 3], [4, 5, 6]]), b = setup([[1, 2, 3], [4, 5, 6]]);
  const oa = new Adam(DEFAULT_OPTIM, a), ob = new Adam(DEFAULT_OPTIM, b);
  oa.step(grads([[0.1, 0.2, 0.3], [1, -1, 0]]), 0.01);
  ob.step(grads([[0.1, 0.2, 0.3], [1, -1, 0]]), 0.01);
  const resumed = new Adam(DEFAULT_OPTIM, b);
  resumed.load(ob.state());
  oa.step(grads([[0.5, 0, -0.3], [2, 1, 1]]), 0.01);
  resumed.step(grads([[0.5, 0, -0.3], [2, 1, 1]]), 0.01);
  for (const k of ["p0", "p1"]) assert.deepEqual(a.get(k)?.dataSync(), b.get(k)?.dataSync());
  assert.equal(resumed.t, 2);
  assert.throws(() => oa.step(grads([[NaN, 0, 0], [0, 0, 0]]), 0.01), /gradient norm is NaN/);
});
