/**
 * The nine standard estimators against (1) values computed by hand / numpy from verl's formulas
 * and (2) a port of verl's padded [bs, T] loop implementations, on random batches that include
 * singleton groups, masked tool tokens mid-response, dense token rewards and zero-variance groups.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { runMethod } from "../../src/core/registry.js";
import { assertClose, makeBatch, rowOf, type PartialRow } from "../helpers.js";

describe("hand-computed cases", () => {
  it("grpo: 3-rollout group [1, 0, 1], unbiased std, eps 1e-6", () => {
    const b = makeBatch([
      { tokens: [1, 2], reward: 1 },
      { tokens: [3, 4, 5], reward: 0 },
      { tokens: [6], reward: 1 },
    ]);
    const out = runMethod("grpo", b);
    assertClose(rowOf(b, out.advantages, 0), [0.57734927, 0.57734927], 1e-7);
    assertClose(rowOf(b, out.advantages, 1), [-1.15469854, -1.15469854, -1.15469854], 1e-7);
    assertClose(rowOf(b, out.advantages, 2), [0.57734927], 1e-7);
    assertClose(out.returns!, out.advantages);
  });

  it("grpo: dense token_rewards add into the score; masked tool tokens get 0", () => {
    const b = makeBatch([
      { tokens: [1, 2, 3], reward: 1, token_rewards: [0.1, 0, -0.2] },
      { tokens: [4, 5, 6, 7], reward: 0, mask: [1, 0, 0, 1] },
      { tokens: [8], reward: 0.5 },
    ]);
    const out = runMethod("grpo", b);
    assertClose(rowOf(b, out.advantages, 0), [0.96098552, 0.96098552, 0.96098552], 1e-7);
    assertClose(rowOf(b, out.advantages, 1), [-1.03490748, 0, 0, -1.03490748], 1e-7);
    assertClose(rowOf(b, out.advantages, 2), [0.07392196], 1e-7);
    const r = runMethod("rloo", b);
    assertClose(rowOf(b, r.advantages, 0), [0.65, 0.65, 0.65], 1e-12);
    assertClose(rowOf(b, r.advantages, 1), [-0.7, 0, 0, -0.7], 1e-12);
  });

  it("token_rewards on mask-0 (tool) tokens count in the score, as verl's sum(-1); 'trainable' leaves them out", () => {
    // A: tool reward 0.5 on its masked token (s = 0.5, or 0 with 'trainable'); B ties A at 0.5;
    // C is a singleton group whose only reward sits on a tool token (s = 1, or 0).
    const rows: PartialRow[] = [
      { tokens: [1, 2, 3], mask: [1, 0, 1], token_rewards: [0, 0.5, 0], reward: 0 },
      { tokens: [4, 5], reward: 0.5 },
      { tokens: [6, 7], mask: [0, 1], token_rewards: [1, 0], reward: 0, group: "solo" },
    ];
    const b = makeBatch(rows);
    const at = (out: { advantages: Float64Array }) => [out.advantages[0], out.advantages[3], out.advantages[6]];
    const sd = Math.sqrt(0.125); // unbiased std of [0, 0.5]
    const cases: [string, number[], number[]][] = [
      ["grpo", [0, 0, 1 / (1 + 1e-6)], [-0.25 / (sd + 1e-6), 0.25 / (sd + 1e-6), 0]],
      ["dr-grpo", [0, 0, 1], [-0.25, 0.25, 0]],
      ["rloo", [0, 0, 1], [-0.5, 0.5, 0]],
      ["opo", [0, 0, 1], [(0 - 0.5 * 2 / 4) , 0.5 - 0.5 * 2 / 4, 0]],
      ["gpg", [0, 0, 1], [-0.25 * 3, 0.25 * 3, 0]],
    ];
    for (const [m, all, trainable] of cases) {
      assertClose(at(runMethod(m, b)), all, 1e-12, 1e-9, `${m} all`);
      assertClose(at(runMethod(m, b, { scoreTokens: "trainable" })), trainable, 1e-12, 1e-9, `${m} trainable`);
    }
    // reinforce++-baseline: centred [0, 0, 1] broadcast, whitened over the five mask-1 tokens.
    const x = [0, 0, 0, 0, 1], mu = 0.2, v = x.reduce((acc, y) => acc + (y - mu) ** 2, 0) / 4;
    assertClose(at(runMethod("reinforce++-baseline", b)), [0, 0, 1].map((y) => (y - mu) / Math.sqrt(v + 1e-8)), 1e-9, 1e-9, "reinforce++-baseline");
    // grpo-passk: the tie within g gives 0 to both (the singleton needs its own check: it is an error).
    const pk = makeBatch(rows.slice(0, 2));
    assertClose(runMethod("grpo-passk", pk).advantages, [0, 0, 0, 0, 0], 0, 0, "grpo-passk tie");
    assertClose([runMethod("grpo-passk", pk, { scoreTokens: "trainable" }).advantages[3]], [0.5 / (sd + 1e-6)], 1e-12, 1e-9, "grpo-passk trainable");
    // Token-level estimators: verl's loops drop a reward that sits on a mask-0 token.
    const withValues = (rs: PartialRow[]) => makeBatch(rs.map((r) => ({ ...r, values: new Array(r.tokens.length).fill(0.1) })));
    const noTool = [{ ...rows[0], token_rewards: [0, 0, 0] }, rows[1], { ...rows[2], token_rewards: [0, 0] }];
    for (const m of ["reinforce++", "gae"]) {
      const opts = m === "gae" ? { whiten: false } : {};
      const withTool = runMethod(m, withValues(rows), opts);
      const without = runMethod(m, withValues(noTool), opts);
      assertClose(withTool.advantages, without.advantages, 0, 0, m);
    }
  });

  it("singleton groups: grpo gives s/(1+eps), rloo gives s, dr-grpo gives s", () => {
    const b = makeBatch([{ tokens: [1, 2], reward: 0.5, group: "alone" }]);
    assertClose(rowOf(b, runMethod("grpo", b).advantages, 0), [0.5 / (1 + 1e-6), 0.5 / (1 + 1e-6)], 1e-15);
    assertClose(rowOf(b, runMethod("rloo", b).advantages, 0), [0.5, 0.5], 0);
    assertClose(rowOf(b, runMethod("dr-grpo", b).advantages, 0), [0.5, 0.5], 0);
    assertClose(rowOf(b, runMethod("opo", b).advantages, 0), [0.5, 0.5], 0);
  });

  it("zero-variance group gives 0 everywhere", () => {
    const b = makeBatch([{ tokens: [1], reward: 1 }, { tokens: [2, 3], reward: 1 }]);
    for (const m of ["grpo", "dr-grpo", "rloo", "opo", "gpg"]) assertClose(runMethod(m, b).advantages, [0, 0, 0], 0, 0, m);
  });

  it("reinforce++: gamma 1 and 0.5, whitened over the batch", () => {
    const rows: PartialRow[] = [
      { tokens: [1, 2, 3], reward: 1 },
      { tokens: [4, 5], reward: 0, token_rewards: [0.5, -0.5], group: "h" },
    ];
    const b = makeBatch(rows);
    const g1 = runMethod("reinforce++", b);
    assertClose(g1.returns!, [1, 1, 1, 0, -0.5], 1e-15);
    assertClose(g1.advantages, [0.70710677, 0.70710677, 0.70710677, -0.70710677, -1.41421355], 1e-7);
    const g5 = runMethod("reinforce++", b, { gamma: 0.5 });
    assertClose(g5.returns!, [0.25, 0.5, 1, 0.25, -0.5], 1e-15);
    assertClose(g5.advantages, [-0.09225312, 0.36901248, 1.29154367, -0.09225312, -1.47604991], 1e-7);
  });

  it("gae: skips the masked token, whitens over the batch; returns = A + V", () => {
    const b = makeBatch([{ tokens: [1, 2, 3], reward: 1, mask: [1, 0, 1], values: [0.5, 9, 0.2] }]);
    const out = runMethod("gae", b, { gamma: 0.9, lambda: 0.8 });
    assertClose(out.returns!, [0.756, 0, 1], 1e-12);
    assertClose(out.advantages, [-0.70710676, 0, 0.70710676], 1e-7);
    const raw = runMethod("gae", b, { gamma: 0.9, lambda: 0.8, whiten: false });
    assertClose(raw.advantages, [0.256, 0, 0.8], 1e-12);
  });

  it("gae: values at masked positions never change the result (verl's multi-turn test)", () => {
    const rows = (v: number): PartialRow[] => [
      { tokens: [1, 2, 3, 4, 5], reward: 1, mask: [1, 1, 0, 0, 1], values: [0.1, 0.4, v, -v, 0.3] },
      { tokens: [6, 7], reward: 0, values: [0.2, 0.6] },
    ];
    const a = runMethod("gae", makeBatch(rows(0)), { gamma: 0.95, lambda: 0.9 });
    const b = runMethod("gae", makeBatch(rows(1e6)), { gamma: 0.95, lambda: 0.9 });
    assertClose(a.advantages, b.advantages, 0, 0);
    assertClose(a.returns!, b.returns!, 0, 0);
  });

  it("opo: length-weighted baseline", () => {
    // lengths 2 and 4 (one masked token excluded: 3), scores 1 and 0: b = (2*1 + 3*0)/5 = 0.4
    const b = makeBatch([{ tokens: [1, 2], reward: 1 }, { tokens: [3, 4, 5, 6], reward: 0, mask: [1, 1, 0, 1] }]);
    const out = runMethod("opo", b);
    assertClose(rowOf(b, out.advantages, 0), [0.6, 0.6], 1e-15);
    assertClose(rowOf(b, out.advantages, 1), [-0.4, -0.4, 0, -0.4], 1e-15);
  });

  it("grpo-passk: only the best response gets (r_max - r_2nd)/(std+eps); ties go to the first", () => {
    const b = makeBatch([{ tokens: [1], reward: 0.2 }, { tokens: [2], reward: 1 }, { tokens: [3], reward: 0.5 }]);
    const std = Math.sqrt(((0.2 - 17 / 30) ** 2 + (1 - 17 / 30) ** 2 + (0.5 - 17 / 30) ** 2) / 2);
    assertClose(runMethod("grpo-passk", b).advantages, [0, 0.5 / (std + 1e-6), 0], 1e-12);
    assertClose(runMethod("grpo-passk", b, { normByStd: false }).advantages, [0, 0.5, 0], 1e-15);
    const tie = makeBatch([{ tokens: [1], reward: 1 }, { tokens: [2], reward: 1 }]);
    assertClose(runMethod("grpo-passk", tie).advantages, [0, 0], 0);
    assert.throws(() => runMethod("grpo-passk", makeBatch([{ tokens: [1], reward: 1 }])), /at least 2 responses/);
  });

  it("gpg: alpha = B / #nonzero scores", () => {
    // B = 4, non-zero scores: 2 -> alpha 2; groups {1, 0} and {0, 1}... means 0.5
    const b = makeBatch([
      { tokens: [1], reward: 1 },
      { tokens: [2], reward: 0 },
      { tokens: [3], reward: 0, group: "h" },
      { tokens: [4], reward: 1, group: "h" },
    ]);
    assertClose(runMethod("gpg", b).advantages, [1, -1, -1, 1], 1e-15);
  });

  it("reinforce++-baseline: group-mean baseline then batch whitening", () => {
    const b = makeBatch([{ tokens: [1, 2], reward: 1 }, { tokens: [3], reward: 0 }]);
    // centred: [0.5, 0.5, -0.5]; mean 1/6; unbiased var = ((1/3)^2*2 + (2/3)^2)/2 = 1/3
    const x = [0.5, 0.5, -0.5], mu = 1 / 6, sd = Math.sqrt(1 / 3 + 1e-8);
    assertClose(runMethod("reinforce++-baseline", b).advantages, x.map((v) => (v - mu) / sd), 1e-12);
  });
});

// ---------------------------------------------------------------------------------------------
// A port of verl's loop estimators over padded [bs, T] arrays: an independent formulation of the
// same maths (dictionaries of group scores, right-padding, reversed-t loops) to check against.

interface Padded {
  T: number;
  r: number[][]; // token-level rewards, reward on the last mask-1 token
  m: number[][];
  v: number[][];
  index: string[];
  /**
   * Outcome scores. verl sums token_level_rewards over every position (mask-0 tokens included);
   * that equals reward + sum(token_rewards) except
   * for a response with no mask-1 token, where verl has nowhere to put the reward and
   * methods.md Part 0 fixes s = reward + sum(token_rewards): the contract is followed here.
   */
  score: number[];
}

