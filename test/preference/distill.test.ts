import { test } from "node:test";
import assert from "node:assert/strict";
import { alignDistilCoefficients, alignDistilLoss } from "../../src/preference/aligndistil.js";
import { introCandidates, introLoss } from "../../src/preference/intro.js";
import { interventionGuidedAttempt, interventionLeaksAnswer, interventionSftLoss } from "../../src/preference/int.js";
import { promptAttention, ssTokenGamma, ssTokenLoss, ssTokenScores, ssTokenSelect } from "../../src/preference/sstoken.js";
import { rmtAdvantages, rmtBudget, rmtCurriculum, rmtLengthReward, rmtLoss } from "../../src/preference/rmt.js";
import { selfRewardLossWithGrad } from "../../src/preference/laser.js";
import { logSoftmaxRows } from "../../src/preference/common.js";
import { mulberry32 } from "../../src/core/random.js";
import { assertClose } from "../helpers.js";
import { checkGrad, f64 } from "./fd.js";

// methods-part4.md section 1(d): two positions, vocabulary of 4.
const zStu = f64([1.0, 0.5, -0.5, 0.0, 0.2, 0.1, 0.0, -0.3]);
const zDpo = f64([2.0, 0.0, -1.0, 0.5, 0.0, 1.0, 0.5, -1.0]);
const zRdpo = f64([1.9, 0.1, -0.9, 0.5, 0.05, 0.9, 0.55, -0.95]);
const zRef = f64([1.8, 0.2, -0.8, 0.4, 0.1, 0.5, 0.5, -0.9]);

test("AlignDistil: worked example (methods-part4.md section 1d)", () => {
  const o = { beta: 0.1, tvdScale: 10 };
  const res = alignDistilLoss(zStu, zDpo, zRdpo, 4, [1, 1], o);
  assertClose(res.alpha, [0.622555, 0.744675], 1e-6, 0);
  assertClose(res.coef, [0.160628, 0.134287], 1e-6, 0);
  assertClose(Array.from(res.teacherLogprobs, Math.exp), [0.728272, 0.087022, 0.032014, 0.152692, 0.165122, 0.501893, 0.27224, 0.060745], 1e-6, 0);
  assertClose(res.perToken, [0.038099, 0.025219], 1e-6, 0);
  assertClose([res.loss], [0.031659], 1e-6, 0);
  assertClose([alignDistilLoss(zStu, zDpo, zRdpo, 4, null, { ...o, lengthNorm: false }).loss], [0.063317], 1e-6, 0);
  // The spec's gradient is of l_t (sum form), per position.
  const sum = alignDistilLoss(zStu, zDpo, zRdpo, 4, null, { ...o, lengthNorm: false });
  assertClose(sum.grad, [-0.05171, 0.040657, 0.014957, -0.003904, 0.016544, -0.029242, -0.009566, 0.022264], 1e-6, 0);
  checkGrad("aligndistil", (x) => alignDistilLoss(x, zDpo, zRdpo, 4, [1, 1], o).loss, zStu.slice(), res.grad);
  // alpha_t = tvdScale * sum |p_dpo - p_rdpo| + 1e-3 with the spec's tvd.
  assertClose(alignDistilCoefficients(zDpo, zRdpo, 4, 1), [0.062155 + 1e-3, 0.074368 + 1e-3], 1e-6, 0);
});

test("AlignDistil: the code's other modes on the same inputs (section 1d)", () => {
  const t1 = alignDistilLoss(zStu, zDpo, zRef, 4, null, { mode: "theorem1", beta: 0.1, tvdScale: 10 });
  assertClose(t1.perToken, [1.162385, 0.757482], 1e-6, 0);
  const t1c = alignDistilLoss(zStu, zDpo, zRdpo, 4, null, { mode: "theorem1_contrast", beta: 0.1, tvdScale: 10 });
  assertClose(t1c.perToken, [2.055258, 1.639501], 1e-6, 0);
  const t1a = alignDistilLoss(zStu, zDpo, zRef, 4, null, { mode: "theorem1_adaptive", beta: 0.1, tvdScale: 10 });
  assertClose(t1a.alpha, [1.069013, 2.624263], 1e-6, 0);
  assertClose(t1a.perToken, [0.019824, 0.01771], 1e-6, 0);
  for (const mode of ["theorem1", "theorem1_contrast", "theorem1_adaptive"] as const) {
    const o = { mode, beta: 0.1, tvdScale: 10, temperature: 1.5 };
    const res = alignDistilLoss(zStu, zDpo, zRef, 4, [1, 0], o);
    assert.equal(res.grad[5], 0, "a masked position has no gradient");
    checkGrad(mode, (x) => alignDistilLoss(x, zDpo, zRef, 4, [1, 0], o).loss, zStu.slice(), res.grad);
  }
});

