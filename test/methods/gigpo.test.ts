import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import fc from "fast-check";
import { runMethod } from "../../src/core/registry.js";
import { InputError } from "../../src/core/errors.js";
import { batchFromObjects } from "../../src/core/rows.js";
import { knownSignals } from "../../src/core/registry.js";
import type { RolloutBatch } from "../../src/core/batch.js";
import { assertClose, makeBatch, rowOf, seqTokens, type PartialRow } from "../helpers.js";

/** The advantage of each row (every mask-1 token of a row carries it). */
function perRow(batch: RolloutBatch, arr: Float64Array): number[] {
  return Array.from({ length: batch.n }, (_, i) => (batch.offsets[i + 1] > batch.offsets[i] ? arr[batch.offsets[i]] : NaN));
}

/** methods.md Part 2 section 3(d): one group, tau1 = 3 steps (rewards 0, 0, 10), tau2 = 2 steps (0, 0). */
function workedExample(): RolloutBatch {
  return makeBatch([
    { tokens: seqTokens(3), episode: "tau1", t: 0, anchor: "s0", reward: 0 },
    { tokens: seqTokens(2), episode: "tau1", t: 1, anchor: "s1", reward: 0 },
    { tokens: seqTokens(4), episode: "tau1", t: 2, anchor: "s2", reward: 10 },
    { tokens: seqTokens(3), episode: "tau2", t: 0, anchor: "s0", reward: 0 },
    { tokens: seqTokens(1), episode: "tau2", t: 1, anchor: "s3", reward: 0 },
  ]);
}

test("gigpo: worked example, mean_norm", () => {
  const batch = workedExample();
  const out = runMethod("gigpo", batch, { norm: "mean", gamma: 0.95 });
  const d = out.diag!.rollouts!;
  assertClose(d.episode_return, [10, 10, 10, 0, 0], 1e-12, 0);
  assertClose(d.step_return, [9.025, 9.5, 10, 0, 0], 1e-12, 1e-12);
  assertClose(d.episode_advantage, [4, 4, 4, -6, -6], 1e-12, 1e-12);
  assertClose(d.step_advantage, [4.5125, 0, 0, -4.5125, 0], 1e-12, 1e-12);
  assertClose(perRow(batch, out.advantages), [8.5125, 4, 4, -10.5125, -6], 1e-6, 0);
  assertClose(rowOf(batch, out.advantages, 2), [4, 4, 4, 4], 1e-12, 0);
  assertClose(out.returns!, out.advantages, 0, 0);
});

test("gigpo: worked example, mean_std_norm (the default)", () => {
  const batch = workedExample();
  const out = runMethod("gigpo", batch);
  const d = out.diag!.rollouts!;
  assertClose(d.episode_advantage, [0.7302966, 0.7302966, 0.7302966, -1.0954449, -1.0954449], 1e-6, 0);
  assertClose(d.step_advantage, [0.7071067, 0, 0, -0.7071067, 0], 1e-6, 0);
  assertClose(perRow(batch, out.advantages), [1.4374033, 0.7302966, 0.7302966, -1.8025516, -1.0954449], 1e-6, 0);
});

test("gigpo: worked example, per-episode statistics with mean_norm", () => {
  const batch = workedExample();
  const out = runMethod("gigpo", batch, { norm: "mean", episodeStats: "per-episode" });
  assertClose(out.diag!.rollouts!.episode_advantage, [5, 5, 5, -5, -5], 1e-12, 0);
  assertClose(perRow(batch, out.advantages), [9.5125, 5, 5, -9.5125, -5], 1e-12, 1e-12);
});

test("gigpo: rows in any order give the same per-row result (returns run in order of t)", () => {
  const rows: PartialRow[] = [
    { id: "a2", tokens: [1], episode: "tau1", t: 2, anchor: "s2", reward: 10 },
    { id: "b0", tokens: [1], episode: "tau2", t: 0, anchor: "s0", reward: 0 },
    { id: "a0", tokens: [1], episode: "tau1", t: 0, anchor: "s0", reward: 0 },
    { id: "b1", tokens: [1], episode: "tau2", t: 1, anchor: "s3", reward: 0 },
    { id: "a1", tokens: [1], episode: "tau1", t: 1, anchor: "s1", reward: 0 },
  ];
  const batch = makeBatch(rows);
  const out = runMethod("gigpo", batch, { norm: "mean" });
  assertClose(out.diag!.rollouts!.step_return, [10, 0, 9.025, 0, 9.5], 1e-12, 1e-12);
  assertClose(perRow(batch, out.advantages), [4, -10.5125, 8.5125, -6, 4], 1e-12, 1e-12);
});

