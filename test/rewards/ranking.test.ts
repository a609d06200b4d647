import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import {
  catalogPredicate, normalizeTitle, parseRankedList, rankDiscounts, rankRelevance, rankRewards, segmentItems, type TitleYear,
} from "../../src/rewards/ranking.js";
import { assertClose } from "../helpers.js";

// [completion, parsed list] pairs; the lists are the output of the reference's process_rec_raw
// (yaochenzhu/Rank-GRPO libs/utils.py, run in Python 3) on the same text.
const PARSE_CASES = [["1. **The Matrix (1999)**\n\n2. \"Heat\" (1995)\nfoo\n- Alien (Director's cut) (1979)", [["The Matrix", 1999], ["Heat", 1995], ["Alien", 1979]]], ["### Top picks\n1) Se7en (1995) - a thriller\n2. 'Fargo' (1996)\n* **Up** (2009)\n10 - Jaws (1975)\n#1 Rocky (1976)", [["Se7en", 1995], ["Fargo", 1996], ["Up", 2009], ["Jaws", 1975], ["1 Rocky", 1976]]], ["  __Blade Runner__ (1982)  \n\t - The Thing (1982) (remake)\n3.Her (2013)\n3. (500) Days of Summer (2009)\nAmélie   (2001)\n\"Quoted\" title (2000)", [["Blade Runner", 1982], ["The Thing", 1982], ["3.Her", 2013], ["Days of Summer", 2009], ["Amélie", 2001], ["\"Quoted\" title", 2000]]], ["No list here", []], ["", []], ["X (12345)\nY  (2020)x\n-- Z --  (2021)", [["Y", 2020], ["Z", 2021]]]];

test("parseRankedList matches the reference's process_rec_raw (markers, emphasis, quotes, parentheses, dropped lines)", () => {
  for (const [text, expected] of PARSE_CASES as [string, [string, number][]][]) {
    const got = parseRankedList(text);
    assert.ok(got !== null);
    assert.deepEqual(got.map((x) => [x.title, x.year]), expected, JSON.stringify(text));
  }
  assert.equal(parseRankedList(42), null);
});

test("methods.md §7 (d): discounts [1, 0.630930, 0.5]; log_decay rewards A=[1.5, 0.5, 0.5], B=[0.630930, 0.630930, 0]", () => {
  assertClose(rankDiscounts(3), [1, 0.63093, 0.5], 1e-6);
  assertClose(rankRewards([1, 0, 1], "log_decay"), [1.5, 0.5, 0.5], 1e-12);
  assertClose(rankRewards([0, 1, 0], "log_decay"), [0.63093, 0.63093, 0], 1e-6);
  assertClose(rankRewards([1, 0, 1], "exp_inf"), [1, 0, 1], 0);
});

test("property: log_decay r_k = sum_{j>=k} rel_j d_j, non-increasing for 0/1 relevance; exp_inf is the identity", () => {
  fc.assert(fc.property(fc.array(fc.constantFrom(0, 1), { maxLength: 25 }), (rel) => {
    const r = rankRewards(rel, "log_decay");
    const d = rankDiscounts(rel.length);
    for (let k = 0; k < rel.length; k++) {
      let s = 0;
      for (let j = k; j < rel.length; j++) s += rel[j] * d[j];
      assert.ok(Math.abs(r[k] - s) < 1e-12);
      if (k > 0) assert.ok(r[k] <= r[k - 1] + 1e-15);
    }
    assert.deepEqual(Array.from(rankRewards(rel, "exp_inf")), rel);
  }));
});

const GT: TitleYear[] = [["The Matrix", 1999], ["Heat", "1995"], ["Alien", 1979], ["Alien", 1979], ["Bad Year", "n/a"]];
const CATALOG: TitleYear[] = [["The Matrix", 1999], ["Heat", 1995], ["the matrix", 2000], ["Alien", "1979"], ["Alien", 1981], ["Up", 2009], ["Bad Year", 2000]];

test("relevance: seen titles, catalog, normalised title, year within +-2, each ground truth consumed once", () => {
  const recs = parseRankedList([
    "1. The  MATRIX (1999)", // parsed as "The MATRIX": not in the catalog as written
    "2. The Matrix (1999)", // hit
    "3. the matrix (2000)", // in the catalog, year within 1 of 1999, but The Matrix is consumed
    "4. Heat (1995)", // hit (ground-truth year given as a string)
    "5. Alien (1981)", // hit via year - 2
    "6. Alien (1979)", // hit: the second Alien entry
    "7. Up (2009)", // not in the ground truth
    "8. Bad Year (2000)", // ground-truth year unparseable
  ].join("\n"));
  const rel = rankRelevance(recs, GT, { ranks: 10, catalog: CATALOG });
  assert.deepEqual(Array.from(rel), [0, 1, 0, 1, 1, 1, 0, 0, 0, 0]);
  // seen titles are compared as written
  assert.deepEqual(Array.from(rankRelevance(recs, GT, { ranks: 4, catalog: CATALOG, seen: ["Heat"] })), [0, 1, 0, 0]);
  // ranks cut the list; without a catalog every pair is accepted (so rank 1 now hits)
  assert.deepEqual(Array.from(rankRelevance(recs, GT, { ranks: 2 })), [1, 0]);
  assert.deepEqual(Array.from(rankRelevance(null, GT, { ranks: 3 })), [0, 0, 0]);
  // year tolerance 0: exact years only
  assert.deepEqual(Array.from(rankRelevance(recs, GT, { ranks: 6, catalog: catalogPredicate(CATALOG), yearTolerance: 0 })), [0, 1, 0, 1, 0, 1]);
  assert.equal(normalizeTitle("  The\tMatrix  "), "the matrix");
});

