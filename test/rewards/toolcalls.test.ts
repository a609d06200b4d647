import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import {
  answerF1, greedyAssignment, hardRewards, keyJaccard, optimalAssignment, parseToolCall, pyEqual, responseTurnRewards,
  similarityMatrix, sinkhorn, softRewards, toolSimilarity, turnRewards, TURN_SEPARATOR, type Turn, type TurnRewardOptions,
} from "../../src/rewards/toolcalls.js";
import { assertClose } from "../helpers.js";

// methods.md §8 (d)
const G1 = { name: "search", parameters: { q: "cats", k: 5 } };
const G2 = { name: "weather", parameters: { city: "Paris" } };
const P1 = { name: "search", arguments: JSON.stringify({ q: "cats", k: 3 }) };
const P2 = { name: "search", arguments: '{"q": "dogs"}' };
const P3 = { name: "weather", arguments: { city: "Paris" } };
const PREDS = [P1, P2, P3];
const GTS = [G1, G2];

// Plans of POT 0.9.7 `ot.sinkhorn(ones(P)/P, ones(G)/G, -S, reg=0.1)`, rewards = (T * S).sum(1).
const POT_CASES = [{"P": 4, "G": 6, "S": [1.0, 0.75, 0.75, 1.0, 0.5, 0.75, 1.0, 0.25, 0.0, 0.25, 0.25, 1.0, 1.0, 0.0, 0.5, 1.0, 0.0, 0.75, 0.0, 0.5, 1.0, 0.25, 0.25, 0.25], "rewards": [0.17444446539515074, 0.22244679618079605, 0.24139234906255505, 0.19671830296964]}, {"P": 5, "G": 3, "S": [0.25487, 0.445076, 0.504548, 0.553497, 0.9955, 0.792662, 0.622179, 0.98896, 0.215309, 0.160212, 0.61254, 0.043942, 0.03568, 0.514889, 0.466206], "rewards": [0.08120447869638847, 0.16228010789705447, 0.15511596798702448, 0.08793442136730864, 0.08800157324636808]}, {"P": 6, "G": 6, "S": [1.0, 1.0, 1.0, 0.75, 0.5, 0.5, 0.25, 0.5, 0.25, 0.25, 1.0, 0.0, 0.0, 0.0, 1.0, 0.75, 1.0, 0.25, 0.75, 0.25, 0.5, 0.0, 0.75, 1.0, 0.75, 0.0, 0.5, 0.25, 1.0, 1.0, 0.0, 0.5, 1.0, 1.0, 0.75, 0.75], "rewards": [0.16578017815291096, 0.13936822255815273, 0.15810679430547178, 0.14649128159182162, 0.15112974950809566, 0.16515172040835055]}, {"P": 1, "G": 4, "S": [0.741771, 0.091496, 0.541144, 0.507772], "rewards": [0.47054575]}, {"P": 3, "G": 1, "S": [0.75, 1.0, 0.75], "rewards": [0.25, 0.33333333333333337, 0.25]}];

test("methods.md §8 (d): similarities 0.75, 0.375, 1.0, all others 0", () => {
  assertClose(similarityMatrix(PREDS, GTS), [0.75, 0, 0.375, 0, 0, 1], 1e-15);
  assert.equal(toolSimilarity(P1, G1), (1 + 1 + 1) / 4);
  assert.equal(toolSimilarity(P2, G1), (1 + 0.5 + 0) / 4);
});

test("methods.md §8 (d): greedy assignment [g1, none, g2], rewards [0.75, 0, 1.0]; optimal agrees here", () => {
  const S = similarityMatrix(PREDS, GTS);
  assert.deepEqual(Array.from(greedyAssignment(S, 3, 2)), [0, -1, 1]);
  assert.deepEqual(Array.from(optimalAssignment(S, 3, 2)), [0, -1, 1]);
  assert.deepEqual(hardRewards(PREDS, GTS), [0.75, 0, 1]);
  assert.deepEqual(hardRewards(PREDS, GTS, { assignment: "hungarian" }), [0.75, 0, 1]);
  // the reference function's own default penalty
  assert.deepEqual(hardRewards(PREDS, GTS, { unmatchedPenalty: -0.5 }), [0.75, -0.5, 1]);
});