test("gigpo: gaps in t are steps in order; token_rewards join the step score; omega scales A^S", () => {
  const batch = makeBatch([
    { tokens: [1, 2], episode: "e1", t: 0, anchor: "x", reward: 1 },
    { tokens: [3], episode: "e1", t: 7, anchor: "y", reward: 1, token_rewards: [0.5] },
    { tokens: [4], episode: "e2", t: 3, anchor: "x", reward: 0 },
  ]);
  const out = runMethod("gigpo", batch, { norm: "mean", gamma: 0.5, omega: 2 });
  const d = out.diag!.rollouts!;
  assertClose(d.step_return, [1 + 0.5 * 1.5, 1.5, 0], 1e-12, 1e-12);
  assertClose(d.episode_return, [2.5, 2.5, 0], 1e-12, 1e-12);
  const meanE = (2.5 + 2.5 + 0) / 3;
  const meanX = (1.75 + 0) / 2;
  assertClose(perRow(batch, out.advantages), [2.5 - meanE + 2 * (1.75 - meanX), 2.5 - meanE, 0 - meanE + 2 * (0 - meanX)], 1e-12, 1e-12);
});

test("gigpo: edge cases: singleton group, one-row anchor cluster, masked tokens, empty row, zero variance", () => {
  // A one-row group: episode mean 0, std 1; its anchor cluster is a singleton (A^S = 0).
  const single = makeBatch([{ tokens: [1, 2, 3], mask: [1, 0, 1], episode: "e", t: 0, anchor: "s", reward: 2 }]);
  const a = runMethod("gigpo", single);
  assertClose(rowOf(single, a.advantages, 0), [2 / (1 + 1e-6), 0, 2 / (1 + 1e-6)], 1e-15, 1e-12);
  // Equal scores: every term is 0 (no division by a zero std blows up), also with eps 0.
  const flat = makeBatch([
    { tokens: [1], episode: "e1", t: 0, anchor: "s", reward: 1 },
    { tokens: [], episode: "e1", t: 1, anchor: "u", reward: 0 },
    { tokens: [2], episode: "e2", t: 0, anchor: "s", reward: 1 },
    { tokens: [3], episode: "e2", t: 1, anchor: "u", reward: 0 },
  ]);
  for (const eps of [1e-6, 0]) {
    const out = runMethod("gigpo", flat, { eps });
    assertClose(out.advantages, [0, 0, 0], 0, 0);
  }
  // per-episode statistics with one episode in the group: mean 0, std 1.
  const oneEpisode = makeBatch([
    { tokens: [1], episode: "e", t: 0, anchor: "s", reward: 1 },
    { tokens: [1], episode: "e", t: 1, anchor: "s", reward: 3 },
  ]);
  const pe = runMethod("gigpo", oneEpisode, { episodeStats: "per-episode", norm: "mean", gamma: 1 });
  assertClose(pe.diag!.rollouts!.episode_advantage, [4, 4], 0, 0);
  assertClose(pe.diag!.rollouts!.step_advantage, [0.5, -0.5], 1e-12, 0);
});

test("gigpo: input errors: repeated t, an episode across groups, missing anchor", () => {
  const dupT = makeBatch([
    { tokens: [1], episode: "e", t: 0, anchor: "s", reward: 1 },
    { tokens: [1], episode: "e", t: 0, anchor: "u", reward: 1 },
  ]);
  assert.throws(() => runMethod("gigpo", dupT), (e: unknown) => e instanceof InputError && e.field === "t" && e.line === 2 && /repeats/.test(e.detail));
  const split = makeBatch([
    { tokens: [1], group: "a", episode: "e", t: 0, anchor: "s", reward: 1 },
    { tokens: [1], group: "b", episode: "e", t: 1, anchor: "s", reward: 1 },
  ]);
  assert.throws(() => runMethod("gigpo", split), (e: unknown) => e instanceof InputError && e.field === "group" && e.line === 2);
  const noAnchor = makeBatch([{ tokens: [1], episode: "e", t: 0, reward: 1 }]);
  assert.throws(() => runMethod("gigpo", noAnchor), (e: unknown) => e instanceof InputError && e.field === "anchor");
  const noT = makeBatch([{ tokens: [1], episode: "e", anchor: "s", reward: 1 }]);
  assert.throws(() => runMethod("gigpo", noT), (e: unknown) => e instanceof InputError && e.field === "t");
});

test("gigpo: the bundled example runs", () => {
  const text = readFileSync(resolve(process.cwd(), "examples/agents.jsonl"), "utf8");
  const values = text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as unknown);
  const batch = batchFromObjects(values, "agents.jsonl", { knownSignals: knownSignals() });
  const out = runMethod("gigpo", batch, { norm: "mean" });
  // Group g is the worked example.
  assertClose(perRow(batch, out.advantages).slice(0, 5), [8.5125, 4, 4, -10.5125, -6], 1e-6, 0);
  for (const x of out.advantages) assert.ok(Number.isFinite(x));
});