const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);

function pad(rows: PartialRow[]): Padded {
  const T = Math.max(1, ...rows.map((x) => x.tokens.length));
  const r: number[][] = [], m: number[][] = [], v: number[][] = [];
  for (const row of rows) {
    const n = row.tokens.length;
    const mask = (row.mask as number[] | undefined) ?? new Array(n).fill(1);
    const tr = (row.token_rewards as number[] | undefined) ?? new Array(n).fill(0);
    const rr = new Array(T).fill(0), mm = new Array(T).fill(0), vv = new Array(T).fill(0);
    let last = -1;
    for (let t = 0; t < n; t++) {
      mm[t] = mask[t];
      rr[t] = tr[t]; // verl's token_level_rewards: every position, tool tokens included
      vv[t] = (row.values as number[] | undefined)?.[t] ?? 0;
      if (mask[t]) last = t;
    }
    if (last >= 0) rr[last] += row.reward as number;
    r.push(rr); m.push(mm); v.push(vv);
  }
  const score = rows.map((row, i) => (row.reward as number) + sum(r[i]) - (m[i].some((x) => x === 1) ? (row.reward as number) : 0));
  return { T, r, m, v, index: rows.map((x) => x.group as string), score };
}

const torchStd = (a: number[]) => {
  const mu = sum(a) / a.length;
  return Math.sqrt(sum(a.map((x) => (x - mu) ** 2)) / (a.length - 1));
};

