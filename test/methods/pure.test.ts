import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import fc from "fast-check";
import { runMethod } from "../../src/core/registry.js";
import { knownSignals } from "../../src/core/registry.js";
import { InputError } from "../../src/core/errors.js";
import { batchFromObjects } from "../../src/core/rows.js";
import type { RolloutBatch } from "../../src/core/batch.js";
import { pureRewards, type PureOptions } from "../../src/methods/pure.js";
import { assertClose, makeBatch, rowOf, type PartialRow } from "../helpers.js";

const DEFAULTS: PureOptions = { temperature: 0.1, variant: "softmin", baseline: "step", vrCoef: 1, maskSeparator: true, normalize: true };

/** methods.md Part 2 section 4(d): n = 3, T = 0.1, KL = 0, coef 1 (S = separator 2, E = EOS 0). */
function workedExample(): RolloutBatch {
  return makeBatch([
    { tokens: [10, 11, 2, 12, 0], step_ends: [2, 4], step_rewards: [0.8, -0.6], reward: 1 },
    { tokens: [10, 2, 11, 0], step_ends: [1, 3], step_rewards: [0.5, 0.9], reward: 1 },
    { tokens: [10, 11, 12, 2, 13, 0], step_ends: [3, 5], step_rewards: [-0.2, -0.4], reward: 0 },
  ]);
}

test("pure: worked example: softmin transform, outcomes, verifiable reward", () => {
  const batch = workedExample();
  const parts = pureRewards(batch, DEFAULTS);
  assertClose(parts.transformed, [6.652e-7, -0.5999995, 0.4910069, 0.0161876, -0.0238406, -0.3523188], 1e-6, 0);
  assertClose(parts.outcome, [-0.5999988, 0.5071945, -0.3761594], 1e-6, 0);
  assertClose(parts.verifiable, [0.5, 0.5, -1], 1e-12, 0);
  // The weights themselves: r*_k / r_k.
  assertClose([parts.transformed[0] / 0.8, parts.transformed[1] / -0.6], [8.3152e-7, 0.99999917], 1e-10, 1e-4);
  assertClose([parts.transformed[2] / 0.5, parts.transformed[3] / 0.9], [0.9820138, 0.0179862], 1e-7, 0);
  assertClose([parts.transformed[4] / -0.2, parts.transformed[5] / -0.4], [0.1192029, 0.8807971], 1e-7, 0);
});

test("pure: worked example, step baseline (the default): token rewards, returns, advantages", () => {
  const batch = workedExample();
  const parts = pureRewards(batch, DEFAULTS);
  assertClose(parts.baseline, [0.0327588, -0.2440396, -0.0232011], 1e-6, 0);
  assertClose(rowOf(batch, parts.tokenRewards, 0), [0, 0, -0.0327581, 0, -0.1327583], 1e-6, 0);
  assertClose(rowOf(batch, parts.tokenRewards, 1), [0, 0.7350465, 0, 0.7602272], 1e-6, 0);
  assertClose(rowOf(batch, parts.tokenRewards, 2), [0, 0, 0, -0.0006395, 0, -1.3291177], 1e-6, 0);
  const out = runMethod("pure", batch, { normalize: false });
  assertClose(rowOf(batch, out.returns!, 0), [-0.1655164, -0.1655164, -0.1655164, -0.1327583, -0.1327583], 1e-6, 0);
  assertClose(rowOf(batch, out.returns!, 1), [1.4952736, 1.4952736, 0.7602272, 0.7602272], 1e-6, 0);
  assertClose(rowOf(batch, out.returns!, 2), [-1.3297572, -1.3297572, -1.3297572, -1.3297572, -1.3291177, -1.3291177], 1e-6, 0);
  assertClose(rowOf(batch, out.advantages, 0), [-0.1655164, -0.1655164, 0, -0.1327583, 0], 1e-6, 0);
  assertClose(rowOf(batch, out.advantages, 1), [1.4952736, 0, 0.7602272, 0], 1e-6, 0);
  assertClose(rowOf(batch, out.advantages, 2), [-1.3297572, -1.3297572, -1.3297572, 0, -1.3291177, 0], 1e-6, 0);
  // maskSeparator off: step-end tokens keep their return.
  const open = runMethod("pure", batch, { normalize: false, maskSeparator: false });
  assertClose(open.advantages, out.returns!, 0, 0);
});

