import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { runMethod } from "../../src/core/registry.js";
import { InputError } from "../../src/core/errors.js";
import { assertClose, makeBatch, rowOf, seqTokens, type PartialRow } from "../helpers.js";

/** Rows whose turns are `width` tokens each, step_ends at each turn's last token. */
function turnRows(turnRewards: number[][], width = 2, group = (_k: number) => "g"): PartialRow[] {
  return turnRewards.map((tr, k) => ({
    tokens: seqTokens(tr.length * width, 100 * k),
    group: group(k),
    step_ends: tr.map((_, j) => (j + 1) * width - 1),
    step_rewards: tr,
  }));
}
const spread = (xs: number[], width = 2): number[] => xs.flatMap((x) => new Array<number>(width).fill(x));

/**
 * Independent port of the reference loops (MatchTIR core_algos.compute_grpo_outcome_advantage) on
 * nested arrays: trajectory score = sum of turn rewards, torch.std (unbiased), singleton mean 0 std 1.
 */
function reference(groups: string[], turns: number[][], eps: number, lam: number): number[][] {
  const stats = (xs: number[]): { mean: number; std: number } => {
    if (xs.length === 1) return { mean: 0, std: 1 };
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const v = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1);
    return { mean, std: Math.sqrt(v) };
  };
  const scores = turns.map((t) => t.reduce((a, b) => a + b, 0));
  const byGroup = new Map<string, number[]>();
  groups.forEach((g, i) => byGroup.set(g, [...(byGroup.get(g) ?? []), scores[i]]));
  const traj = scores.map((s, i) => {
    const st = stats(byGroup.get(groups[i])!);
    return (s - st.mean) / (st.std + eps);
  });
  const disc = turns.map((t) => {
    const out = new Array<number>(t.length);
    let acc = 0;
    for (let j = t.length - 1; j >= 0; j--) out[j] = acc = t[j] + lam * acc;
    return out;
  });
  const byKey = new Map<string, number[]>();
  disc.forEach((d, i) => d.forEach((x, j) => byKey.set(`${groups[i]}-${j}`, [...(byKey.get(`${groups[i]}-${j}`) ?? []), x])));
  return disc.map((d, i) => d.map((x, j) => {
    const st = stats(byKey.get(`${groups[i]}-${j}`)!);
    return (traj[i] + (x - st.mean) / (st.std + eps)) / 2;
  }));
}

test("methods.md §8 (d): dual-level example, fused per-turn advantages", () => {
  const turns = [[0.375, 1.0, 0.5], [0.0, 0.2], [0.5]];
  const batch = makeBatch(turnRows(turns));
  const out = runMethod("matchtir", batch);
  assertClose(rowOf(batch, out.advantages, 0), spread([1.134534, 0.922702, 0.819149]), 1e-6);
  assertClose(rowOf(batch, out.advantages, 1), spread([-0.752503, -0.7221]), 1e-6);
  assertClose(rowOf(batch, out.advantages, 2), spread([-0.382031]), 1e-6);
  assertClose(out.returns!, out.advantages, 0);
  // the section's trajectory advantages: with discount 0 and one-turn rollouts the turn level equals it
  const flat = makeBatch(turns.map((t, k) => ({ tokens: [k], step_ends: [0], step_rewards: [t.reduce((a, b) => a + b, 0)] })));
  assertClose(runMethod("matchtir", flat).advantages, [1.138298, -0.737095, -0.401203], 1e-6);
  // discounted returns [1.68, 1.45, 0.5], [0.18, 0.2], [0.5] fix the turn level: check against the port
  assertClose(Array.from(out.advantages), reference(["g", "g", "g"], turns, 1e-6, 0.9).flatMap((r) => spread(r)), 1e-12);
});

test("property: equals an independent port of the reference loops (groups, ragged turns, discount, eps)", () => {
  const arb = fc.array(fc.record({
    g: fc.constantFrom("a", "b", "c"),
    turns: fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: 1, maxLength: 5 }),
  }), { minLength: 1, maxLength: 9 });
  fc.assert(fc.property(arb, fc.constantFrom(0.9, 0.5, 1), fc.constantFrom(1e-6, 0.1), (rs, discount, eps) => {
    const batch = makeBatch(turnRows(rs.map((r) => r.turns), 2, (k) => rs[k].g));
    const out = runMethod("matchtir", batch, { discount, eps });
    const ref = reference(rs.map((r) => r.g), rs.map((r) => r.turns), eps, discount);
    assertClose(Array.from(out.advantages), ref.flatMap((r) => spread(r)), 1e-9, 1e-9);
  }));
});

