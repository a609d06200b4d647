import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { dpoLoss, ipoLoss } from "../../src/preference/dpo.js";
import { tdpoLoss } from "../../src/preference/tdpo.js";
import { tgdpoLoss, tgdpoTokenFactors } from "../../src/preference/tgdpo.js";
import { cdpoLoss, criticalTokenScores, criticalTokenWeights } from "../../src/preference/cdpo.js";
import { tregLoss, tregTokenRewards } from "../../src/preference/treg.js";
import { logSigmoid, sigmoid } from "../../src/preference/common.js";
import { assertClose } from "../helpers.js";
import { checkGrad, f64, logs } from "./fd.js";

const zeros = (n: number) => new Float64Array(n);

test("sigmoid and logSigmoid are finite and exact at large |x|", () => {
  assert.equal(logSigmoid(-1000), -1000);
  assert.equal(logSigmoid(1000), -0);
  assert.equal(sigmoid(-1000), 0);
  assertClose([sigmoid(0.3) + sigmoid(-0.3)], [1], 1e-15, 0);
});

// methods.md Part 3 section 1(d): one response token each, vocabulary of 2, beta 0.1, alpha 0.5.
const tdpoChosen = { policy: logs([0.5, 0.5]), ref: logs([0.25, 0.75]), tokens: Int32Array.of(0) };
const tdpoRejected = { policy: logs([0.8, 0.2]), ref: logs([0.5, 0.5]), tokens: Int32Array.of(1) };

test("TDPO1 and TDPO2: worked example (Part 3 section 1d)", () => {
  const t1 = tdpoLoss(tdpoChosen, tdpoRejected, 2, { variant: "tdpo1", beta: 0.1 });
  assertClose([t1.mChosen, t1.mRejected, t1.klChosen, t1.klRejected], [0.693147, -0.916291, 0.130812, 0.223144], 1e-6, 0);
  assertClose([t1.u, t1.loss], [1.517106, 0.620166], 1e-6, 0);
  const t2 = tdpoLoss(tdpoChosen, tdpoRejected, 2, { variant: "tdpo2", beta: 0.1, alpha: 0.5 });
  assertClose([t2.u, t2.loss], [1.563272, 0.618035], 1e-6, 0);
  assertClose([t1.rewardChosen, t1.rewardRejected], [0.082396, -0.069315], 1e-6, 0);
});

test("DPO baseline on the TDPO and TGDPO inputs (Part 3 sections 1d, 2d)", () => {
  const c = { policy: f64([Math.log(0.5)]), ref: f64([Math.log(0.25)]) };
  const r = { policy: f64([Math.log(0.2)]), ref: f64([Math.log(0.5)]) };
  const d = dpoLoss(c, r, { beta: 0.1 });
  assertClose([d.loss], [0.61591], 1e-6, 0);
  const tg = dpoLoss({ policy: f64([-1, -2]), ref: f64([-1.5, -1.8]) }, { policy: f64([-2, -1]), ref: f64([-1.6, -1.2]) }, { beta: 0.1 });
  assertClose([tg.loss, 0.1 * tg.margin], [0.66846, 0.05], 1e-6, 0);
});

test("TDPO gradients w.r.t. policy logits match finite differences (both variants, V = 5, T = 3)", () => {
  const V = 5;
  const rnd = (k: number) => Math.sin(k * 12.9898) * 2;
  const mk = (seed: number, T: number) => ({
    policy: Float64Array.from({ length: T * V }, (_, k) => rnd(k + seed)),
    ref: Float64Array.from({ length: T * V }, (_, k) => rnd(k + seed + 100)),
    tokens: Int32Array.from({ length: T }, (_, t) => (t * 3 + seed) % V),
  });
  const c = mk(1, 3), r = mk(7, 2);
  for (const variant of ["tdpo1", "tdpo2"] as const) {
    const o = { variant, beta: 0.5, alpha: 0.5 };
    const res = tdpoLoss(c, r, V, o);
    if (variant === "tdpo1") checkGrad("tdpo1 chosen", (x) => tdpoLoss({ ...c, policy: x }, r, V, o).loss, c.policy, res.chosen);
    checkGrad(`${variant} rejected`, (x) => tdpoLoss(c, { ...r, policy: x }, V, o).loss, r.policy, res.rejected);
  }
  // TDPO2's chosen gradient drops d K_w (stop-gradient): it equals the TDPO1-style gradient of the m term only.
  const o2 = { variant: "tdpo2" as const, beta: 0.5, alpha: 0.5 };
  const res2 = tdpoLoss(c, r, V, o2);
  const fixedK = res2.klChosen;
  checkGrad("tdpo2 chosen (K_w frozen)", (x) => {
    const t = tdpoLoss({ ...c, policy: x }, r, V, o2);
    const u = t.mChosen - t.mRejected - 0.5 * (t.klRejected - fixedK);
    return -logSigmoid(0.5 * u);
  }, c.policy, res2.chosen);
});