test("pure: worked example, token baseline, before and after the quirky normalisation", () => {
  const batch = workedExample();
  const parts = pureRewards(batch, { ...DEFAULTS, baseline: "token" });
  assertClose(parts.baseline, [0.0131035, -0.0887417, -0.0103116], 1e-6, 0);
  assertClose(rowOf(batch, parts.tokenRewards, 0), [0, 0, -0.0262063, 0, -0.113103], 1e-6, 0);
  assertClose(rowOf(batch, parts.tokenRewards, 1), [0, 0.5797486, 0, 0.6049292], 1e-6, 0);
  assertClose(rowOf(batch, parts.tokenRewards, 2), [0, 0, 0, 0.0070942, 0, -1.3420072], 1e-6, 0);
  const raw = runMethod("pure", batch, { baseline: "token", normalize: false });
  const expectedRaw = [
    [-0.1393094, -0.1393094, 0, -0.113103, 0],
    [1.1846778, 0, 0.6049292, 0],
    [-1.334913, -1.334913, -1.334913, 0, -1.3420072, 0],
  ];
  for (let i = 0; i < 3; i++) assertClose(rowOf(batch, raw.advantages, i), expectedRaw[i], 1e-6, 0);

  // count 9 (non-zero tokens), mean -0.4387623, "std" 0.9655414 with zero tokens in the numerator only.
  const flat = expectedRaw.flat();
  const nonZero = flat.filter((x) => x !== 0);
  assert.equal(nonZero.length, 9);
  const mean = nonZero.reduce((a, b) => a + b, 0) / 9;
  const std = Math.sqrt(flat.reduce((a, b) => a + (b - mean) ** 2, 0) / 9);
  assertClose([mean, std], [-0.4387623, 0.9655414], 1e-6, 0);
  const out = runMethod("pure", batch, { baseline: "token" });
  assertClose(rowOf(batch, out.advantages, 0), [0.31014, 0.31014, 0, 0.3372816, 0], 1e-5, 0);
  assertClose(rowOf(batch, out.advantages, 1), [1.681378, 0, 1.0809392, 0], 1e-6, 0);
  assertClose(rowOf(batch, out.advantages, 2), [-0.9281328, -0.9281328, -0.9281328, 0, -0.9354802, 0], 1e-6, 0);
  const expected = flat.map((x) => (x === 0 ? 0 : (x + 0.4387623) / 0.9655414));
  assertClose(out.advantages, expected, 1e-6, 0);
});

test("pure: mean variant uses w = 1/S; solved comes from signals.solved when given", () => {
  const batch = makeBatch([
    { tokens: [1, 2, 3, 4], step_ends: [1, 3], step_rewards: [0.4, -0.2], reward: 0, signals: { solved: true } },
    { tokens: [1, 2], step_ends: [1], step_rewards: [0.6], reward: 1, signals: { solved: false } },
  ]);
  const parts = pureRewards(batch, { ...DEFAULTS, variant: "mean" });
  assertClose(parts.transformed, [0.2, -0.1, 0.6], 1e-15, 0);
  assertClose(parts.outcome, [0.1, 0.6], 1e-15, 0);
  // v = [0, -1]; v' = v - the other's v.
  assertClose(parts.verifiable, [1, -1], 0, 0);
  // step baseline: a = o/S = [0.05, 0.6].
  assertClose(parts.baseline, [0.6, 0.05], 1e-15, 0);
});