function groupsOf(p: Padded, scores: number[]) {
  const id2score = new Map<string, number[]>();
  p.index.forEach((g, i) => id2score.set(g, [...(id2score.get(g) ?? []), scores[i]]));
  return id2score;
}

function refOutcome(p: Padded, kind: string): number[][] {
  const scores = p.score;
  const id2score = groupsOf(p, scores);
  const mean = (g: string) => { const s = id2score.get(g)!; return s.length === 1 ? 0 : sum(s) / s.length; };
  const std = (g: string) => { const s = id2score.get(g)!; return s.length === 1 ? 1 : torchStd(s); };
  let a: number[];
  switch (kind) {
    case "grpo": a = scores.map((s, i) => (s - mean(p.index[i])) / (std(p.index[i]) + 1e-6)); break;
    case "dr-grpo": a = scores.map((s, i) => s - mean(p.index[i])); break;
    case "rloo": a = scores.map((s, i) => { const n = id2score.get(p.index[i])!.length; return n > 1 ? (s * n) / (n - 1) - (mean(p.index[i]) * n) / (n - 1) : s; }); break;
    case "gpg": { const nz = scores.filter((s) => s !== 0).length; const alpha = scores.length / Math.max(1, nz); a = scores.map((s, i) => alpha * (s - mean(p.index[i]))); break; }
    case "opo": {
      const len = p.m.map(sum);
      a = scores.map((s, i) => {
        const members = p.index.map((g, j) => (g === p.index[i] ? j : -1)).filter((j) => j >= 0);
        if (members.length === 1) return s;
        const den = sum(members.map((j) => len[j]));
        return s - (den > 0 ? sum(members.map((j) => len[j] * scores[j])) / den : 0);
      });
      break;
    }
    default: throw new Error(kind);
  }
  return p.m.map((row, i) => row.map((x) => a[i] * x));
}

