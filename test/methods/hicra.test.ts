/**
 * HICRA (methods.md Part 2 section 7): planning-token matching, the paper formula A + alpha |A|
 * and the VeRL/TRL entropy variant, against the section's worked examples; plus the invariant
 * that without planning tokens the paper variant is GRPO.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { ConfigError, InputError } from "../../src/core/errors.js";
import { runMethod } from "../../src/core/registry.js";
import { planningMask } from "../../src/methods/hicra.js";
import { assertClose, makeBatch, rowOf, seqTokens, type PartialRow } from "../helpers.js";

// A singleton group's GRPO advantage is s / (1 + eps): these rewards give A = ±0.8.
const PLUS = 0.8 * (1 + 1e-6);
const IDS = [1, 5, 6, 7, 2, 5, 6, 3];
const GRAMS = [[5, 6, 7], [6, 3]];

describe("hicra: paper formula (worked example)", () => {
  it("grams [[5,6,7],[6,3]] on ids [1,5,6,7,2,5,6,3] mark [0,1,1,1,0,0,1,1]", () => {
    const b = makeBatch([{ tokens: IDS }]);
    assert.deepEqual(Array.from(planningMask(b, GRAMS)), [0, 1, 1, 1, 0, 0, 1, 1]);
  });

  it("A = 0.8 gives [0.8, 0.96, 0.96, 0.96, 0.8, 0.8, 0.96, 0.96]; A = -0.8 gives the -0.64 / -0.8 mirror", () => {
    const b = makeBatch([
      { tokens: IDS, reward: PLUS, group: "pos" },
      { tokens: IDS, reward: -PLUS, group: "neg" },
    ]);
    const out = runMethod("hicra", b, { grams: GRAMS });
    assertClose(rowOf(b, out.advantages, 0), [0.8, 0.96, 0.96, 0.96, 0.8, 0.8, 0.96, 0.96], 1e-12, 1e-12);
    assertClose(rowOf(b, out.advantages, 1), [-0.8, -0.64, -0.64, -0.64, -0.8, -0.8, -0.64, -0.64], 1e-12, 1e-12);
    assertClose(rowOf(b, out.diag!.tokens!.planning, 0), [0, 1, 1, 1, 0, 0, 1, 1], 0, 0);
  });

  it("signals.planning gives the same result as the grams, and the two are united", () => {
    const viaSignal = makeBatch([{ tokens: IDS, reward: PLUS, signals: { planning: [0, 1, 1, 1, 0, 0, 1, 1] } }]);
    assertClose(runMethod("hicra", viaSignal).advantages, [0.8, 0.96, 0.96, 0.96, 0.8, 0.8, 0.96, 0.96], 1e-12, 1e-12);
    const both = makeBatch([{ tokens: IDS, reward: PLUS, signals: { planning: [1, 0, 0, 0, 0, 0, 0, 0] } }]);
    assertClose(runMethod("hicra", both, { grams: [[6, 3]] }).advantages, [0.96, 0.8, 0.8, 0.8, 0.8, 0.8, 0.96, 0.96], 1e-12, 1e-12);
  });
});

describe("hicra: planning tokens", () => {
  it("gram windows never span a mask-0 token; overlapping matches are united; planning on mask-0 tokens is ignored", () => {
    const b = makeBatch([
      { tokens: [5, 6, 7, 9, 5, 6, 7], mask: [1, 1, 1, 1, 1, 0, 1] },
      { tokens: [4, 4, 4, 4] },
      { tokens: [8, 8], mask: [0, 1], signals: { planning: [1, 1] } },
    ]);
    const mask = planningMask(b, [[5, 6, 7], [4, 4, 4], [7, 9]]);
    assert.deepEqual(Array.from(mask), [1, 1, 1, 1, 0, 0, 0, /**/ 1, 1, 1, 1, /**/ 0, 1]);
  });

  it("a gram longer than the response or an empty response matches nothing", () => {
    const b = makeBatch([{ tokens: [5, 6] }, { tokens: [] }]);
    assert.deepEqual(Array.from(planningMask(b, [[5, 6, 7]])), [0, 0]);
  });

  it("bad signals.planning is an input error naming the line", () => {
    const cases: unknown[] = [[1, 0], "yes", [1, 0, 2], [true, false, false]];
    for (const planning of cases) {
      const b = makeBatch([{ tokens: [1, 2] }, { tokens: [1, 2, 3], signals: { planning } }]);
      assert.throws(() => runMethod("hicra", b), (e: unknown) => e instanceof InputError && e.line === 2 && e.field === "signals.planning", JSON.stringify(planning));
    }
  });

  it("bad grams are config errors", () => {
    const b = makeBatch([{ tokens: [1] }]);
    for (const grams of [[[]], [[1.5]], [[-1]], [1, 2], "5 6 7"]) {
      assert.throws(() => runMethod("hicra", b, { grams }), ConfigError, JSON.stringify(grams));
    }
  });
});