test("pure: edge cases: singleton group, empty response, masked tokens, all-zero advantages", () => {
  const single = makeBatch([{ tokens: [1, 2, 3], step_ends: [0, 2], step_rewards: [0.5, -0.5], reward: 0 }]);
  const s = pureRewards(single, DEFAULTS);
  assertClose(s.baseline, [0], 0, 0);
  assertClose(s.verifiable, [-1], 0, 0);
  const so = runMethod("pure", single, { normalize: false });
  const w = [Math.exp(-5), Math.exp(5)].map((x, _, a) => x / (a[0] + a[1]));
  const rStar = [0.5 * w[0], -0.5 * w[1]];
  assertClose(rowOf(single, so.advantages, 0), [0, rStar[1] - 1, 0], 1e-12, 1e-12);
  assertClose(rowOf(single, so.returns!, 0), [rStar[0] + rStar[1] - 1, rStar[1] - 1, rStar[1] - 1], 1e-12, 1e-12);

  // An empty response (no tokens, no steps) takes part in the baselines with o = 0, L = 0.
  const withEmpty = makeBatch([
    { tokens: [], step_ends: [], step_rewards: [], reward: 1 },
    { tokens: [1, 2], step_ends: [1], step_rewards: [0.3], reward: 1 },
  ]);
  for (const baseline of ["step", "token"]) {
    const out = runMethod("pure", withEmpty, { baseline, normalize: false, maskSeparator: false });
    // step: b = 0 (the empty response's a); token: beta = 0 (no other tokens).
    assertClose(out.advantages, [0.3, 0.3], 1e-15, 0);
  }

  // Mask-0 tokens: advantage 0, excluded from L and ntok; a step ending on a mask-0 token still counts.
  const masked = makeBatch([
    { tokens: [1, 2, 3, 4, 5], mask: [1, 0, 0, 1, 1], step_ends: [2, 4], step_rewards: [0.2, 0.2], reward: 1 },
    { tokens: [1, 2, 3], step_ends: [1, 2], step_rewards: [0.2, 0.2], reward: 1 },
  ]);
  const mp = pureRewards(masked, { ...DEFAULTS, baseline: "token" });
  // L = [3, 3]; o = [0.2, 0.2] => beta = 0.2 / 3 for both.
  assertClose(mp.baseline, [0.2 / 3, 0.2 / 3], 1e-15, 1e-12);
  const mo = runMethod("pure", masked, { baseline: "token", normalize: false });
  // Row 0: ntok = [1, 1] (token 0; token 3). Step rewards 0.1 - beta each, v' = 0.
  const x = 0.1 - 0.2 / 3;
  assertClose(rowOf(masked, mo.advantages, 0), [2 * x, 0, 0, x, 0], 1e-12, 1e-12);
  assertClose(rowOf(masked, mo.returns!, 0), [2 * x, 0, 0, x, x], 1e-12, 1e-12);

  // Everything zero: normalisation has nothing to count and leaves zeros (no NaN).
  const zero = makeBatch([
    { tokens: [1, 2], step_ends: [1], step_rewards: [0], reward: 1 },
    { tokens: [1, 2], step_ends: [1], step_rewards: [0], reward: 1 },
  ]);
  assertClose(runMethod("pure", zero).advantages, [0, 0, 0, 0], 0, 0);
});

test("pure: input errors: last step not at the last token, missing steps, bad solved", () => {
  const short = makeBatch([{ tokens: [1, 2, 3], step_ends: [1], step_rewards: [0.5], reward: 1 }]);
  assert.throws(() => runMethod("pure", short), (e: unknown) => e instanceof InputError && e.field === "step_ends" && /last token/.test(e.detail));
  const noSteps = makeBatch([{ tokens: [1], reward: 1 }]);
  assert.throws(() => runMethod("pure", noSteps), (e: unknown) => e instanceof InputError && e.field === "step_ends");
  const noRewards = makeBatch([{ tokens: [1], step_ends: [0], reward: 1 }]);
  assert.throws(() => runMethod("pure", noRewards), (e: unknown) => e instanceof InputError && e.field === "step_rewards");
  const badSolved = makeBatch([{ tokens: [1], step_ends: [0], step_rewards: [0.1], reward: 1, signals: { solved: 1 } }]);
  assert.throws(() => runMethod("pure", badSolved), (e: unknown) => e instanceof InputError && e.field === "signals.solved");
});

test("pure: the bundled example runs and its first group is the worked example", () => {
  const text = readFileSync(resolve(process.cwd(), "examples/steps.jsonl"), "utf8");
  const values = text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as unknown);
  const batch = batchFromObjects(values, "steps.jsonl", { knownSignals: knownSignals() });
  const out = runMethod("pure", batch, { normalize: false });
  assertClose(rowOf(batch, out.advantages, 1), [1.4952736, 0, 0.7602272, 0], 1e-6, 0);
  for (const x of runMethod("pure", batch).advantages) assert.ok(Number.isFinite(x));
});