test("InTRO: worked example, clipping and gradient (methods-part4.md section 3d)", () => {
  const lpPol = f64([-0.2, -2.0, -3.0, -0.7, -1.1, -6.0]);
  const lpPost = f64([-0.1, -2.5, -1.0, -0.9, -0.8, -0.5]);
  const res = introLoss(lpPol, lpPost, 3);
  assertClose(res.weights, [1.105171, 0.606531, 7.389056, 0.818731, 1.349859, 200], 1e-6, 0);
  assertClose([res.loss], [204.276537], 1e-6, 0);
  assertClose(res.grad, [-0.184195, -0.101088, -1.231509, -0.136455, -0.224976, -33.333333], 1e-6, 0);
  assertClose([introLoss(lpPol, lpPost, 3, { clipMax: Infinity }).weights[5]], [244.691932], 1e-6, 0);
  // w detached: d loss/d lp_pol is -w/(T n) holding w fixed.
  checkGrad("intro", (x) => { let j = 0; for (let k = 0; k < 6; k++) j += res.weights[k] * x[k]; return -j / 6; }, lpPol.slice(), res.grad);
  assert.throws(() => introLoss(lpPol, lpPost, 4), /not a multiple of n = 4/);
});

test("InTRO candidates: own token first, then seeded draws that follow the policy", () => {
  const rng = mulberry32(7);
  const logits = [Math.log(0.7), Math.log(0.2), Math.log(0.1)];
  const counts = [0, 0, 0];
  for (let r = 0; r < 4000; r++) {
    const c = introCandidates(logits, 2, 5, rng);
    assert.equal(c[0], 2);
    for (let i = 1; i < 5; i++) counts[c[i]]++;
  }
  assertClose(counts.map((c) => c / 16000), [0.7, 0.2, 0.1], 0.02, 0);
  assert.deepEqual(Array.from(introCandidates(logits, 1, 4, mulberry32(3))), Array.from(introCandidates(logits, 1, 4, mulberry32(3))));
});

test("InT: guided attempts, leak filter and SFT loss (methods-part4.md section 4d)", () => {
  const attempt = "Step A\n\nStep B\n\nStep C (wrong)\n\nStep D";
  const content = "Try X.\nThen Y.";
  assert.equal(interventionGuidedAttempt(attempt, content, 3), "Step A\n\nStep B\n\nTry X.\n\nThen Y.");
  assert.equal(interventionGuidedAttempt(attempt, content, 1), "Try X.\n\nThen Y.");
  assert.equal(interventionGuidedAttempt(attempt, "Try X.", 5, { legacy: true }), "Step A\n\nStep B\n\nStep C (wrong)\n\nStep D\n\nTry X.");
  // Default: clamp to the last step, so the erroneous step never survives.
  assert.equal(interventionGuidedAttempt(attempt, "Try X.", 5), "Step A\n\nStep B\n\nStep C (wrong)\n\nTry X.");
  assert.equal(interventionLeaksAnswer("so the answer is 42", "42"), true);
  assert.equal(interventionLeaksAnswer("so it is 7", "42"), false);
  const lp = f64([-0.3, -0.5, -1.0, -0.2, -2.0]);
  const res = interventionSftLoss(lp, [0, 1, 1, 1, 1]);
  assertClose([res.loss], [0.925], 1e-12, 0);
  checkGrad("int sft", (x) => interventionSftLoss(x, [0, 1, 1, 1, 1]).loss, lp.slice(), res.grad);
});

// methods-part4.md section 5(d): P = 3, R = 5.
const cur = f64([1.2, 0.3, 2.0, 0.9, 0.05]);
const his = f64([1.5, 0.35, 2.6, 0.8, 0.9]);
const attnRows = f64([
  0.3, 0.2, 0.1, 0.4, 0, 0, 0, 0,
  0.3, 0.2, 0.15, 0.15, 0.2, 0, 0, 0,
  0.25, 0.25, 0.2, 0.1, 0.1, 0.1, 0, 0,
  0.05, 0.05, 0.05, 0.2, 0.2, 0.2, 0.25, 0,
  0.1, 0.1, 0.1, 0.2, 0.1, 0.1, 0.15, 0.15,
]);

test("ssToken: scores, selection and loss (methods-part4.md section 5d)", () => {
  const attn = promptAttention(attnRows, 8, 3);
  assertClose(attn, [0.6, 0.65, 0.7, 0.15, 0.3], 1e-12, 0);
  assertClose(ssTokenScores(cur, his, attn, 0.5), [0.510526, 0.403947, 0.718421, 0.075, 0.65], 1e-6, 0);
  assertClose(ssTokenScores(cur, his, attn, 1), [0.421053, 0.157895, 0.736842, 0, 1], 1e-6, 0);
  const lp = cur.map((x) => -x);
  const cases: [number, number, number[], number | null][] = [
    [0.5, 0.6, [1, 0, 1, 0, 1], 1.083333],
    [0, 0.6, [1, 1, 1, 0, 0], 1.166667],
    [1, 0.6, [1, 0, 1, 0, 1], null],
    [0.5, 0.8, [1, 1, 1, 0, 1], 0.8875],
  ];
  for (const [gamma, rho, keep, loss] of cases) {
    const res = ssTokenLoss(lp, his, attn, { gamma, rho });
    assert.deepEqual(Array.from(res.keep), keep, `gamma ${gamma} rho ${rho}`);
    if (loss !== null) assertClose([res.loss], [loss], 1e-6, 0);
    checkGrad("sstoken", (x) => { let s = 0; for (let i = 0; i < 5; i++) if (res.keep[i]) s -= x[i]; return s / keep.filter(Boolean).length; }, lp.slice(), res.grad);
  }
  assert.deepEqual(Array.from(ssTokenSelect(f64([0.5, 0.5, 0.5]), 0.5)), [1, 1, 0], "ties go to the lower index");
  assert.equal(ssTokenGamma(9999, 0.5), 0);
  assert.equal(ssTokenGamma(10000, 0.5), 0.5);
});