describe("hicra: verl variant (worked example)", () => {
  const rows = (planning: boolean): PartialRow[] => [
    { tokens: seqTokens(4), reward: 1, entropies: [0.1, 0.9, 0.3, 0.5], ...(planning ? { signals: { planning: [0, 0, 0, 1] } } : {}) },
    { tokens: seqTokens(3), reward: 0, entropies: [0.2, 0.8, 0.4], ...(planning ? { signals: { planning: [0, 0, 1] } } : {}) },
    { tokens: seqTokens(2), reward: 0, entropies: [0.7, 0.6] },
  ];

  it("no planning: only R1's token 1 (H > θ = 0.5, R1 correct and longer than 3) is amplified", () => {
    const b = makeBatch(rows(false));
    const out = runMethod("hicra", b, { variant: "verl" });
    assertClose(rowOf(b, out.advantages, 0), [1.1546985, 1.3856382, 1.1546985, 1.1546985], 1e-6, 0);
    assertClose(rowOf(b, out.advantages, 1), Array(3).fill(-0.5773493), 1e-6, 0);
    assertClose(rowOf(b, out.advantages, 2), Array(2).fill(-0.5773493), 1e-6, 0);
  });

  it("planning R1 t3, R2 t2: R1 [1.1546985, 1.3856382, 1.1546985, 1.3856382], R2 [.., -0.4618794]", () => {
    const b = makeBatch(rows(true));
    const out = runMethod("hicra", b, { variant: "verl" });
    assertClose(rowOf(b, out.advantages, 0), [1.1546985, 1.3856382, 1.1546985, 1.3856382], 1e-6, 0);
    assertClose(rowOf(b, out.advantages, 1), [-0.5773493, -0.5773493, -0.4618794], 1e-6, 0);
    assertClose(rowOf(b, out.advantages, 2), Array(2).fill(-0.5773493), 1e-6, 0);
  });

  it("a group without a correct response is unchanged, planning tokens included", () => {
    const b = makeBatch([
      { tokens: seqTokens(3), reward: 0, entropies: [1, 2, 3], signals: { planning: [1, 1, 1] } },
      { tokens: seqTokens(2), reward: 0, entropies: [1, 2] },
      { tokens: seqTokens(2), reward: -1, entropies: [1, 2], group: "neg", signals: { planning: [1, 1] } },
    ]);
    const out = runMethod("hicra", b, { variant: "verl" });
    assertClose(out.advantages, [0, 0, 0, 0, 0, -1 / (1 + 1e-6), -1 / (1 + 1e-6)], 1e-15, 0);
  });

  it("length and threshold count mask-1 tokens only; masked tokens get 0", () => {
    // R1 has 4 mask-1 tokens of 6 (mean length (4 + 3) / 2 = 3.5 < 4); θ over [0.1, 0.9, 0.3, 0.5] = 0.5.
    const b = makeBatch([
      { tokens: seqTokens(6), reward: 1, entropies: [0.1, 50, 0.9, 60, 0.3, 0.5], mask: [1, 0, 1, 0, 1, 1] },
      { tokens: seqTokens(3), reward: 0, entropies: [0.2, 0.8, 0.4] },
    ]);
    const out = runMethod("hicra", b, { variant: "verl" });
    const a = 0.5 / (Math.SQRT1_2 + 1e-6);
    assertClose(rowOf(b, out.advantages, 0), [a, 0, a * 1.2, 0, a, a], 1e-12, 1e-12);
    assertClose(rowOf(b, out.advantages, 1), [-a, -a, -a], 1e-12, 1e-12);
  });

  it("missing entropies are an input error for the verl variant only", () => {
    const b = makeBatch([{ tokens: [1], reward: 1, entropies: [0.5] }, { tokens: [2], reward: 0 }]);
    assert.throws(() => runMethod("hicra", b, { variant: "verl" }), (e: unknown) => e instanceof InputError && e.line === 2 && e.field === "entropies");
    runMethod("hicra", b);
  });
});