// ---- Property tests over random small groups.

interface Resp { group: number; T: number; ends: number[]; r: number[]; solved: boolean }

const respArb: fc.Arbitrary<Resp> = fc
  .record({
    group: fc.integer({ min: 0, max: 2 }),
    T: fc.integer({ min: 1, max: 7 }),
    cuts: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 4 }),
    r: fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 6, maxLength: 6 }),
    solved: fc.boolean(),
  })
  .map(({ group, T, cuts, r, solved }) => {
    const ends = [...new Set(cuts.filter((c) => c < T - 1)), T - 1].sort((a, b) => a - b);
    return { group, T, ends, r: r.slice(0, ends.length), solved };
  });

function toRows(resps: Resp[]): PartialRow[] {
  return resps.map((p, i) => ({ tokens: Array.from({ length: p.T }, (_, k) => i * 10 + k), group: `g${p.group}`, step_ends: p.ends, step_rewards: p.r, reward: p.solved ? 1 : 0 }));
}

/**
 * A direct transcription of the main-branch pipeline (experience_maker + replay_buffer.normalize),
 * in torch's operation order: a stable softmax and the baselines as `(sum - own) / (n - 1)`, so
 * the exact-zero test of the normalisation sees the same floats.
 */
function referencePure(resps: Resp[], o: PureOptions): number[] {
  const rStar = resps.map((p) => {
    const S = p.r.length;
    if (o.variant === "mean") return p.r.map((x) => x / S);
    const m = Math.max(...p.r.map((x) => -x / o.temperature));
    const e = p.r.map((x) => Math.exp(-x / o.temperature - m));
    const z = e.reduce((a, b) => a + b, 0);
    return p.r.map((x, k) => (e[k] / z) * x);
  });
  const out = rStar.map((rs) => rs.reduce((a, b) => a + b, 0));
  const v = resps.map((p) => (p.solved ? 0 : -1));
  const adv: number[][] = resps.map((p, i) => {
    const group = resps.map((_, j) => j).filter((j) => resps[j].group === p.group);
    const n = group.length;
    const sumA = group.reduce((a, j) => a + out[j] / resps[j].r.length, 0);
    const sumO = group.reduce((a, j) => a + out[j], 0);
    const sumL = group.reduce((a, j) => a + resps[j].T, 0);
    const sumV = group.reduce((a, j) => a + v[j], 0);
    const b = n > 1 ? (sumA - out[i] / p.r.length) / (n - 1) : 0;
    const beta = n > 1 ? (sumO - out[i]) / (sumL - p.T) : 0;
    const vp = v[i] - (n > 1 ? (sumV - v[i]) / (n - 1) : 0);
    const x = new Array<number>(p.T).fill(0);
    p.ends.forEach((e, k) => {
      const ntok = e - (k ? p.ends[k - 1] : -1) - 1;
      x[e] += rStar[i][k] - (o.baseline === "step" ? b : beta * ntok);
    });
    x[p.T - 1] += o.vrCoef * vp;
    const g = x.slice();
    for (let t = p.T - 2; t >= 0; t--) g[t] += g[t + 1];
    if (o.maskSeparator) for (const e of p.ends) g[e] = 0;
    return g;
  });
  const flat = adv.flat();
  if (!o.normalize) return flat;
  const count = flat.filter((a) => a !== 0).length;
  if (count === 0) return flat;
  const mean = flat.reduce((a, b) => a + b, 0) / count;
  const variance = flat.reduce((a, b) => a + (b - mean) ** 2, 0) / count;
  return flat.map((a) => (a === 0 ? 0 : (a - mean) / Math.sqrt(Math.max(variance, 1e-8))));
}

const optionsArb: fc.Arbitrary<PureOptions> = fc.record({
  temperature: fc.double({ min: 0.05, max: 2, noNaN: true }),
  variant: fc.constantFrom("softmin" as const, "mean" as const),
  baseline: fc.constantFrom("step" as const, "token" as const),
  vrCoef: fc.double({ min: 0, max: 2, noNaN: true }),
  maskSeparator: fc.boolean(),
  normalize: fc.boolean(),
});