function refWhiten(x: number[][], m: number[][]): number[][] {
  const xs: number[] = [];
  x.forEach((row, i) => row.forEach((val, t) => { if (m[i][t]) xs.push(val); }));
  if (xs.length < 2) return x.map((row) => row.map(() => 0));
  const mu = sum(xs) / xs.length;
  const variance = sum(xs.map((val) => (val - mu) ** 2)) / (xs.length - 1);
  return x.map((row, i) => row.map((val, t) => (m[i][t] ? (val - mu) / Math.sqrt(variance + 1e-8) : 0)));
}

function refGae(p: Padded, gamma: number, lam: number): { adv: number[][]; ret: number[][] } {
  const bs = p.r.length;
  const adv = p.r.map((row) => row.map(() => 0));
  let nextvalues = new Array(bs).fill(0), lastgaelam = new Array(bs).fill(0);
  for (let t = p.T - 1; t >= 0; t--) {
    for (let i = 0; i < bs; i++) {
      const m = p.m[i][t];
      const delta = p.r[i][t] + gamma * nextvalues[i] - p.v[i][t];
      const lg = delta + gamma * lam * lastgaelam[i];
      nextvalues = nextvalues.slice(); lastgaelam = lastgaelam.slice();
      nextvalues[i] = p.v[i][t] * m + (1 - m) * nextvalues[i];
      lastgaelam[i] = lg * m + (1 - m) * lastgaelam[i];
      adv[i][t] = lastgaelam[i];
    }
  }
  const ret = adv.map((row, i) => row.map((a, t) => (p.m[i][t] ? a + p.v[i][t] : 0)));
  return { adv: refWhiten(adv, p.m), ret };
}