test("reward joins the last turn; token_rewards count at turn ends for the turn and everywhere for the score", () => {
  const a = makeBatch([
    { tokens: seqTokens(4), step_ends: [1, 3], step_rewards: [0.5, 0], reward: 1 },
    { tokens: seqTokens(4), step_ends: [1, 3], step_rewards: [0, 0.25] },
  ]);
  const b = makeBatch([
    { tokens: seqTokens(4), step_ends: [1, 3], step_rewards: [0.5, 1] },
    { tokens: seqTokens(4), step_ends: [1, 3], step_rewards: [0, 0.25] },
  ]);
  assertClose(runMethod("matchtir", a).advantages, runMethod("matchtir", b).advantages, 1e-15);
  // a token reward at a turn end is part of that turn's reward
  const c = makeBatch([
    { tokens: seqTokens(4), step_ends: [1, 3], step_rewards: [0, 1], token_rewards: [0, 0.5, 0, 0] },
    { tokens: seqTokens(4), step_ends: [1, 3], step_rewards: [0, 0.25] },
  ]);
  assertClose(runMethod("matchtir", c).advantages, runMethod("matchtir", b).advantages, 1e-15);
  // a token reward inside a turn moves only the trajectory score
  const d = makeBatch([
    { tokens: seqTokens(4), step_ends: [1, 3], step_rewards: [0, 1], token_rewards: [0.5, 0, 0, 0] },
    { tokens: seqTokens(4), step_ends: [1, 3], step_rewards: [0, 0.25] },
  ]);
  const expected = reference(["g", "g"], [[0, 1], [0, 0.25]], 1e-6, 0.9);
  const scores = [1.5, 0.25], mean = 0.875, std = Math.sqrt(2 * 0.625 ** 2);
  const traj = scores.map((s) => (s - mean) / (std + 1e-6));
  const trajNoTok = [(1 - 0.625) / (Math.sqrt(2 * 0.375 ** 2) + 1e-6), (0.25 - 0.625) / (Math.sqrt(2 * 0.375 ** 2) + 1e-6)];
  const fused = expected.map((r, i) => r.map((x) => x + (traj[i] - trajNoTok[i]) / 2));
  assertClose(Array.from(runMethod("matchtir", d).advantages), fused.flatMap((r) => spread(r)), 1e-9);
});

test("singleton group and a turn index only one rollout reaches: mean 0, std 1", () => {
  const batch = makeBatch([{ tokens: seqTokens(4), group: "solo", step_ends: [1, 3], step_rewards: [0.5, 1] }]);
  const eps = 1e-6;
  const traj = 1.5 / (1 + eps);
  const R = [0.5 + 0.9 * 1, 1];
  assertClose(runMethod("matchtir", batch).advantages, spread(R.map((x) => (traj + x / (1 + eps)) / 2)), 1e-12);
});

test("zero variance gives 0; masked tokens, tokens after the last step end, and an empty response get 0", () => {
  const same = makeBatch([0, 1, 2].map((k) => ({ tokens: seqTokens(4, 10 * k), step_ends: [1, 3], step_rewards: [0.3, 0.7] })));
  for (const a of runMethod("matchtir", same).advantages) assert.ok(Math.abs(a) < 1e-9);
  const batch = makeBatch([
    { tokens: seqTokens(7), mask: [1, 1, 0, 0, 1, 1, 1], step_ends: [1, 5], step_rewards: [1, 1] },
    { tokens: seqTokens(4), step_ends: [1, 3], step_rewards: [0, 0] },
    { tokens: [], step_ends: [], step_rewards: [] },
  ]);
  const out = runMethod("matchtir", batch);
  const r0 = rowOf(batch, out.advantages, 0);
  assert.deepEqual([r0[2], r0[3], r0[6]], [0, 0, 0]);
  assert.ok(r0[0] !== 0 && r0[4] !== 0 && r0[0] === r0[1] && r0[4] === r0[5]);
  assert.equal(out.advantages.length, 11);
  // masked tokens do not change the result: the same rollout without the tool span and tail
  const plain = makeBatch([
    { tokens: seqTokens(4), step_ends: [1, 3], step_rewards: [1, 1] },
    { tokens: seqTokens(4), step_ends: [1, 3], step_rewards: [0, 0] },
    { tokens: [], step_ends: [], step_rewards: [] },
  ]);
  const p = runMethod("matchtir", plain).advantages;
  assertClose([r0[0], r0[4]], [p[0], p[2]], 1e-15);
});

test("missing step_rewards or step_ends is an input error naming the field", () => {
  assert.throws(() => runMethod("matchtir", makeBatch([{ tokens: [1, 2], step_ends: [1] }])), (e: unknown) => e instanceof InputError && e.field === "step_rewards");
  assert.throws(() => runMethod("matchtir", makeBatch([{ tokens: [1, 2] }])), (e: unknown) => e instanceof InputError && e.field === "step_ends");
});

test("examples/tool-turns.jsonl runs: finite, 0 on tool-output tokens, groups centred at the trajectory level", () => {
  const rows = readFileSync("examples/tool-turns.jsonl", "utf8").split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as PartialRow);
  const batch = makeBatch(rows);
  const out = runMethod("matchtir", batch);
  for (let k = 0; k < batch.nTokens; k++) {
    assert.ok(Number.isFinite(out.advantages[k]));
    if (batch.mask[k] === 0) assert.equal(out.advantages[k], 0);
  }
  // weather-cats-0 (0.75, 1, 0.5) beats weather-cats-1 (0.375, 0) in its first turn
  assert.ok(rowOf(batch, out.advantages, 0)[0] > rowOf(batch, out.advantages, 1)[0]);
});