test("TDPO: an underflowed reference probability contributes 0 to the KL, never NaN", () => {
  const c = { policy: f64([0, 0]), ref: f64([0, -2000]), tokens: Int32Array.of(0) };
  const r = { policy: f64([0, 1]), ref: f64([0, 0]), tokens: Int32Array.of(1) };
  const res = tdpoLoss(c, r, 2, { variant: "tdpo1", beta: 0.1 });
  assert.ok(Number.isFinite(res.loss) && Number.isFinite(res.klChosen));
  assert.throws(() => tdpoLoss({ ...c, policy: f64([NaN, 0]) }, r, 2, { variant: "tdpo1", beta: 0.1 }), /chosen policy logits\[0\] is not a finite number/);
});

const tgChosen = { policy: f64([-1, -2]), ref: f64([-1.5, -1.8]), rm: f64([-0.5, -2.0]) };
const tgRejected = { policy: f64([-2, -1]), ref: f64([-1.6, -1.2]), rm: f64([-2.6, -1.0]) };

test("TGDPO: worked example (Part 3 section 2d) and its per-token factors", () => {
  const res = tgdpoLoss(tgChosen, tgRejected, { beta: 0.1, alpha: 0.5 });
  assertClose([res.z, res.loss], [0.0549, 0.666074], 1e-6, 0);
  assertClose(tgdpoTokenFactors(tgChosen.rm, tgChosen.ref, "chosen", 0.1, 0.5), [1.05, 0.99], 1e-12, 0);
  assertClose(tgdpoTokenFactors(tgRejected.rm, tgRejected.ref, "rejected", 0.1, 0.5), [1.05, 0.99], 1e-12, 0);
  checkGrad("tgdpo chosen", (x) => tgdpoLoss({ ...tgChosen, policy: x }, tgRejected, { beta: 0.1, alpha: 0.5 }).loss, tgChosen.policy, res.chosen);
  checkGrad("tgdpo rejected", (x) => tgdpoLoss(tgChosen, { ...tgRejected, policy: x }, { beta: 0.1, alpha: 0.5 }).loss, tgRejected.policy, res.rejected);
});

test("TGDPO with alpha 0 is DPO (property)", () => {
  const arr = (n: number) => fc.float64Array({ minLength: n, maxLength: n, min: -5, max: 0, noNaN: true });
  fc.assert(fc.property(fc.integer({ min: 1, max: 4 }).chain((n) => fc.tuple(arr(n), arr(n), arr(n), arr(n), arr(n), arr(n))), ([a, b, c, d, e, g]) => {
    const t = tgdpoLoss({ policy: a, ref: b, rm: c }, { policy: d, ref: e, rm: g }, { beta: 0.2, alpha: 0 });
    const p = dpoLoss({ policy: a, ref: b }, { policy: d, ref: e }, { beta: 0.2 });
    assertClose([t.loss], [p.loss], 1e-12, 1e-12);
    assertClose(t.chosen, p.chosen, 1e-12, 1e-12);
  }), { numRuns: 50 });
});

test("cDPO: critical-token score (Part 3 section 3d)", () => {
  const s = criticalTokenScores(f64([2, 1, 0]), f64([1, 1, 1]), [2], 3);
  assertClose(s, [0.015876], 1e-6, 0);
  assertClose(criticalTokenWeights(s, "rejected"), [0.984124], 1e-6, 0);
  const all = [0, 1, 2].map((y) => criticalTokenScores(f64([2, 1, 0]), f64([1, 1, 1]), [y], 3)[0]);
  assertClose(all, [0.866813, 0.11731, 0.015876], 1e-6, 0);
});

test("cDPO: both aggregations on the worked example (Part 3 section 3d)", () => {
  const wl = criticalTokenWeights(f64([0.9, 0.1, 0]), "rejected", true);
  assertClose(wl, [0.1, 0.9, 1], 1e-12, 0);
  const chosen = { policy: f64([0.2, -0.1, 0.3]), ref: zeros(3), weights: f64([1, 1, 1]) };
  const rejected = { policy: f64([0.1, 0.4, -0.2]), ref: zeros(3), weights: wl };
  const pos = cdpoLoss(chosen, rejected, { beta: 0.1, aggregation: "position" });
  assertClose([pos.loss], [0.689521], 1e-6, 0);
  const seq = cdpoLoss(chosen, rejected, { beta: 0.1, aggregation: "sequence" });
  assertClose([seq.loss], [0.681713], 1e-6, 0);
  for (const aggregation of ["position", "sequence"] as const) {
    for (const weightChosen of [false, true]) {
      const o = { beta: 0.7, aggregation, weightChosen, labelSmoothing: 0.1 };
      const c2 = { policy: f64([0.2, -0.1, 0.3, 0.5]), ref: f64([0.1, 0, 0, -0.2]), weights: f64([0.3, 0.5, 0.9, 1]) };
      const res = cdpoLoss(c2, rejected, o);
      checkGrad(`cdpo ${aggregation} chosen`, (x) => cdpoLoss({ ...c2, policy: x }, rejected, o).loss, c2.policy, res.chosen);
      checkGrad(`cdpo ${aggregation} rejected`, (x) => cdpoLoss(c2, { ...rejected, policy: x }, o).loss, rejected.policy, res.rejected);
    }
  }
});