test("methods.md §8 (d) + Part 0: Sinkhorn plan and rewards [0.244712, 0.065144, 0.33333295]", () => {
  const S = similarityMatrix(PREDS, GTS);
  const { plan } = sinkhorn(S, 3, 2);
  assertClose(plan, [0.326283, 0.007051, 0.173717, 0.159616, 0, 0.333333], 1e-6);
  const r = softRewards(PREDS, GTS);
  assertClose(r, [0.244712, 0.065144, 0.333333], 1e-6);
  assertClose([r[2]], [0.33333295], 1e-8); // Part 0's correction of the section's 0.333333
});

test("Sinkhorn reproduces POT's ot.sinkhorn on other matrices (ties, P < G, P > G, one row, one column)", () => {
  for (const c of POT_CASES) {
    const { plan } = sinkhorn(c.S, c.P, c.G);
    const rewards = Array.from({ length: c.P }, (_, i) => {
      let acc = 0;
      for (let j = 0; j < c.G; j++) acc += plan[i * c.G + j] * c.S[i * c.G + j];
      return acc;
    });
    assertClose(rewards, c.rewards, 1e-10, 1e-8, `POT case ${c.P}x${c.G}`);
  }
});

test("methods.md §8 (d): answer F1 of 'Paris is sunny' vs 'sunny' is 0.5", () => {
  assert.equal(answerF1("Paris is sunny", "sunny"), 0.5);
  assert.equal(answerF1("The answer: PARIS!", "paris"), 0.5); // lowercase, punctuation to spaces; set {the, answer, paris}
  assert.equal(answerF1("", "x"), 0);
  assert.equal(answerF1("a a a", "a"), 1); // sets, not multisets
});

test("key Jaccard is the reference's multiset match_score", () => {
  assert.equal(keyJaccard([], []), 1);
  assert.equal(keyJaccard(["a"], []), 0);
  assert.equal(keyJaccard(["a", "b"], ["b", "a"]), 1);
  assert.equal(keyJaccard(["a", "a", "b"], ["a", "c"]), 1 / 4);
  assert.equal(keyJaccard(["q", "k"], ["q"]), 0.5);
});

test("value equality is Python's ==: 1 == 1.0, true == 1, '1' != 1, containers deep", () => {
  assert.ok(pyEqual(1, 1.0) && pyEqual(true, 1) && pyEqual(false, 0));
  assert.ok(!pyEqual("1", 1) && !pyEqual(null, 0) && !pyEqual([1], 1));
  assert.ok(pyEqual({ a: [1, { b: "x" }] }, { a: [1, { b: "x" }] }));
  assert.ok(!pyEqual({ a: 1 }, { a: 1, b: 2 }) && !pyEqual([1, 2], [2, 1]));
  const p = { name: "f", arguments: '{"n": 2.0, "flag": 1}' };
  assert.equal(toolSimilarity(p, { name: "F", parameters: { n: 2, flag: true } }), (1 + 1 + 2) / 4);
});

test("tool calls: accepted shapes and malformed calls score 0 without throwing", () => {
  assert.deepEqual(parseToolCall('{"name": "f", "arguments": "{\\"x\\": 1}"}'), { name: "f", args: { x: 1 } });
  assert.deepEqual(parseToolCall({ type: "function", function: { name: "f", arguments: "{}" } }), { name: "f", args: {} });
  assert.deepEqual(parseToolCall({ name: "f" }), { name: "f", args: {} });
  const parsed = parseToolCall(P1)!;
  assert.deepEqual(parseToolCall(parsed), parsed); // parsed calls pass through unchanged
  assert.equal(toolSimilarity(parsed, parseToolCall(G1)), 0.75);
  assert.equal(parseToolCall({ name: "f", arguments: null }), null);
  for (const bad of ["{bad json", { name: 3 }, { name: "search", arguments: "{q: cats}" }, { name: "search", arguments: [1] }, null, 7, []]) {
    assert.equal(parseToolCall(bad), null);
    assert.equal(toolSimilarity(bad, G1), 0);
    assert.equal(toolSimilarity(P1, bad), 0);
  }
  fc.assert(fc.property(fc.anything(), fc.anything(), (a, b) => {
    const s = toolSimilarity(a, b);
    return Number.isFinite(s) && s >= 0 && s <= 1;
  }));
});

