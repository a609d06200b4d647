/** Loss values against hand-computed cases and gradients against finite differences. */
import test from "node:test";
import assert from "node:assert/strict";
import { tf, useBackend } from "../../src/train/policy/tf.js";
import { aggLoss, cispoLoss, geoMeanLoss, gspoLoss, klPenalty, ppoClipLoss, weightLoss, type AggMode } from "../../src/train/losses.js";

const t2 = (rows: number[][]) => tf.tensor2d(rows);
const val = (x: tf.Tensor) => Array.from(x.dataSync());
const near = (a: number[], e: number[], tol = 1e-5) => {
  assert.equal(a.length, e.length);
  for (let k = 0; k < e.length; k++) assert.ok(Math.abs(a[k] - e[k]) <= tol * Math.max(1, Math.abs(e[k])), `[${k}] ${a[k]} vs ${e[k]} (${a} vs ${e})`);
};

test.before(async () => useBackend("wasm"));

test("PPO clip with separate low/high ranges and dual clip", () => {
  tf.tidy(() => {
    const old = t2([[0, 0, 0, 0, 0]]);
    const logp = t2([[Math.log(1.5), Math.log(0.5), Math.log(1.5), Math.log(0.5), Math.log(5)]]);
    const adv = t2([[1, 1, -1, -1, -1]]);
    const l = ppoClipLoss(logp, old, adv, { epsLow: 0.2, epsHigh: 0.28, clipC: null });
    // r=1.5,A=1: max(-1.5,-1.28)=-1.28; r=.5,A=1: max(-.5,-.8)=-.5; r=1.5,A=-1: max(1.5,1.28)=1.5;
    // r=.5,A=-1: max(.5,.8)=.8; r=5,A=-1: max(5,1.28)=5
    near(val(l), [-1.28, -0.5, 1.5, 0.8, 5]);
    const d = ppoClipLoss(logp, old, adv, { epsLow: 0.2, epsHigh: 0.28, clipC: 3 });
    near(val(d), [-1.28, -0.5, 1.5, 0.8, 3]);
  });
});

test("aggregation modes follow verl agg_loss; weights scale and weight 0 leaves the denominators", () => {
  tf.tidy(() => {
    const L = t2([[1, 2, 3, 0], [4, 0, 0, 0], [5, 6, 0, 0]]);
    const m = t2([[1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]]);
    const expect: Record<AggMode, number> = {
      "token-mean": 10 / 4,
      "token-sum": 10,
      "seq-mean-token-sum": (6 + 4) / 2,
      "seq-mean-token-mean": (2 + 4) / 2,
      "seq-mean-token-sum-norm": (6 + 4) / 2 / 4,
    };
    for (const [mode, e] of Object.entries(expect)) near(val(aggLoss(L, m, mode as AggMode)), [e], 1e-6);
    near(val(aggLoss(L, m, "seq-mean-token-sum-norm", 10)), [0.5]);
    near(val(aggLoss(L, tf.zerosLike(m) as tf.Tensor2D, "token-mean")), [0]);
    const w = weightLoss(L, m, t2([[2, 0, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]]));
    near(val(aggLoss(w.loss, w.mask, "token-mean")), [(2 + 3 + 4) / 3]);
  });
});

test("CISPO, GSPO, geometric-mean and KL values", () => {
  tf.tidy(() => {
    const old = t2([[0, 0, 0]]);
    const logp = t2([[Math.log(2), Math.log(0.5), Math.log(1.1)]]);
    const adv = t2([[1, 1, -2]]);
    const o = { epsLow: 0.2, epsHigh: 0.2, clipC: null };
    near(val(cispoLoss(logp, old, adv, o)), [-1.2 * Math.log(2), -0.8 * Math.log(0.5), 2 * 1.1 * Math.log(1.1)]);
    // GSPO: s = exp(mean(log r)) = (2*0.5*1.1)^(1/3) for every token.
    const s = Math.pow(1.1, 1 / 3);
    const m = t2([[1, 1, 1]]);
    near(val(gspoLoss(logp, old, adv, m, o)), [-s, -s, 2 * Math.min(s, 1.2) > 2 * s ? 2 * 1.2 : 2 * s]);
    // GMPO (one segment): log-ratio clipped sign-aware to [-0.2, 0.2] then meaned; A_seq = mean A = 0.
    const seg = Int32Array.from([0, 0, 0]);
    near(val(geoMeanLoss(logp, old, t2([[1, 1, 1]]), m, seg, 1, 0.2, 0.2)), [-Math.exp((0.2 + Math.log(0.5) + Math.log(1.1)) / 3)]);
    // Two segments: {0,1} with A=1 and {2} with A=-2 (for A<0 the min is taken on -d, so large ratios are kept).
    const seg2 = Int32Array.from([0, 0, 1]);
    const e0 = -1 * Math.exp((0.2 + Math.log(0.5)) / 2);
    const e1 = 2 * Math.exp(Math.log(1.1));
    near(val(geoMeanLoss(logp, old, t2([[1, 1, -2]]), m, seg2, 2, 0.2, 0.2)), [(e0 + e1) / 2]);
    const ref = t2([[0, 0, 0]]);
    const d = [Math.log(2), Math.log(0.5), Math.log(1.1)];
    near(val(klPenalty(logp, ref, "k1")), d);
    near(val(klPenalty(logp, ref, "abs")), d.map(Math.abs));
    near(val(klPenalty(logp, ref, "k2")), d.map((x) => 0.5 * x * x));
    near(val(klPenalty(logp, ref, "k3")), d.map((x) => Math.exp(-x) + x - 1));
  });
});