/** reinforce++ with masked tokens transparent: compact each row to its mask-1 tokens, run verl's loop. */
function refReinforcePP(p: Padded, gamma: number): { adv: number[][]; ret: number[][] } {
  const ret = p.r.map((row, i) => {
    const idx = row.map((_, t) => t).filter((t) => p.m[i][t]);
    const out = row.map(() => 0);
    let running = 0;
    for (let k = idx.length - 1; k >= 0; k--) {
      running = row[idx[k]] + gamma * running;
      out[idx[k]] = running;
    }
    return out;
  });
  return { adv: refWhiten(ret, p.m), ret };
}

/** verl's reinforce++ loop as written: the running return restarts after every mask-0 token. */
function refReinforcePPReset(p: Padded, gamma: number): { adv: number[][]; ret: number[][] } {
  const ret = p.r.map((row, i) => {
    const out = row.map(() => 0);
    let running = 0;
    for (let t = row.length - 1; t >= 0; t--) {
      running = row[t] + gamma * running;
      out[t] = running * p.m[i][t];
      running *= p.m[i][t];
    }
    return out;
  });
  return { adv: refWhiten(ret, p.m), ret };
}

function refBaseline(p: Padded): number[][] {
  return refWhiten(refOutcome(p, "dr-grpo"), p.m);
}

const unpadTo = (rows: PartialRow[], x: number[][]) => rows.flatMap((row, i) => x[i].slice(0, row.tokens.length));

/**
 * Doubles with magnitudes below 1e-12 snapped to 0. gpg counts the scores that are exactly non-zero,
 * and a score such as 5e-324 + 0.99 - 0.99 is 0 or 5e-324 depending on the order of the additions
 * (which no two implementations share, and torch's sum does not fix): such inputs test the
 * summation order, not the estimator.
 */
const snapped = (min: number, max: number) => fc.double({ min, max, noNaN: true }).map((x) => (Math.abs(x) < 1e-12 ? 0 : x));

const rowArb = fc.record({
  len: fc.integer({ min: 0, max: 7 }),
  group: fc.constantFrom("a", "b", "c", "d"),
  reward: fc.oneof(fc.constantFrom(0, 1), snapped(-3, 3)),
  maskBits: fc.array(fc.constantFrom(0, 1, 1, 1), { minLength: 7, maxLength: 7 }),
  dense: fc.boolean(),
  seed: fc.array(snapped(-1, 1), { minLength: 7, maxLength: 7 }),
});

type RowSpec = typeof rowArb extends fc.Arbitrary<infer T> ? T : never;

function toRows(specs: RowSpec[]): PartialRow[] {
  return specs.map((s) => {
    const row: PartialRow = { tokens: Array.from({ length: s.len }, (_, t) => t + 1), group: s.group, reward: s.reward, mask: s.maskBits.slice(0, s.len), values: s.seed.slice(0, s.len) };
    if (s.dense) row.token_rewards = s.seed.slice(0, s.len).map((x) => x / 4);
    return row;
  });
}