const simMatrix = fc.integer({ min: 0, max: 6 }).chain((P) => fc.integer({ min: 0, max: 6 }).chain((G) =>
  fc.array(fc.oneof(fc.constantFrom(0, 0.25, 0.5, 1), fc.double({ min: 0, max: 1, noNaN: true })), { minLength: P * G, maxLength: P * G })
    .map((S) => ({ P, G, S }))));

function bestTotal(S: number[], P: number, G: number, penalty: number): number {
  let best = -Infinity;
  const used = new Uint8Array(G);
  const rec = (i: number, acc: number): void => {
    if (i === P) { best = Math.max(best, acc); return; }
    rec(i + 1, acc + penalty);
    for (let j = 0; j < G; j++) {
      if (used[j] || !(S[i * G + j] > 0)) continue;
      used[j] = 1;
      rec(i + 1, acc + S[i * G + j]);
      used[j] = 0;
    }
  };
  rec(0, 0);
  return best;
}

test("property: greedy and optimal assignments are partial matchings on positive scores; optimal is maximal (brute force)", () => {
  fc.assert(fc.property(simMatrix, fc.constantFrom(0, -0.5, 0.2), ({ P, G, S }, penalty) => {
    for (const asg of [greedyAssignment(S, P, G), optimalAssignment(S, P, G, penalty)]) {
      const seen = new Set<number>();
      for (let i = 0; i < P; i++) {
        if (asg[i] < 0) continue;
        assert.ok(S[i * G + asg[i]] > 0 && !seen.has(asg[i]));
        seen.add(asg[i]);
      }
    }
    const opt = optimalAssignment(S, P, G, penalty);
    let total = 0;
    for (let i = 0; i < P; i++) total += opt[i] < 0 ? penalty : S[i * G + opt[i]];
    assert.ok(Math.abs(total - bestTotal(S, P, G, penalty)) < 1e-9);
    // greedy never beats the optimum
    const gr = greedyAssignment(S, P, G);
    let gTotal = 0;
    for (let i = 0; i < P; i++) gTotal += gr[i] < 0 ? penalty : S[i * G + gr[i]];
    assert.ok(gTotal <= total + 1e-12);
  }));
});

test("greedy ties: higher score, then smaller prediction index, then smaller ground-truth index", () => {
  assert.deepEqual(Array.from(greedyAssignment([0.5, 0.5, 0.5, 0.5], 2, 2)), [0, 1]);
  assert.deepEqual(Array.from(greedyAssignment([0.5, 0.5, 0.9, 0.5], 2, 2)), [1, 0]);
  // greedy is not optimal: p0 takes g0 (0.9) and p1 has nothing left; the optimum is 0.8 + 0.85
  const S = [0.9, 0.8, 0.85, 0];
  assert.deepEqual(Array.from(greedyAssignment(S, 2, 2)), [0, -1]);
  assert.deepEqual(Array.from(optimalAssignment(S, 2, 2)), [1, 0]);
});

test("property: Sinkhorn plan is nonnegative, rows sum to 1/P, columns to 1/G, rewards in [0, 1/P]", () => {
  fc.assert(fc.property(simMatrix, ({ P, G, S }) => {
    const { plan, err } = sinkhorn(S, P, G);
    if (P === 0 || G === 0) return plan.length === 0;
    for (let i = 0; i < P; i++) {
      let row = 0, rew = 0;
      for (let j = 0; j < G; j++) {
        assert.ok(plan[i * G + j] >= 0 && Number.isFinite(plan[i * G + j]));
        row += plan[i * G + j];
        rew += plan[i * G + j] * S[i * G + j];
      }
      assert.ok(Math.abs(row - 1 / P) < 1e-12);
      assert.ok(rew >= 0 && rew <= 1 / P + 1e-12);
    }
    let colErr = 0;
    for (let j = 0; j < G; j++) {
      let col = 0;
      for (let i = 0; i < P; i++) col += plan[i * G + j];
      colErr += (col - 1 / G) ** 2;
    }
    assert.ok(Math.sqrt(colErr) < Math.max(1e-8, err * 2));
    return true;
  }));
});