test("pure: property: matches a direct transcription of the reference pipeline for every option", () => {
  fc.assert(
    fc.property(fc.array(respArb, { minLength: 1, maxLength: 7 }), optionsArb, (resps, o) => {
      const batch = makeBatch(toRows(resps));
      assertClose(runMethod("pure", batch, o).advantages, referencePure(resps, o), 1e-9, 1e-7);
    }),
    { numRuns: 300 },
  );
});

test("pure: property: mean variant, one step per response, step baseline = RLOO of the outcome (step score + vrCoef (solved - 1))", () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ group: fc.integer({ min: 0, max: 2 }), T: fc.integer({ min: 1, max: 5 }), r: fc.double({ min: -1, max: 1, noNaN: true }), solved: fc.boolean() }), { minLength: 1, maxLength: 8 }),
      fc.double({ min: 0, max: 2, noNaN: true }),
      (resps, vrCoef) => {
        const rows = resps.map((p) => ({ group: p.group, T: p.T, ends: [p.T - 1], r: [p.r], solved: p.solved }));
        const batch = makeBatch(toRows(rows));
        const opts = { variant: "mean", baseline: "step", vrCoef, maskSeparator: false, normalize: false };
        const mean = runMethod("pure", batch, opts).advantages;
        // With one step both weightings are the raw reward.
        assertClose(runMethod("pure", batch, { ...opts, variant: "softmin" }).advantages, mean, 1e-15, 1e-12);
        const outcomeOnly = makeBatch(resps.map((p, i) => ({ tokens: Array.from({ length: p.T }, (_, k) => i * 10 + k), group: `g${p.group}`, reward: p.r + vrCoef * (p.solved ? 0 : -1) })));
        assertClose(mean, runMethod("rloo", outcomeOnly).advantages, 1e-12, 1e-9);
        // With the separator mask, only the EOS token (the single step end) is zeroed.
        const sep = runMethod("pure", batch, { ...opts, maskSeparator: true }).advantages;
        for (let i = 0; i < batch.n; i++) {
          const last = batch.offsets[i + 1] - 1;
          for (let k = batch.offsets[i]; k <= last; k++) assert.equal(sep[k], k === last ? 0 : mean[k]);
        }
      },
    ),
    { numRuns: 300 },
  );
});

test("pure: property: inserting mask-0 tokens inside steps leaves every mask-1 token's advantage unchanged", () => {
  fc.assert(
    fc.property(fc.array(respArb, { minLength: 1, maxLength: 6 }), optionsArb, fc.array(fc.nat(), { minLength: 1, maxLength: 6 }), (resps, o, picks) => {
      const plain = makeBatch(toRows(resps));
      const base = runMethod("pure", plain, o).advantages;
      // Insert one mask-0 token before token picks[i] % T of each response (never after its last token).
      const rows = toRows(resps).map((row, i) => {
        const p = resps[i];
        const at = picks[i % picks.length] % p.T;
        const tokens = [...row.tokens.slice(0, at), 999, ...row.tokens.slice(at)];
        const mask = tokens.map((_, k) => (k === at ? 0 : 1));
        return { ...row, tokens, mask, step_ends: p.ends.map((e) => (e >= at ? e + 1 : e)) };
      });
      const withTool = makeBatch(rows);
      const out = runMethod("pure", withTool, o).advantages;
      const kept = Array.from(out).filter((_, k) => withTool.mask[k] === 1);
      assertClose(kept, base, 1e-12, 1e-9);
    }),
    { numRuns: 200 },
  );
});

test("pure: a temperature so small that -r/T overflows still gives the hard minimum, not NaN", () => {
  const batch = makeBatch([{ tokens: [1, 2, 3], step_ends: [0, 2], step_rewards: [0.5, -0.5], reward: 1 }]);
  const parts = pureRewards(batch, { ...DEFAULTS, temperature: 1e-310 });
  assertClose(parts.transformed, [0, -0.5], 0, 0);
  for (const x of runMethod("pure", batch, { temperature: 1e-310 }).advantages) assert.ok(Number.isFinite(x));
});
