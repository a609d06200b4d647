import { test } from "node:test";
import assert from "node:assert/strict";
import { runMethod } from "../../src/core/registry.js";
import { InputError } from "../../src/core/errors.js";
import { alignDistilLoss } from "../../src/preference/aligndistil.js";
import { assertClose, makeBatch, rowOf } from "../helpers.js";

const GRPO_PAIR = [0.7071057811879616, -0.7071057811879616]; // (1 - 0.5) / (std 0.7071 + 1e-6)

test("cdpo: critical-token weights from the spec's contrastive score (Part 3 section 3d)", () => {
  const pos = [[2, 1, 0], [0, 0, 0]];
  const neg = [[1, 1, 1], [0, 0, 0]];
  const batch = makeBatch([
    { tokens: [2, 0], reward: 1, finished: true, signals: { pos_logits: pos, neg_logits: neg } },
    { tokens: [2, 0], reward: 0, finished: true, signals: { pos_logits: pos, neg_logits: neg } },
    { tokens: [2, 0], reward: 0, finished: false, signals: { pos_logits: pos, neg_logits: neg, solved: true } },
  ]);
  const out = runMethod("cdpo", batch, {});
  // Correct: only_neg keeps weight 1. Incorrect: 1 - s = 0.984124, then EOS 1. Unfinished: no EOS.
  assertClose(rowOf(batch, out.weights!, 0), [1, 1], 0, 0);
  assertClose(rowOf(batch, out.weights!, 1), [0.984124, 1], 1e-6, 0);
  assertClose(rowOf(batch, out.weights!, 2), [1, 1], 0, 0, "solved overrides the reward");
  assertClose(rowOf(batch, out.diag!.tokens!.critical_score, 1), [0.015876, 1 / 3], 1e-6, 0);
  const both = runMethod("cdpo", batch, { weightChosen: true });
  assertClose(rowOf(batch, both.weights!, 2), [0.015876, 1 / 3], 1e-6, 0);
  assert.throws(() => runMethod("cdpo", makeBatch([{ tokens: [3], signals: { pos_logits: [[1, 2, 3]], neg_logits: [[1, 2, 3]] } }])), /signals\.pos_logits.*token 0 is id 3, outside the 3 logit columns/);
  assert.throws(() => runMethod("cdpo", makeBatch([{ tokens: [1], signals: { pos_logits: [[1, 2, 3]] } }])), (e: unknown) => e instanceof InputError && /test\.jsonl:1: field 'signals\.neg_logits'.*missing/.test(e.message));
});

test("tgdpo: weights 1 +- alpha beta (lp_dpo - lp_ref) on GRPO advantages (Part 3 section 2d)", () => {
  const batch = makeBatch([
    { tokens: [0, 1], reward: 1, ref_logprobs: [-1.5, -1.8], signals: { dpo_logprobs: [-0.5, -2.0] } },
    { tokens: [0, 1], reward: 0, ref_logprobs: [-1.6, -1.2], signals: { dpo_logprobs: [-2.6, -1.0] } },
  ]);
  const out = runMethod("tgdpo", batch, {});
  assertClose(out.weights!, [1.05, 0.99, 1.05, 0.99], 1e-12, 0);
  assertClose(out.advantages, [GRPO_PAIR[0], GRPO_PAIR[0], GRPO_PAIR[1], GRPO_PAIR[1]], 1e-12, 0);
  assertClose(out.diag!.tokens!.token_reward, [0.1, -0.02, -0.1, 0.02], 1e-12, 0);
  // Weights never go negative, even for a huge token reward.
  const big = runMethod("tgdpo", makeBatch([{ tokens: [0], reward: 0, ref_logprobs: [-50], signals: { dpo_logprobs: [0] } }]), { alpha: 1 });
  assert.equal(big.weights![0], 0);
});

test("t-reg: weights 1 +- alpha r^_t from the spec's evaluator log-probs (methods-part4.md section 2d)", () => {
  const batch = makeBatch([
    { tokens: [0, 1, 2], reward: 1, signals: { eval_better_logprobs: [-0.4, -2.0, -0.2], eval_worse_logprobs: [-0.9, -1.0, -0.3] } },
    { tokens: [0, 1], reward: 0, signals: { eval_better_logprobs: [-1.5, -0.5], eval_worse_logprobs: [-0.5, -0.6] } },
  ]);
  const out = runMethod("t-reg", batch, {});
  assertClose(out.diag!.tokens!.token_reward, [0.122459, -0.231059, 0.024979, -0.231059, 0.024979], 1e-6, 0);
  assertClose(rowOf(batch, out.weights!, 0), [1 + 0.25 * 0.122459, 1 - 0.25 * 0.231059, 1 + 0.25 * 0.024979], 1e-6, 0);
  assertClose(rowOf(batch, out.weights!, 1), [1 + 0.25 * 0.231059, 1 - 0.25 * 0.024979], 1e-6, 0);
  assert.throws(() => runMethod("t-reg", makeBatch([{ tokens: [0, 1], signals: { eval_better_logprobs: [0], eval_worse_logprobs: [0, 0] } }])), /signals\.eval_better_logprobs.*expected 2 entries, got 1/);
});