test("no ground truth: hard rewards are the penalty, soft rewards 0; no predictions: no rewards", () => {
  assert.deepEqual(hardRewards(PREDS, []), [0, 0, 0]);
  assert.deepEqual(hardRewards(PREDS, [], { unmatchedPenalty: -0.5 }), [-0.5, -0.5, -0.5]);
  assert.deepEqual(softRewards(PREDS, []), [0, 0, 0]);
  assert.deepEqual(hardRewards([], GTS), []);
  assert.deepEqual(softRewards([], GTS), []);
  assert.throws(() => sinkhorn([1], 1, 1, { reg: 0.001 }), RangeError);
});

test("turn rewards: calls of all turns matched together, turn mean, answer turn scored by F1", () => {
  const turns: Turn[] = [{ calls: [P1, P2] }, { calls: [] }, { calls: [P3] }, { answer: "Paris is sunny" }];
  // greedy: p1 -> 0.75, p2 -> 0, p3 -> 1.0
  assert.deepEqual(turnRewards(turns, GTS, "sunny"), [0.375, 0, 1, 0.5]);
  const soft = turnRewards(turns, GTS, "sunny", { matching: "sinkhorn" });
  assertClose(soft, [(0.244712057 + 0.065143826) / 2, 0, 0.33333295, 0.5], 1e-8);
  // an answer turn's calls are ignored
  assert.deepEqual(turnRewards([{ calls: [P3], answer: "sunny" }], GTS, "sunny"), [1]);
});

test("malformed calls: 'zero' keeps them as non-matching predictions, 'drop' removes them (parse_qwen)", () => {
  const turns: Turn[] = [{ calls: [P1, "{not json"] }, { calls: [{ name: "weather", arguments: "[1]" }] }];
  assert.deepEqual(turnRewards(turns, GTS, ""), [0.375, 0]);
  assert.deepEqual(turnRewards(turns, GTS, "", { malformed: "drop" }), [0.75, 0]);
  // with Sinkhorn a kept malformed call takes a row of the transport plan, so others earn less
  const zero = turnRewards(turns, GTS, "", { matching: "sinkhorn" });
  const drop = turnRewards(turns, GTS, "", { matching: "sinkhorn", malformed: "drop" });
  assertClose(drop, [softRewards([P1], GTS)[0], 0], 1e-15);
  assert.ok(zero[0] < drop[0]);
});

test("response transcripts: turns split on the assistant separator, <tool_call> blocks and <answer> parsed", () => {
  const t1 = '<think>look up</think>\n<tool_call>\n{"name": "search", "arguments": {"q": "cats", "k": 3}}\n</tool_call>\n<tool_call>{"name": "search", "arguments": {"q": "dogs"}}</tool_call><|im_end|>';
  const t2 = '<tool_call>{"name": "weather", "arguments": "{\\"city\\": \\"Paris\\"}"}</tool_call><|im_end|>';
  const t3 = "<answer>Paris is sunny</answer><|im_end|><|endoftext|>";
  const response = [t1, t2, t3].join(TURN_SEPARATOR);
  assert.deepEqual(responseTurnRewards(response, GTS, "sunny"), [0.375, 1, 0.5]);
});

test("examples/tool-turns.jsonl: step_rewards are turnRewards of the tool calls in meta", () => {
  const lines = readFileSync("examples/tool-turns.jsonl", "utf8").split("\n").filter((l) => l.trim() !== "");
  assert.ok(lines.length >= 4);
  for (const line of lines) {
    const row = JSON.parse(line) as { step_ends: number[]; step_rewards: number[]; meta: { turns: Turn[]; gt_calls: unknown[]; gt_answer: string; matching: TurnRewardOptions["matching"] } };
    const m = row.meta;
    assert.equal(row.step_ends.length, m.turns.length);
    assertClose(row.step_rewards, turnRewards(m.turns, m.gt_calls, m.gt_answer, { matching: m.matching }), 1e-12);
  }
});
