import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { getTask, judgeRanking, makeRankTask, mulberry32, RANK_ITEMS, RANK_SCORES, rankOrder, VOCAB } from "../../src/tasks/index.js";
import type { RankAnswer, TaskPrompt } from "../../src/tasks/index.js";

const task = getTask("rank");
const enc = (s: string): number[] => VOCAB.encode(s);
const EOS = VOCAB.eos;

function promptFor(items: string[]): TaskPrompt {
  return { id: `rank:${items.join("")}`, text: `${items.join("")}:`, tokens: [VOCAB.bos, ...enc(`${items.join("")}:`)], answer: { items } };
}

describe("rank", () => {
  it("scores every item a..p with a distinct hidden score", () => {
    const scores = [...RANK_ITEMS].map((c) => RANK_SCORES[c]).sort((a, b) => a - b);
    assert.deepEqual(scores, Array.from({ length: 16 }, (_, k) => k + 1));
  });

  // The true order of four items, computed from the scores (whatever the fixed permutation is).
  const items = ["d", "k", "a", "m"];
  const truth = [...items].sort((x, y) => RANK_SCORES[y] - RANK_SCORES[x]);
  const p = promptFor(items);

  it("accepts the true order with relevance 1 at every rank and item ends at the separators", () => {
    assert.deepEqual(rankOrder(items), truth);
    const demo = task.demonstration(p, mulberry32(0));
    assert.equal(VOCAB.decode(demo), `${truth.join(",")}$`);
    const v = task.verify(p, demo);
    assert.equal(v.reward, 1);
    assert.deepEqual(v.stepEnds, [1, 3, 5, 6]);
    assert.deepEqual(v.stepRewards, [1, 1, 1, 1]);
  });

  it("judges each rank on its own: a swap costs exactly the two ranks it touches", () => {
    const swapped = [truth[0], truth[2], truth[1], truth[3]];
    const v = task.verify(p, [...enc(swapped.join(",")), EOS]);
    assert.equal(v.reward, 0);
    assert.deepEqual(v.stepRewards, [1, 0, 0, 1]);
    const reversed = [...truth].reverse();
    assert.deepEqual(task.verify(p, [...enc(reversed.join(",")), EOS]).stepRewards, [0, 0, 0, 0]);
  });

  it("gives no relevance to short, long, repeated, unknown or malformed items", () => {
    // Fewer items: only the ranks present are items; the outcome needs all four.
    const short = task.verify(p, [...enc(truth.slice(0, 3).join(",")), EOS]);
    assert.deepEqual(short.stepRewards, [1, 1, 1]);
    assert.equal(short.reward, 0);
    // An extra item is an overflow rank with relevance 0.
    const long = task.verify(p, [...enc([...truth, truth[0]].join(",")), EOS]);
    assert.deepEqual(long.stepRewards, [1, 1, 1, 1, 0]);
    assert.equal(long.reward, 0);
    // A two-letter item, an empty item, an item outside the prompt's set.
    assert.deepEqual(task.verify(p, [...enc(`${truth[0]}${truth[1]},,z,${truth[3]}`), EOS]).stepRewards, [0, 0, 0, 1]);
    // A trailing separator ends the last item at itself.
    assert.deepEqual(judgeRanking(items, enc(`${truth.join(",")},`)).stepEnds, [1, 3, 5, 7]);
    assert.deepEqual(task.verify(p, [VOCAB.bos, EOS]).stepRewards, [0]);
    assert.deepEqual(task.verify(p, [EOS]), { reward: 0, correct: false, stepEnds: [], stepRewards: [], signals: { solved: false } });
    assert.deepEqual(task.verify(p, [...task.demonstration(p, mulberry32(0)), ...enc(",a")]).stepRewards, [1, 1, 1, 1]);
  });

  it("draws distinct items, splits by the item set, sizes the bound and asks rank-grpo for `count` ranks", () => {
    const rng = mulberry32(3);
    for (let k = 0; k < 200; k++) {
      const a = task.samplePrompt(rng).answer as RankAnswer;
      assert.equal(new Set(a.items).size, 4);
    }
    const evalSets = new Set(task.evalSet(200, 1).map((q) => [...(q.answer as RankAnswer).items].sort().join("")));
    for (let k = 0; k < 5000; k++) assert.ok(!evalSets.has([...(task.samplePrompt(rng).answer as RankAnswer).items].sort().join("")));
    assert.equal(task.maxResponseTokens, 8);
    assert.deepEqual(task.methodOptions, { "rank-grpo": { ranks: 4 } });
    assert.deepEqual(makeRankTask({ count: 6 }).methodOptions, { "rank-grpo": { ranks: 6 } });
    assert.throws(() => makeRankTask({ count: 9 }));
  });
});