test("RMT: budget, length reward, curriculum, GRPO advantages and NTP (methods-part4.md section 6d)", () => {
  assert.deepEqual([0, 250, 500, 1000].map((t) => rmtBudget(t, 1000)), [800, 534, 357, 160]);
  assertClose([0, 100, 160, 200, 320, 400].map((l) => rmtLengthReward(l, 160)), [0, 0.625, 1, 0.75, 0, 0], 1e-12, 0);
  const expect: Record<number, number[]> = { 0: [0.6, 0.3, 0.1], 300: [0.6, 0.3, 0.1], 500: [0.35, 0.3, 0.35], 700: [0.1, 0.3, 0.6], 1000: [0.1, 0.3, 0.6] };
  for (const [t, p] of Object.entries(expect)) assertClose(rmtCurriculum(Number(t), 1000, [0.6, 0.3, 0.1], [0.1, 0.3, 0.6]), p, 1e-12, 0);
  const unb = rmtAdvantages([1, 0, 1, 0], [150, 400, 250, 100], 160);
  assertClose(unb.rewards, [0.9875, 0, 0.8875, 0.125], 1e-12, 0);
  assertClose(unb.advantages, [0.957023, -0.981562, 0.760711, -0.736172], 1e-6, 0);
  assertClose(rmtAdvantages([1, 0, 1, 0], [150, 400, 250, 100], 160, { std: "population" }).advantages, [1.105075, -1.13341, 0.878393, -0.850058], 1e-6, 0);
  const tok = f64([-0.1, -0.2, -3.0, -0.05, -0.3, -2.5, -0.01, -0.4]);
  const sel = [0, 0, 1, 0, 0, 1, 0, 0];
  const none = new Float64Array(0);
  assertClose([rmtLoss(none, none, tok, sel, { ntp: "sum" }).loss], [0.106], 1e-12, 0);
  assertClose([rmtLoss(none, none, tok, sel).loss], [0.0176667], 1e-7, 0);
  const roll = f64([-3, -5, -2, -4]);
  const res = rmtLoss(roll, unb.advantages, tok, sel, { ntp: "sum" });
  checkGrad("rmt rollouts", (x) => rmtLoss(x, unb.advantages, tok, sel, { ntp: "sum" }).loss, roll.slice(), res.gradRollouts);
  checkGrad("rmt tokens", (x) => rmtLoss(roll, unb.advantages, x, sel, { ntp: "sum" }).loss, tok.slice(), res.gradTokens);
});

test("LaSeR self-reward loss and gradient (Part 3 section 13d)", () => {
  const lp = f64([-15, -17, -20]);
  const o = { betaV: 0.1, c: -23, balanced: true };
  const res = selfRewardLossWithGrad(lp, [1, 1, 0], [1, 1, 1], o);
  assertClose(res.selfReward, [0.8, 0.6, 0.3], 1e-12, 0);
  assertClose([res.loss, 0.1 * res.loss], [0.095, 0.0095], 1e-12, 0);
  checkGrad("laser", (x) => selfRewardLossWithGrad(x, [1, 1, 0], [1, 1, 1], o).loss, lp.slice(), res.grad);
  const trunc = selfRewardLossWithGrad(lp, [1, 1, 0], [1, 0, 1], o);
  assert.equal(trunc.grad[1], 0, "a truncated sample takes no part");
  checkGrad("laser (truncated)", (x) => selfRewardLossWithGrad(x, [1, 1, 0], [1, 0, 1], o).loss, lp.slice(), trunc.grad);
});

test("logSoftmaxRows is shift-invariant and normalised", () => {
  const z = f64([1000, 1001, 999, -3, 0, 3]);
  const lp = logSoftmaxRows(z, 3);
  for (let t = 0; t < 2; t++) assertClose([Math.exp(lp[3 * t]) + Math.exp(lp[3 * t + 1]) + Math.exp(lp[3 * t + 2])], [1], 1e-12, 0);
  assertClose(lp.subarray(0, 3), logSoftmaxRows(f64([1, 2, 0]), 3), 1e-12, 0);
});