// ---- Property tests over random small groups of episodes.

interface Step { group: number; episode: number; t: number; anchor: number; reward: number }

const stepsArb = fc
  .array(
    fc.record({
      // each episode: its group, its step rewards and anchors
      group: fc.integer({ min: 0, max: 2 }),
      steps: fc.array(fc.record({ reward: fc.integer({ min: -3, max: 3 }), anchor: fc.integer({ min: 0, max: 3 }) }), { minLength: 1, maxLength: 4 }),
    }),
    { minLength: 1, maxLength: 6 },
  )
  .map((episodes) => {
    const rows: Step[] = [];
    episodes.forEach((e, k) => e.steps.forEach((s, t) => rows.push({ group: e.group, episode: k, t, anchor: s.anchor, reward: s.reward })));
    return rows;
  });

/** A direct transcription of core_gigpo.py over plain arrays (episode returns on every row). */
function referenceGigpo(rows: Step[], omega: number, gamma: number, normStd: boolean, perStep: boolean, eps: number): number[] {
  const ret = new Map<number, number>();
  for (const r of rows) ret.set(r.episode, (ret.get(r.episode) ?? 0) + r.reward);
  const stepRet = rows.map((r) => {
    let g = 0;
    const later = rows.filter((q) => q.episode === r.episode && q.t >= r.t).sort((a, b) => b.t - a.t);
    for (const q of later) g = q.reward + gamma * g;
    return g;
  });
  const stats = (xs: number[], singletonMean: number | null): [number, number] => {
    if (xs.length === 1) return [singletonMean ?? xs[0], 1];
    const m = xs.reduce((a, b) => a + b, 0) / xs.length;
    return [m, Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1))];
  };
  const norm = (x: number, [m, s]: [number, number]) => (normStd ? (x - m) / (s + eps) : x - m);
  return rows.map((r, i) => {
    const groupRows = rows.filter((q) => q.group === r.group);
    const epScores = perStep ? groupRows.map((q) => ret.get(q.episode)!) : [...new Set(groupRows.map((q) => q.episode))].map((e) => ret.get(e)!);
    const aE = norm(ret.get(r.episode)!, stats(epScores, 0));
    const cluster = rows.map((q, j) => [q, j] as const).filter(([q]) => q.group === r.group && q.anchor === r.anchor).map(([, j]) => stepRet[j]);
    const aS = norm(stepRet[i], stats(cluster, null));
    return aE + omega * aS;
  });
}

function batchOf(rows: Step[], anchorOf: (r: Step, i: number) => string): RolloutBatch {
  return makeBatch(rows.map((r, i) => ({ tokens: [i], group: `g${r.group}`, episode: `e${r.episode}`, t: r.t, anchor: anchorOf(r, i), reward: r.reward })));
}

test("gigpo: property: matches a direct transcription of the reference for every option", () => {
  fc.assert(
    fc.property(stepsArb, fc.double({ min: 0, max: 2, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), fc.boolean(), fc.boolean(), (rows, omega, gamma, normStd, perStep) => {
      const batch = batchOf(rows, (r) => `s${r.anchor}`);
      const out = runMethod("gigpo", batch, { omega, gamma, norm: normStd ? "std" : "mean", episodeStats: perStep ? "per-step" : "per-episode" });
      assertClose(perRow(batch, out.advantages), referenceGigpo(rows, omega, gamma, normStd, perStep, 1e-6), 1e-9, 1e-9);
    }),
    { numRuns: 200 },
  );
});

test("gigpo: property: with no repeated anchor, A is the episode-level term (GRPO over episode returns per step row)", () => {
  fc.assert(
    fc.property(stepsArb, fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 3, noNaN: true }), (rows, gamma, omega) => {
      const batch = batchOf(rows, (_, i) => `unique-${i}`);
      const out = runMethod("gigpo", batch, { gamma, omega });
      assertClose(out.diag!.rollouts!.step_advantage, new Array(rows.length).fill(0), 0, 0);
      // The episode term alone: GRPO (unbiased std, eps 1e-6, singleton mean 0 std 1) on S per row.
      const returns = new Map<number, number>();
      for (const r of rows) returns.set(r.episode, (returns.get(r.episode) ?? 0) + r.reward);
      const asOutcome = makeBatch(rows.map((r, i) => ({ tokens: [i], group: `g${r.group}`, reward: returns.get(r.episode)! })));
      const grpo = runMethod("grpo", asOutcome);
      assertClose(out.advantages, grpo.advantages, 1e-12, 1e-9);
    }),
    { numRuns: 200 },
  );
});