// methods-part4.md section 1(d).
const dpoRows = [[2.0, 0.0, -1.0, 0.5], [0.0, 1.0, 0.5, -1.0]];
const rdpoRows = [[1.9, 0.1, -0.9, 0.5], [0.05, 0.9, 0.55, -0.95]];
const stuRows = [[1.0, 0.5, -0.5, 0.0], [0.2, 0.1, 0.0, -0.3]];
const logSoftmax = (z: number[]) => {
  const m = Math.max(...z);
  const lse = m + Math.log(z.reduce((a, x) => a + Math.exp(x - m), 0));
  return z.map((x) => x - lse);
};

test("aligndistil: per-token coefficient and sampled-token advantage (methods-part4.md section 1d)", () => {
  const lpStu = stuRows.map(logSoftmax);
  const batch = makeBatch([{ tokens: [0, 1], logprobs: [lpStu[0][0], lpStu[1][1]], signals: { dpo_logits: dpoRows, rdpo_logits: rdpoRows } }]);
  const out = runMethod("aligndistil", batch, {});
  assertClose(out.diag!.tokens!.alpha, [0.622555, 0.744675], 1e-6, 0);
  assertClose(out.advantages, [0.160628 * Math.log(0.728272 / 0.455054), 0.134287 * Math.log(0.501893 / 0.271715)], 2e-6, 0);
  // Averaged over y ~ pi_theta, the advantage is minus the spec's per-token loss l_t: the estimate is unbiased.
  const exact = alignDistilLoss(Float64Array.from(stuRows.flat()), Float64Array.from(dpoRows.flat()), Float64Array.from(rdpoRows.flat()), 4, null, { beta: 0.1, tvdScale: 10, lengthNorm: false });
  for (let t = 0; t < 2; t++) {
    let mean = 0;
    for (let y = 0; y < 4; y++) {
      const tokens = [0, 0];
      tokens[t] = y;
      const lp = [lpStu[0][tokens[0]], lpStu[1][tokens[1]]];
      const o = runMethod("aligndistil", makeBatch([{ tokens, logprobs: lp, signals: { dpo_logits: dpoRows, rdpo_logits: rdpoRows } }]), {});
      mean += Math.exp(lpStu[t][y]) * o.advantages[t];
    }
    assertClose([mean], [-exact.perToken[t]], 1e-12, 1e-9, `E[A_${t}]`);
  }
  assertClose([exact.perToken[0], exact.perToken[1]], [0.038099, 0.025219], 1e-6, 0);
});

test("sstoken: the spec's selection as weights (methods-part4.md section 5d)", () => {
  const cur = [1.2, 0.3, 2.0, 0.9, 0.05];
  const his = [1.5, 0.35, 2.6, 0.8, 0.9];
  const row = { tokens: [0, 1, 2, 3, 4], logprobs: cur.map((x) => -x), signals: { history_logprobs: his.map((x) => -x), prompt_attention: [0.6, 0.65, 0.7, 0.15, 0.3] } };
  const batch = makeBatch([row]);
  const out = runMethod("sstoken", batch, {});
  assertClose(out.weights!, [1, 0, 1, 0, 1], 0, 0);
  assertClose(out.advantages, [1, 0, 1, 0, 1], 0, 0);
  assertClose(out.diag!.tokens!.score, [0.510526, 0.403947, 0.718421, 0.075, 0.65], 1e-6, 0);
  assertClose(runMethod("sstoken", batch, { gamma: 0 }).weights!, [1, 1, 1, 0, 0], 0, 0);
  assertClose(runMethod("sstoken", batch, { rho: 0.8 }).weights!, [1, 1, 1, 0, 1], 0, 0);
  // Mask-0 tokens take no part: R counts mask-1 tokens only.
  const masked = makeBatch([{ ...row, mask: [1, 1, 1, 0, 1] }]);
  assertClose(runMethod("sstoken", masked, {}).weights!, [1, 0, 1, 0, 1], 0, 0);
  assert.throws(() => runMethod("sstoken", makeBatch([{ ...row, signals: { ...row.signals, prompt_attention: [0, 0, 0, 0, null] } }])), /signals\.prompt_attention.*entry 4 is null/);
});
