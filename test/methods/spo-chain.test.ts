import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import fc from "fast-check";
import { runMethod, knownSignals } from "../../src/core/registry.js";
import { InputError } from "../../src/core/errors.js";
import { batchFromObjects } from "../../src/core/rows.js";
import { spoChainCutpoints } from "../../src/methods/spo-chain.js";
import { assertClose, makeBatch, rowOf, seqTokens, type PartialRow } from "../helpers.js";

const logs = (ps: number[]): number[] => ps.map((p) => Math.log(p));

// methods.md Part 2 section 1.1(d).
const EX1_P = [0.95, 0.5, 0.99, 0.3, 0.97, 0.8, 0.6, 0.99];
const EX1: PartialRow = { tokens: seqTokens(8), reward: 1, logprobs: logs(EX1_P), signals: { cut_values: { "0": 0.5, "2": 0.25, "4": 0.75, "5": 1.0 } } };
const EX2: PartialRow = { tokens: seqTokens(4), reward: 0, logprobs: logs([0.4, 0.95, 0.7, 0.99]), signals: { start_value: 0.5, cut_values: { "1": 0.25 } } };
const EX3: PartialRow = { tokens: seqTokens(3), reward: 1, logprobs: logs([0.99, 0.95, 0.93]) };

test("spo-chain: worked example 1, interval 1: raw and probability-masked segment advantages, weights", () => {
  const batch = makeBatch([EX1]);
  assert.deepEqual(spoChainCutpoints(logs(EX1_P), undefined, { threshold: 0.9, interval: 1 }), [0, 2, 4, 5]);
  const masked = runMethod("spo-chain", batch, { interval: 1, whiten: false });
  assertClose(masked.advantages, [0, -0.25, 0, 0.5, 0, 0.25, 0, 0], 1e-12, 0);
  assertClose(masked.weights!, [0, 1, 0, 1, 0, 1, 1, 0], 0, 0);
  const raw = runMethod("spo-chain", batch, { interval: 1, whiten: false, probMask: false });
  assertClose(raw.advantages, [0, -0.25, -0.25, 0.5, 0.5, 0.25, 0, 0], 1e-12, 0);
  assert.equal(raw.weights, undefined);
  assertClose(raw.diag!.rollouts!.cutpoints, [4], 0, 0);
});

test("spo-chain: worked example 1, interval 2: cutpoints [0, 4]", () => {
  const batch = makeBatch([EX1]);
  assert.deepEqual(spoChainCutpoints(logs(EX1_P), undefined, { threshold: 0.9, interval: 2 }), [0, 4]);
  assertClose(runMethod("spo-chain", batch, { interval: 2, whiten: false, probMask: false }).advantages, [0, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25], 1e-12, 0);
  assertClose(runMethod("spo-chain", batch, { interval: 2, whiten: false }).advantages, [0, 0.25, 0, 0.25, 0, 0.25, 0.25, 0], 1e-12, 0);
});

test("spo-chain: worked example 2: token 0 low-probability, the prompt value is the base", () => {
  const batch = makeBatch([EX2]);
  assert.deepEqual(spoChainCutpoints(logs([0.4, 0.95, 0.7, 0.99]), undefined, { threshold: 0.9, interval: 1 }), [-1, 1]);
  assertClose(runMethod("spo-chain", batch, { interval: 1, whiten: false, probMask: false }).advantages, [-0.25, -0.25, -0.25, -0.25], 1e-12, 0);
  assertClose(runMethod("spo-chain", batch, { interval: 1, whiten: false }).advantages, [-0.25, 0, -0.25, 0], 1e-12, 0);
});

test("spo-chain: worked example 3: no cutpoints, all zero", () => {
  const batch = makeBatch([EX3]);
  assert.deepEqual(spoChainCutpoints(logs([0.99, 0.95, 0.93]), undefined, { threshold: 0.9, interval: 1 }), []);
  for (const probMask of [true, false]) {
    assertClose(runMethod("spo-chain", batch, { interval: 1, probMask }).advantages, [0, 0, 0], 0, 0);
  }
});

test("spo-chain: worked example: whitening of the batch {Ex1 (interval 1), Ex2}", () => {
  const batch = makeBatch([EX1, { ...EX2, group: "h" }]);
  const out = runMethod("spo-chain", batch, { interval: 1 });
  assertClose(out.advantages, [0, -0.7905694, 0, 1.5811388, 0, 0.7905694, 0, 0, -0.7905694, 0, -0.7905694, 0], 1e-6, 0);
  assertClose(out.weights!, [0, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0], 0, 0);
  // Default interval 5: Ex1 keeps only cutpoint 0 (first segment 0, the rest R - V(0) = 0.5).
  const dflt = runMethod("spo-chain", batch, { whiten: false });
  assertClose(dflt.advantages, [0, 0.5, 0, 0.5, 0, 0.5, 0.5, 0, -0.5, 0, -0.5, 0], 1e-12, 0);
});