const tregChosen = { policy: f64([-0.5, -1.2, -0.3]), ref: f64([-0.6, -1.0, -0.5]), better: f64([-0.4, -2.0, -0.2]), worse: f64([-0.9, -1.0, -0.3]) };
const tregRejected = { policy: f64([-0.8, -0.4]), ref: f64([-0.9, -0.6]), better: f64([-1.5, -0.5]), worse: f64([-0.5, -0.6]) };

test("T-REG: worked example (methods-part4.md section 2d)", () => {
  const res = tregLoss(tregChosen, tregRejected, { beta: 0.1, alpha: 0.25 });
  assertClose(res.rewardsChosen, [0.122459, -0.231059, 0.024979], 1e-6, 0);
  assertClose(res.rewardsRejected, [-0.231059, 0.024979], 1e-6, 0);
  assertClose([res.weight, res.dpo, res.regChosen, res.regRejected, res.loss], [0.504999833, 0.70319718, -0.020854687, -0.017485519, 0.69835673], 1e-9, 0);
  assertClose(res.chosen, [-0.052046, -0.047583, -0.050815], 1e-6, 0);
  assertClose(res.rejected, [0.053417, 0.050185], 1e-6, 0);
  // Closed form: -beta w (1 + alpha r) on chosen, +beta w (1 - alpha r) on rejected.
  assertClose(res.chosen, Array.from(res.rewardsChosen, (r) => -0.1 * res.weight * (1 + 0.25 * r)), 1e-12, 0);
  assertClose(res.rejected, Array.from(res.rewardsRejected, (r) => 0.1 * res.weight * (1 - 0.25 * r)), 1e-12, 0);
  // Finite differences with w frozen (a detached weight, [PROPOSAL]).
  const frozen = (c: typeof tregChosen, r: typeof tregRejected) => {
    const t = tregLoss(c, r, { beta: 0.1, alpha: 0.25 });
    return t.dpo + 0.25 * res.weight * (t.regChosen + t.regRejected);
  };
  checkGrad("treg chosen", (x) => frozen({ ...tregChosen, policy: x }, tregRejected), tregChosen.policy, res.chosen);
  checkGrad("treg rejected", (x) => frozen(tregChosen, { ...tregRejected, policy: x }), tregRejected.policy, res.rejected);
  assertClose(tregTokenRewards([0], [0]), [0], 0, 0);
});

test("IPO: hand-derived value and finite-difference gradients, mean and sum forms", () => {
  const c = { policy: f64([-1, -2]), ref: f64([-1.5, -1.8]) };
  const r = { policy: f64([-2, -1, -0.5]), ref: f64([-1.6, -1.2, -0.4]) };
  // mean: h = 0.3/2 - (-0.3)/3 = 0.25; beta 0.5 -> (0.25 - 1)^2 = 0.5625
  const m = ipoLoss(c, r, { beta: 0.5 });
  assertClose([m.margin, m.loss], [0.25, 0.5625], 1e-12, 0);
  const s = ipoLoss(c, r, { beta: 0.5, average: false });
  assertClose([s.margin, s.loss], [0.6, 0.16], 1e-12, 0);
  for (const average of [true, false]) {
    const res = ipoLoss(c, r, { beta: 0.5, average });
    checkGrad("ipo chosen", (x) => ipoLoss({ ...c, policy: x }, r, { beta: 0.5, average }).loss, c.policy, res.chosen);
    checkGrad("ipo rejected", (x) => ipoLoss(c, { ...r, policy: x }, { beta: 0.5, average }).loss, r.policy, res.rejected);
  }
  const d = dpoLoss(c, r, { beta: 0.5, labelSmoothing: 0.2 });
  checkGrad("dpo (label smoothing) chosen", (x) => dpoLoss({ ...c, policy: x }, r, { beta: 0.5, labelSmoothing: 0.2 }).loss, c.policy, d.chosen);
  assert.throws(() => dpoLoss({ policy: f64([Infinity]), ref: f64([0]) }, r, { beta: 0.1 }), /chosen policy log-probs\[0\] is not a finite number/);
});