describe("hicra: properties", () => {
  const rowArb = fc.record({
    tokens: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 8 }),
    reward: fc.constantFrom(0, 1, 0.5, -1),
    group: fc.constantFrom("a", "b", "c"),
    maskBits: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
    planningBits: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
  });
  const toRows = (rs: { tokens: number[]; reward: number; group: string; maskBits: boolean[]; planningBits: boolean[] }[], withPlanning: boolean): PartialRow[] =>
    rs.map((r) => ({
      tokens: r.tokens,
      reward: r.reward,
      group: r.group,
      mask: r.tokens.map((_, t) => (r.maskBits[t] ? 1 : 0)),
      ...(withPlanning ? { signals: { planning: r.tokens.map((_, t) => (r.planningBits[t] ? 1 : 0)) } } : {}),
    }));

  it("without planning tokens the paper variant is the identity on GRPO", () => {
    fc.assert(fc.property(fc.array(rowArb, { minLength: 1, maxLength: 8 }), fc.double({ min: 0, max: 2, noNaN: true }), (rs, alpha) => {
      const b = makeBatch(toRows(rs, false));
      const grpo = runMethod("grpo", b).advantages;
      // Grams over ids 5..9 cannot match tokens drawn from 0..4.
      assertClose(runMethod("hicra", b, { alpha }).advantages, grpo, 0, 0);
      assertClose(runMethod("hicra", b, { alpha, grams: [[5, 6], [9]] }).advantages, grpo, 0, 0);
    }));
  });

  it("paper variant: planning mask-1 tokens get A + alpha |A|, all others GRPO's A", () => {
    fc.assert(fc.property(fc.array(rowArb, { minLength: 1, maxLength: 8 }), fc.double({ min: 0, max: 2, noNaN: true }), (rs, alpha) => {
      const b = makeBatch(toRows(rs, true));
      const grpo = runMethod("grpo", b).advantages;
      const out = runMethod("hicra", b, { alpha }).advantages;
      const planning = rs.flatMap((r) => r.tokens.map((_, t) => r.planningBits[t] && r.maskBits[t]));
      const expected = Array.from(grpo, (a, k) => (planning[k] ? a + alpha * Math.abs(a) : a));
      assertClose(out, expected, 1e-12, 1e-12);
    }));
  });

  it("verl variant only ever scales a token by 1 + alpha sign(A), never crossing 0, and leaves groups without a correct response alone", () => {
    fc.assert(fc.property(fc.array(rowArb, { minLength: 1, maxLength: 8 }), fc.nat(), (rs, seed) => {
      const rows = toRows(rs, true).map((r, i) => ({ ...r, entropies: r.tokens.map((_, t) => ((seed + 7 * i + 3 * t) % 11) / 10) }));
      const b = makeBatch(rows);
      const grpo = runMethod("grpo", b).advantages;
      const out = runMethod("hicra", b, { variant: "verl", alpha: 0.2 }).advantages;
      // A response is correct when its GRPO advantage is > 0: above its group's mean, or positive alone.
      const hasCorrect = (group: string): boolean => {
        const scores = rs.filter((r) => r.group === group).map((r): number => r.reward);
        const mean = scores.reduce((x, y) => x + y, 0) / scores.length;
        return scores.length === 1 ? scores[0] > 0 : scores.some((x) => x > mean);
      };
      for (let i = 0; i < b.n; i++) {
        const groupHasCorrect = hasCorrect(rs[i].group);
        for (let k = b.offsets[i]; k < b.offsets[i + 1]; k++) {
          const a = grpo[k];
          const ok = out[k] === a || Math.abs(out[k] - a * (1 + 0.2 * Math.sign(a))) < 1e-12;
          assert.ok(ok, `token ${k}: ${out[k]} vs A ${a}`);
          if (!groupHasCorrect) assert.equal(out[k], a);
        }
      }
    }));
  });
});

describe("hicra: examples/planning.jsonl", () => {
  it("validates and runs both variants; the paper variant scales exactly the mask-1 planning tokens", () => {
    const rows = readFileSync("examples/planning.jsonl", "utf8").split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as PartialRow);
    const b = makeBatch(rows);
    const grpo = runMethod("grpo", b).advantages;
    const out = runMethod("hicra", b);
    for (let i = 0; i < b.n; i++) {
      const planning = (rows[i].signals as { planning?: number[] } | undefined)?.planning ?? [];
      const expected = rowOf(b, grpo, i).map((a, t) => (planning[t] === 1 && b.mask[b.offsets[i] + t] === 1 ? a + 0.2 * Math.abs(a) : a));
      assertClose(rowOf(b, out.advantages, i), expected, 1e-12, 1e-12, rows[i].id as string);
    }
    // p1-1 holds the gram 7 8 9 across a tool span: with the gram configured it still matches only in p1-0 and p2-0.
    const withGram = runMethod("hicra", b, { grams: [[7, 8, 9]] });
    assertClose(withGram.diag!.tokens!.planning, out.diag!.tokens!.planning, 0, 0);
    const verl = runMethod("hicra", b, { variant: "verl" });
    assert.ok(verl.advantages.every(Number.isFinite));
  });
});