test("spo-chain: whitening set: probMask false uses every mask-1 token; fewer than 2 tokens skip it", () => {
  const batch = makeBatch([EX1]);
  const raw = [0, -0.25, -0.25, 0.5, 0.5, 0.25, 0, 0];
  const mean = raw.reduce((a, b) => a + b, 0) / 8;
  const variance = raw.reduce((a, b) => a + (b - mean) ** 2, 0) / 7;
  const out = runMethod("spo-chain", batch, { interval: 1, probMask: false });
  assertClose(out.advantages, raw.map((x) => (x - mean) / Math.sqrt(variance + 1e-8)), 1e-12, 1e-12);
  // One low-probability token in the batch: no whitening.
  const one = makeBatch([{ tokens: [1, 2, 3], reward: 1, logprobs: logs([0.99, 0.5, 0.99]), signals: { cut_values: { "0": 0.25 } } }]);
  const o = runMethod("spo-chain", one, { interval: 1 });
  assertClose(o.advantages, [0, 0.75, 0], 1e-12, 0);
});

test("spo-chain: mask-0 tokens are never cutpoint tokens and get 0; a cutpoint may sit on a tool token", () => {
  const lp = logs([0.98, 0.6, 0.1, 0.2, 0.5, 0.97]);
  const mask = [1, 1, 0, 0, 1, 1];
  assert.deepEqual(spoChainCutpoints(lp, mask, { threshold: 0.9, interval: 1 }), [0, 3]);
  const batch = makeBatch([{ tokens: seqTokens(6), mask, reward: 1, logprobs: lp, signals: { cut_values: { "0": 0.5, "3": 0.75, "99": 0 } } }]);
  const out = runMethod("spo-chain", batch, { interval: 1, whiten: false, probMask: false });
  // Segments [0,0] (no base) -> 0, (0,3] -> 0.25, (3,5] -> R - 0.75.
  assertClose(out.advantages, [0, 0.25, 0, 0, 0.25, 0.25], 1e-12, 0);
  const w = runMethod("spo-chain", batch, { interval: 1, whiten: false });
  assertClose(w.weights!, [0, 1, 0, 0, 1, 0], 0, 0);
  assertClose(w.advantages, [0, 0.25, 0, 0, 0.25, 0], 1e-12, 0);
});

test("spo-chain: p equal to the threshold is not a cutpoint, keeps its advantage, weighs 0; outcome includes token_rewards", () => {
  const lp = logs([0.5, 0.7, 0.95]);
  const threshold = Math.exp(lp[1]);
  assert.deepEqual(spoChainCutpoints(lp, undefined, { threshold, interval: 1 }), [-1]);
  const batch = makeBatch([{ tokens: [1, 2, 3], reward: 1, token_rewards: [0, 0, -0.5], logprobs: lp, signals: { start_value: 0.2 } }]);
  const out = runMethod("spo-chain", batch, { threshold, interval: 1, whiten: false });
  assertClose(out.advantages, [0.3, 0.3, 0], 1e-12, 0);
  assertClose(out.weights!, [1, 0, 0], 0, 0);
});

test("spo-chain: edge cases: empty response, singleton group, unfinished rollout, extra keys", () => {
  const batch = makeBatch([
    { tokens: [], reward: 1, logprobs: [] },
    { tokens: [1, 2], group: "alone", reward: 1, finished: false, logprobs: logs([0.5, 0.5]), signals: { start_value: 0.5, cut_values: { "0": 0.75, "7": 1 } } },
  ]);
  const out = runMethod("spo-chain", batch, { interval: 1, whiten: false, probMask: false });
  assertClose(out.advantages, [0.25, 0.25], 1e-12, 0);
  for (const x of runMethod("spo-chain", batch).advantages) assert.ok(Number.isFinite(x));
});