test("year search order: exact, then +1, -1, +2, -2", () => {
  const gt: TitleYear[] = [["X", 2001], ["X", 1999]];
  const recs = [{ title: "X", year: 2000 }, { title: "X", year: 2000 }, { title: "X", year: 2000 }];
  // first 2000 takes 2001 (+1), the second takes 1999 (-1), the third finds nothing
  assert.deepEqual(Array.from(rankRelevance(recs, gt, { ranks: 3 })), [1, 1, 0]);
});

test("property: relevance is 0/1, of length ranks, and hits never exceed the ground-truth count", () => {
  const title = fc.constantFrom("A", "B", "C");
  fc.assert(fc.property(
    fc.array(fc.record({ title, year: fc.integer({ min: 1990, max: 1996 }) }), { maxLength: 12 }),
    fc.array(fc.tuple(title, fc.integer({ min: 1990, max: 1996 })), { maxLength: 5 }),
    fc.integer({ min: 1, max: 10 }),
    (recs, gt, ranks) => {
      const rel = rankRelevance(recs, gt, { ranks });
      assert.equal(rel.length, ranks);
      let hits = 0;
      for (const x of rel) { assert.ok(x === 0 || x === 1); hits += x; }
      assert.ok(hits <= gt.length);
    }));
});

test("segmentItems: a newline token ends its item; last unterminated item; EOS in no item", () => {
  const pieces = ["The", " Matrix", " (1999)\n", "Heat", " (1995)", "\n", "Up", " (2009)", "<|im_end|>"];
  assert.deepEqual(segmentItems(pieces), [2, 5, 7]);
  assert.deepEqual(segmentItems(pieces, { eos: false }), [2, 5, 8]);
  // "\r\n" counts as a newline; a token holding two newlines ends one item
  assert.deepEqual(segmentItems(["A", "\r\n", "B", ".\n\n", "C", "</s>"]), [1, 3, 4]);
  // blank lines: their own item (reference) or joined to the next item ("skip")
  const blank = ["A", "\n", "\n", "B", "\n", " ", "<eos>"];
  assert.deepEqual(segmentItems(blank), [1, 2, 4, 5]);
  assert.deepEqual(segmentItems(blank, { blankLines: "skip" }), [1, 4]);
  assert.deepEqual(segmentItems([]), []);
  assert.deepEqual(segmentItems(["<eos>"]), []);
});

test("property: segmentItems gives strictly increasing ends before EOS, one per newline token plus the tail", () => {
  fc.assert(fc.property(fc.array(fc.constantFrom("a", " b", "\n", "c\n", "\n\n", " "), { maxLength: 30 }), (body) => {
    const pieces = [...body, "<eos>"];
    const ends = segmentItems(pieces);
    for (let k = 1; k < ends.length; k++) assert.ok(ends[k] > ends[k - 1]);
    if (ends.length) assert.ok(ends[ends.length - 1] < body.length);
    const nl = body.filter((p) => p.includes("\n")).length;
    const tail = body.length > 0 && !body[body.length - 1].includes("\n") ? 1 : 0;
    assert.equal(ends.length, nl + tail);
    // skip mode never ends an item on a whitespace-only stretch
    const skip = segmentItems(pieces, { blankLines: "skip" });
    let prev = -1;
    for (const e of skip) {
      assert.ok(body.slice(prev + 1, e + 1).join("").trim().length > 0);
      prev = e;
    }
  }));
});

test("examples/ranked.jsonl: step_ends from segmentItems and step_rewards from rankRelevance of the text in meta", () => {
  const lines = readFileSync("examples/ranked.jsonl", "utf8").split("\n").filter((l) => l.trim() !== "");
  assert.ok(lines.length >= 4);
  for (const line of lines) {
    const row = JSON.parse(line) as { tokens: number[]; step_ends: number[]; step_rewards: number[]; finished?: boolean;
      meta: { pieces: string[]; ground_truth: TitleYear[]; seen: string[]; catalog: TitleYear[]; ranks: number } };
    const m = row.meta;
    assert.equal(m.pieces.length, row.tokens.length);
    const ends = segmentItems(m.pieces, { eos: row.finished !== false });
    assert.deepEqual(row.step_ends, ends);
    const rel = rankRelevance(parseRankedList(m.pieces.slice(0, row.finished === false ? undefined : -1).join("")), m.ground_truth, { ranks: m.ranks, seen: m.seen, catalog: m.catalog });
    assert.deepEqual(row.step_rewards, ends.map((_, k) => (k < m.ranks ? rel[k] : 0)));
  }
});