test("loss gradients match finite differences", () => {
  const base = [[-1.2, -0.3, -2.0, -0.7], [-0.5, -1.5, -0.9, -0.2]];
  const old = [[-1.0, -0.5, -1.9, -0.9], [-0.6, -1.2, -1.0, -0.25]];
  const adv = [[1.0, 1.0, 1.0, 0], [-0.5, -0.5, -0.5, -0.5]];
  const mask = [[1, 1, 1, 0], [1, 1, 1, 1]];
  const o = { epsLow: 0.2, epsHigh: 0.28, clipC: 3 };
  const seg = Int32Array.from([0, 0, 1, -1, 2, 2, 2, 2]);
  const fns: Record<string, (lp: tf.Tensor2D) => tf.Scalar> = {
    ppo: (lp) => aggLoss(ppoClipLoss(lp, t2(old), t2(adv), o), t2(mask), "token-mean"),
    "ppo seq-mean-token-mean": (lp) => aggLoss(ppoClipLoss(lp, t2(old), t2(adv), o), t2(mask), "seq-mean-token-mean"),
    gspo: (lp) => aggLoss(gspoLoss(lp, t2(old), t2(adv), t2(mask), o), t2(mask), "seq-mean-token-mean"),
    geo: (lp) => geoMeanLoss(lp, t2(old), t2(adv), t2(mask), seg, 3, 0.2, 0.28),
    k3: (lp) => aggLoss(klPenalty(lp, t2(old), "k3"), t2(mask), "token-sum"),
  };
  for (const [name, f] of Object.entries(fns)) {
    const g = tf.tidy(() => val(tf.grad((x: tf.Tensor) => f(x as tf.Tensor2D))(t2(base))));
    const h = 1e-2;
    for (let k = 0; k < 8; k++) {
      const at = (delta: number) => tf.tidy(() => {
        const b = base.map((r) => r.slice());
        b[Math.floor(k / 4)][k % 4] += delta;
        return val(f(t2(b)))[0];
      });
      const fd = (at(h) - at(-h)) / (2 * h);
      assert.ok(Math.abs(fd - g[k]) < 2e-3 + 2e-2 * Math.abs(fd), `${name} d/dlogp[${k}]: analytic ${g[k]} vs fd ${fd}`);
    }
  }
  // CISPO stops the gradient through its clipped weight, so finite differences do not apply:
  // d/dlogp = -clip(r) A / N on counted tokens.
  const gc = tf.tidy(() => val(tf.grad((x: tf.Tensor) => aggLoss(cispoLoss(x as tf.Tensor2D, t2(old), t2(adv), o), t2(mask), "token-mean"))(t2(base))));
  for (let k = 0; k < 8; k++) {
    const i = Math.floor(k / 4), j = k % 4;
    const r = Math.min(Math.max(Math.exp(base[i][j] - old[i][j]), 0.8), 1.28);
    near([gc[k]], [(-r * adv[i][j] * mask[i][j]) / 7]);
  }
});

test("the policy-loss registry offers every configurable loss under its own name", async () => {
  const { POLICY_LOSS_REGISTRY, POLICY_LOSSES } = await import("../../src/train/losses.js");
  assert.deepEqual(Object.keys(POLICY_LOSS_REGISTRY).sort(), [...POLICY_LOSSES].sort());
  for (const [k, spec] of Object.entries(POLICY_LOSS_REGISTRY)) assert.equal(spec.name, k);
});