test("spo-chain: input errors: missing cut value, missing start value, wrong types, missing logprobs", () => {
  const isErr = (field: string, re: RegExp) => (e: unknown) => e instanceof InputError && e.field === field && e.line === 1 && re.test(e.detail);
  const missingKey = makeBatch([{ ...EX1, signals: { cut_values: { "0": 0.5, "2": 0.25, "5": 1 } } }]);
  assert.throws(() => runMethod("spo-chain", missingKey, { interval: 1 }), isErr("signals.cut_values", /cutpoint "4"/));
  // With interval 2 cutpoint 4 is still needed, 2 and 5 are not.
  assert.throws(() => runMethod("spo-chain", missingKey, { interval: 2 }), isErr("signals.cut_values", /cutpoint "4"/));
  const noValues = makeBatch([{ ...EX1, signals: undefined }]);
  assert.throws(() => runMethod("spo-chain", noValues), isErr("signals.cut_values", /missing/));
  const noStart = makeBatch([{ ...EX2, signals: { cut_values: { "1": 0.25 } } }]);
  assert.throws(() => runMethod("spo-chain", noStart, { interval: 1 }), isErr("signals.start_value", /token 0/));
  const badType = makeBatch([{ ...EX1, signals: { cut_values: [0.5, 0.25] } }]);
  assert.throws(() => runMethod("spo-chain", badType), isErr("signals.cut_values", /object/));
  const badValue = makeBatch([{ ...EX1, signals: { cut_values: { "0": "0.5" } } }]);
  assert.throws(() => runMethod("spo-chain", badValue), isErr("signals.cut_values", /finite number/));
  const badStart = makeBatch([{ ...EX2, signals: { start_value: null, cut_values: { "1": 0.25 } } }]);
  assert.throws(() => runMethod("spo-chain", badStart), isErr("signals.start_value", /finite number/));
  const noLogprobs = makeBatch([{ tokens: [1], reward: 1 }]);
  assert.throws(() => runMethod("spo-chain", noLogprobs), (e: unknown) => e instanceof InputError && e.field === "logprobs");
});

test("spo-chain: the bundled example runs with every interval", () => {
  const text = readFileSync(resolve(process.cwd(), "examples/spo.jsonl"), "utf8");
  const values = text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as unknown);
  const batch = batchFromObjects(values, "spo.jsonl", { knownSignals: knownSignals() });
  for (const interval of [1, 2, 3, 5]) {
    const out = runMethod("spo-chain", batch, { interval });
    for (const x of out.advantages) assert.ok(Number.isFinite(x));
  }
  const ex1 = runMethod("spo-chain", batch, { interval: 1, whiten: false });
  assertClose(rowOf(batch, ex1.advantages, 0), [0, -0.25, 0, 0.5, 0, 0.25, 0, 0], 1e-12, 0);
});

// ---- Property tests over random small batches.

const P_VALUES = [0.2, 0.5, 0.7, 0.85, 0.9, 0.93, 0.97, 1];

interface Roll { p: number[]; reward: number; values: number[]; start: number }

const rollArb: fc.Arbitrary<Roll> = fc.record({
  p: fc.array(fc.constantFrom(...P_VALUES), { maxLength: 10 }),
  reward: fc.constantFrom(0, 1),
  values: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 10, maxLength: 10 }),
  start: fc.double({ min: 0, max: 1, noNaN: true }),
});

/** Rows carrying a value for every candidate cutpoint (extra keys are allowed). */
function rowsOf(rolls: Roll[]): PartialRow[] {
  return rolls.map((r, i) => {
    const cutValues: Record<string, number> = {};
    for (let c = 0; c < r.p.length; c++) cutValues[String(c)] = r.values[c];
    return { tokens: seqTokens(r.p.length), group: `g${i % 2}`, reward: r.reward, logprobs: logs(r.p), signals: { cut_values: cutValues, start_value: r.start } };
  });
}

/** The episode side transcribed from MathEpisodeGeneratorWithMCAdvantages (token values, forward pass, backward fill, mask). */
function referenceEpisode(r: Roll, interval: number, probMask: boolean): number[] {
  const p = logs(r.p).map((x) => Math.exp(x));
  const L = p.length;
  const candidates = p.map((x, t) => [x, t] as const).filter(([x]) => x < 0.9).map(([, t]) => t - 1);
  let cutpoints = candidates.filter((_, j) => j % interval === 0);
  if (cutpoints.length === 0) return new Array<number>(L).fill(0);
  const tv = new Map<number, number>([[L - 1, r.reward]]);
  for (const c of cutpoints) if (c >= 0) tv.set(c, r.values[c]);
  let base: number | undefined;
  if (cutpoints[0] === -1) {
    base = r.start;
    cutpoints = cutpoints.slice(1);
  }
  const adv: (number | undefined)[] = new Array<number | undefined>(L).fill(undefined);
  for (let i = 0; i < L; i++) {
    const v = tv.get(i);
    if (v === undefined) continue;
    adv[i] = base === undefined ? 0 : v - base;
    base = v;
  }
  for (let i = L - 2; i >= 0; i--) if (adv[i] === undefined) adv[i] = adv[i + 1];
  return adv.map((a, i) => (probMask && p[i] > 0.9 ? 0 : (a as number)));
}