describe("equal to verl's loop implementations on random batches (1e-5 relative)", () => {
  const batches = fc.array(rowArb, { minLength: 1, maxLength: 12 });
  for (const kind of ["grpo", "dr-grpo", "rloo", "gpg", "opo"]) {
    it(kind, () => {
      fc.assert(fc.property(batches, (specs) => {
        const rows = toRows(specs);
        const out = runMethod(kind, makeBatch(rows));
        assertClose(out.advantages, unpadTo(rows, refOutcome(pad(rows), kind)), 1e-9, 1e-5, kind);
      }), { numRuns: 300 });
    });
  }
  it("reinforce++-baseline", () => {
    fc.assert(fc.property(batches, (specs) => {
      const rows = toRows(specs);
      assertClose(runMethod("reinforce++-baseline", makeBatch(rows)).advantages, unpadTo(rows, refBaseline(pad(rows))), 1e-7, 1e-5);
    }), { numRuns: 300 });
  });
  it("reinforce++ (gamma 1 and 0.9)", () => {
    fc.assert(fc.property(batches, fc.constantFrom(1, 0.9), (specs, gamma) => {
      const rows = toRows(specs);
      const out = runMethod("reinforce++", makeBatch(rows), { gamma });
      const ref = refReinforcePP(pad(rows), gamma);
      assertClose(out.returns!, unpadTo(rows, ref.ret), 1e-9, 1e-5, "returns");
      assertClose(out.advantages, unpadTo(rows, ref.adv), 1e-7, 1e-5, "advantages");
    }), { numRuns: 300 });
  });
  it("reinforce++ maskedTokens 'reset' equals verl's loop as written", () => {
    fc.assert(fc.property(batches, fc.constantFrom(1, 0.9), (specs, gamma) => {
      const rows = toRows(specs);
      const out = runMethod("reinforce++", makeBatch(rows), { gamma, maskedTokens: "reset" });
      const ref = refReinforcePPReset(pad(rows), gamma);
      assertClose(out.returns!, unpadTo(rows, ref.ret), 1e-9, 1e-5, "returns");
      assertClose(out.advantages, unpadTo(rows, ref.adv), 1e-7, 1e-5, "advantages");
    }), { numRuns: 300 });
  });
  it("gae (gamma, lambda in {1, 0.9})", () => {
    fc.assert(fc.property(batches, fc.constantFrom(1, 0.9), fc.constantFrom(1, 0.9), (specs, gamma, lambda) => {
      const rows = toRows(specs);
      const out = runMethod("gae", makeBatch(rows), { gamma, lambda });
      const ref = refGae(pad(rows), gamma, lambda);
      assertClose(out.returns!, unpadTo(rows, ref.ret), 1e-9, 1e-5, "returns");
      assertClose(out.advantages, unpadTo(rows, ref.adv), 1e-7, 1e-5, "advantages");
    }), { numRuns: 300 });
  });
  it("reinforce++ maskedTokens 'reset' is verl's older loop (running return restarts at mask-0 tokens)", () => {
    const b = makeBatch([{ tokens: [1, 2, 3, 4], reward: 1, mask: [1, 0, 1, 1] }]);
    const out = runMethod("reinforce++", b, { maskedTokens: "reset" });
    assertClose(out.returns!, [0, 0, 1, 1], 0); // token 0 is cut off from the future by the tool token
    assertClose(runMethod("reinforce++", b).returns!, [1, 0, 1, 1], 0);
  });
});

describe("core gae: caller-owned output buffers", () => {
  it("writing the advantages over r in place gives the same arrays as fresh outputs", async () => {
    const { gae } = await import("../../src/core/returns.js");
    fc.assert(
      fc.property(
        fc.array(fc.record({ r: fc.double({ min: -5, max: 5, noNaN: true }), v: fc.double({ min: -5, max: 5, noNaN: true }), m: fc.constantFrom(0, 1, 1, 1) }), { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 1, max: 29 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (toks, cut, gamma, lambda) => {
          const n = toks.length;
          const c = Math.min(cut, n);
          const offsets = Int32Array.from([0, c, n]);
          const r = Float64Array.from(toks, (t) => (t.m ? t.r : 0));
          const v = Float64Array.from(toks, (t) => t.v);
          const mask = Uint8Array.from(toks, (t) => t.m);
          const fresh = gae(r, v, mask, offsets, gamma, lambda);
          // Stale values in the caller's returns buffer must not leak onto mask-0 tokens.
          const out = { advantages: r.slice(), returns: new Float64Array(n).fill(7) };
          const got = gae(out.advantages, v, mask, offsets, gamma, lambda, out);
          assert.equal(got, out);
          assert.deepEqual(Array.from(got.advantages), Array.from(fresh.advantages));
          assert.deepEqual(Array.from(got.returns), Array.from(fresh.returns));
        },
      ),
    );
  });
});