test("spo-chain: property: matches the reference episode generator and trainer whitening", () => {
  fc.assert(
    fc.property(fc.array(rollArb, { minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 4 }), fc.boolean(), fc.boolean(), (rolls, interval, probMask, whiten) => {
      const batch = makeBatch(rowsOf(rolls));
      const out = runMethod("spo-chain", batch, { interval, probMask, whiten });
      const raw = rolls.flatMap((r) => referenceEpisode(r, interval, probMask));
      const p = rolls.flatMap((r) => logs(r.p).map((x) => Math.exp(x)));
      let inSet = p.map((x) => (probMask ? x < 0.9 : true));
      if (!inSet.some(Boolean)) inSet = p.map(() => true);
      const setVals = raw.filter((_, k) => inSet[k]);
      let expected = raw;
      if (whiten && setVals.length >= 2) {
        const mean = setVals.reduce((a, b) => a + b, 0) / setVals.length;
        const variance = setVals.reduce((a, b) => a + (b - mean) ** 2, 0) / (setVals.length - 1);
        expected = raw.map((a) => (a - mean) / Math.sqrt(variance + 1e-8));
      }
      if (probMask) {
        // What a trainer uses is advantages x weights; the weight is 1 exactly on p < 0.9.
        assertClose(out.weights!, p.map((x) => (x < 0.9 ? 1 : 0)), 0, 0);
        const product = Array.from(out.advantages, (a, k) => a * out.weights![k]);
        assertClose(product, expected.map((e, k) => (p[k] < 0.9 ? e : 0)), 1e-9, 1e-9);
      } else {
        assert.equal(out.weights, undefined);
        assertClose(out.advantages, expected, 1e-9, 1e-9);
      }
    }),
    { numRuns: 300 },
  );
});

test("spo-chain: property: the values spoChainCutpoints lists are exactly the ones the method needs", () => {
  fc.assert(
    fc.property(rollArb, fc.integer({ min: 1, max: 4 }), fc.double({ min: 0.3, max: 0.99, noNaN: true }), fc.nat(), (r, interval, threshold, pick) => {
      const lp = logs(r.p);
      const cuts = spoChainCutpoints(lp, undefined, { threshold, interval });
      const signals: Record<string, unknown> = { cut_values: Object.fromEntries(cuts.filter((c) => c >= 0).map((c) => [String(c), r.values[c]])) };
      if (cuts[0] === -1) signals.start_value = r.start;
      const row = { tokens: seqTokens(r.p.length), reward: r.reward, logprobs: lp, signals };
      runMethod("spo-chain", makeBatch([row]), { threshold, interval });
      if (cuts.length === 0) return;
      // Dropping any listed value is an input error.
      const drop = cuts[pick % cuts.length];
      const fewer: Record<string, unknown> = { cut_values: { ...(signals.cut_values as Record<string, number>) } };
      if (drop === -1) delete fewer.start_value;
      else {
        delete (fewer.cut_values as Record<string, number>)[String(drop)];
        if (cuts[0] === -1) fewer.start_value = r.start;
      }
      assert.throws(() => runMethod("spo-chain", makeBatch([{ ...row, signals: fewer }]), { threshold, interval }), InputError);
    }),
    { numRuns: 300 },
  );
});

test("spo-chain: low/high classification next to the threshold agrees with exp(logprob) compared directly", () => {
  // The method decides most tokens in log space and calls exp only inside a 1e-9 band around
  // log(threshold): logprobs in and just outside that band must classify exactly as exp does.
  for (const threshold of [0.9, 0.5, 1, 1e-200, 0]) {
    const l = Math.log(threshold);
    const lps: number[] = [];
    for (const d of [0, 1e-15, -1e-15, 1e-12, -1e-12, 5e-10, -5e-10, 1e-9, -1e-9, 2e-9, -2e-9, 1e-6, -1e-6]) {
      if (Number.isFinite(l + d)) lps.push(l + d);
    }
    for (let u = -3; u <= 3; u++) lps.push(Number.isFinite(l) ? l + u * Number.EPSILON * Math.max(1, Math.abs(l)) : -800 + u);
    lps.push(-745.5, -1000, 0);
    const expected: number[] = [];
    let candidates = 0;
    for (let k = 0; k < lps.length; k++) {
      if (Math.exp(lps[k]) < threshold) {
        if (candidates % 2 === 0) expected.push(k - 1);
        candidates++;
      }
    }
    assert.deepEqual(spoChainCutpoints(lps, undefined, { threshold, interval: 2 }), expected, `threshold ${threshold}`);
    // The method itself: weights mark exactly the p < threshold tokens.
    const batch = makeBatch([{ tokens: seqTokens(lps.length), reward: 1, logprobs: lps, signals: { start_value: 0, cut_values: Object.fromEntries(expected.filter((c) => c >= 0).map((c) => [String(c), 0.5])) } }]);
    const out = runMethod("spo-chain", batch, { threshold, interval: 2, whiten: false });
    assertClose(out.weights!, lps.map((x) => (Math.exp(x) < threshold ? 1 : 0)), 0, 0);
  }
});
