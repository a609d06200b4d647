/**
 * The episode runner with a scripted backend: tool outputs enter with mask 0, step ends fall at
 * turn ends, requests are batched per turn round, stop tokens are honoured even when the backend
 * runs on, budgets cut episodes, and BRPO's budget scores, LaSeR's self-reward and R3L's retries
 * come out as their methods read them.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  addBudgetScores, addSelfRewards, budgetRow, budgetStepEnds, episodeRow, firstImperfectTurn, getTask, mulberry32, oneAtATime, policyMask, r3lRetries, runEpisodes, turnRows, VOCAB,
} from "../../src/tasks/index.js";
import type { Generate, TaskPrompt } from "../../src/tasks/index.js";
import { scripted, scriptEntropy, scriptLogprob } from "./scripted.js";

const enc = (s: string): number[] => VOCAB.encode(s);
const tools = getTask("tools");
const chain = getTask("chain");

function toolsPrompt(expr: string, values: Record<string, number>): TaskPrompt {
  const hidden = Object.keys(values).map((c) => `${c}=${values[c]}`).join(",");
  return { id: `tools:${expr}|${hidden}`, text: `${expr}:`, tokens: [VOCAB.bos, ...enc(`${expr}:`)], answer: { expr, values } };
}

/** A backend that writes `text` (then eos) whatever it is asked. */
function writes(text: string): Generate {
  return (reqs) => reqs.map(() => {
    const tokens = [...enc(text), VOCAB.eos];
    return { tokens, logprobs: tokens.map(() => -1) };
  });
}

function chainPrompt(text: string, start: number, ops: string[], operands: number[]): TaskPrompt {
  return { id: `chain:${text}`, text: `${text}:`, tokens: [VOCAB.bos, ...enc(`${text}:`)], answer: { start, ops, operands } };
}

describe("runEpisodes", () => {
  const p = toolsPrompt("q*7+k", { q: 47, k: 85 });

  it("runs a tool episode: policy turns mask 1, tool outputs mask 0, one batched call per turn round", async () => {
    const s = scripted(tools, [p], 0, 1);
    const [ep] = await runEpisodes(tools, [p, p].slice(0, 1), s.generate);
    assert.equal(VOCAB.decode(ep.tokens), "lq=47;lk=85;c47*7+85=414;a414$");
    const runs = (pairs: [number, number][]): number[] => pairs.flatMap(([v, n]) => new Array<number>(n).fill(v));
    const env = runs([[1, 3], [0, 3], [1, 3], [0, 3], [1, 9], [0, 4], [1, 5]]);
    assert.deepEqual(ep.mask, env);
    assert.deepEqual(ep.turns, [{ start: 0, end: 3 }, { start: 6, end: 9 }, { start: 12, end: 21 }, { start: 25, end: 30 }]);
    assert.equal(ep.finished, true);
    assert.equal(ep.verdict.reward, 1);
    // Log-probs and entropies are the backend's on policy tokens (each turn restarts the script's count), 0 on tool tokens.
    assert.deepEqual(ep.logprobs.slice(0, 6), [scriptLogprob(0), scriptLogprob(1), scriptLogprob(2), 0, 0, 0]);
    assert.deepEqual(ep.entropies!.slice(12, 14), [scriptEntropy(0), scriptEntropy(1)]);
    // Four turn rounds; each request carries the transcript so far and the "=" stop token.
    assert.equal(s.calls.length, 4);
    assert.deepEqual(s.calls[1][0].prefix, [...p.tokens, ...enc("lq=47;")]);
    assert.deepEqual(s.calls[1][0].stopTokens, enc("="));
    assert.equal(s.calls[1][0].maxTokens, tools.maxResponseTokens - 6);

    const row = episodeRow(ep, "e0", "g0");
    assert.deepEqual(row.mask, env);
    assert.deepEqual(row.step_ends, [5, 11, 24, 29]);
    assert.deepEqual(row.step_rewards, [1, 1, 1, 1]);
    assert.deepEqual(row.signals, { solved: true });
    assert.equal(row.finished, true);
  });

  it("batches episodes: one call per round holds every live episode", async () => {
    const q = toolsPrompt("5+b", { b: 12 });
    const s = scripted(tools, [p, q], 0, 1);
    const eps = await runEpisodes(tools, [p, q, p], s.generate);
    assert.deepEqual(eps.map((e) => e.verdict.reward), [1, 1, 1]);
    assert.deepEqual(s.calls.map((c) => c.length), [3, 3, 3, 2], "q needs one lookup, so it ends a round earlier");
  });

  it("gives GiGPO one row per turn, anchored on the state it acted from", async () => {
    const s = scripted(tools, [p], 0, 1);
    const [ep] = await runEpisodes(tools, [p], s.generate);
    const rows = turnRows(ep, "e0", "g0");
    assert.deepEqual(rows.map((r) => VOCAB.decode(r.tokens)), ["lq=", "lk=", "c47*7+85=", "a414$"]);
    assert.deepEqual(rows.map((r) => r.t), [0, 1, 2, 3]);
    assert.deepEqual(rows.map((r) => r.reward), [0, 0, 0, 1]);
    assert.ok(rows.every((r) => r.episode === "e0" && r.group === "g0" && r.mask === undefined));
    assert.equal(rows[0].anchor, `${p.id}|`);
    assert.equal(rows[1].anchor, `${p.id}|${enc("lq=47;").join(",")}`);
  });

  it("cuts a backend that ignores stop tokens, and ends episodes at the token budget or the turn limit", async () => {
    // A backend that always writes a call and runs on past its "=": the runner keeps "lq=" only.
    let rounds = 0;
    const chatty: Generate = (reqs) => reqs.map(() => {
      rounds++;
      const tokens = enc("lq=lq=lq=");
      return { tokens, logprobs: tokens.map(() => -1) };
    });
    const [ep] = await runEpisodes(tools, [p], chatty);
    // Six turns of "lq=" + "47;" = 36 tokens, then the turn limit.
    assert.equal(ep.turns.length, tools.environment!.maxTurns);
    assert.equal(rounds, 6);
    assert.equal(VOCAB.decode(ep.tokens), "lq=47;".repeat(6));
    assert.equal(ep.finished, false);
    assert.equal(ep.entropies, null, "no entropies from this backend");
    assert.equal(episodeRow(ep, "x", "g").entropies, undefined);
    // A backend that never stops fills the budget exactly.
    const endless: Generate = (reqs) => reqs.map((r) => ({ tokens: new Array(r.maxTokens + 5).fill(enc("7")[0]), logprobs: new Array(r.maxTokens + 5).fill(-2) }));
    const [long] = await runEpisodes(chain, [chainPrompt("7-5+3-4+6", 7, ["-", "+", "-", "+"], [5, 3, 4, 6])], endless);
    assert.equal(long.tokens.length, chain.maxResponseTokens);
    assert.equal(long.finished, false);
    // An empty generation ends the episode instead of looping.
    const [empty] = await runEpisodes(tools, [p], () => [{ tokens: [], logprobs: [] }]);
    assert.deepEqual(empty.tokens, []);
    assert.equal(empty.finished, false);
  });

  it("refuses malformed backend output with a message", async () => {
    await assert.rejects(runEpisodes(tools, [p], () => [{ tokens: [5, 6], logprobs: [-1] }]), /2 tokens but 1 logprobs/);
    await assert.rejects(runEpisodes(tools, [p], () => [{ tokens: [5], logprobs: [NaN] }]), /logprob 0 is NaN/);
    await assert.rejects(runEpisodes(tools, [p], () => []), /no result for request 0/);
  });

  it("recovers the policy mask of a demonstration by replaying the environment", async () => {
    const rng = mulberry32(6);
    for (let k = 0; k < 50; k++) {
      const q = tools.samplePrompt(rng);
      const s = scripted(tools, [q], 0, k);
      const [ep] = await runEpisodes(tools, [q], s.generate);
      assert.deepEqual(policyMask(tools, q, tools.demonstration(q, rng)), ep.mask);
    }
    const demo = chain.demonstration(chain.samplePrompt(rng), rng);
    assert.ok(policyMask(chain, chain.samplePrompt(rng), demo).every((m) => m === 1));
    // A transcript cut inside a tool output masks what is there.
    assert.deepEqual(policyMask(tools, p, enc("lq=4")), [1, 1, 1, 0]);
  });

  it("adapts a one-prefix-at-a-time backend", async () => {
    const s = scripted(tools, [p], 0, 1);
    const one = oneAtATime(async (prefix, o) => (await s.generate([{ prefix, ...o }]))[0]);
    const [ep] = await runEpisodes(tools, [p], one);
    assert.equal(ep.verdict.reward, 1);
  });
});

describe("extra sampling", () => {
  // 7-5=2;2+3=5;5-4=1;1+6=7
  const p = chainPrompt("7-5+3-4+6", 7, ["-", "+", "-", "+"], [5, 3, 4, 6]);

  it("scores budgets by truncating the thinking and sampling answers after the cue", async () => {
    const s = scripted(chain, [p], 0, 1);
    const [ep] = await runEpisodes(chain, [p], s.generate);
    // A response whose thinking stops early (12 tokens) but answers right.
    const short = (await runEpisodes(chain, [p], writes("7-5=2;2+3=5;>7")))[0];
    const before = s.calls.length;
    await addBudgetScores(chain, [ep, short], s.generate, 2);
    // Budgets 6, 12, 18, 27: the full response (thinking 24) is cut at 6, 12 and 18, the short one at 6 only.
    const summaries = s.calls.slice(before).flat();
    assert.equal(summaries.length, 3 * 2 + 2);
    assert.deepEqual(summaries[0].prefix, [...p.tokens, ...enc("7-5=2;>")]);
    assert.deepEqual(summaries[2].prefix, [...p.tokens, ...enc("7-5=2;2+3=5;>")]);
    assert.deepEqual(summaries[6].prefix, [...p.tokens, ...enc("7-5=2;>")]);
    assert.ok(summaries.every((r) => r.stopTokens.length === 0 && r.maxTokens > 0));
    // The script answers 7 after any cue: right at every cut budget; the short response's own answer is right too.
    assert.deepEqual(ep.extraSignals.budget_scores, [1, 1, 1, 1]);
    assert.deepEqual(short.extraSignals.budget_scores, [1, 1, 1, 1]);
    assert.deepEqual(budgetStepEnds(chain, ep), [5, 11, 17, 26]);
    assert.deepEqual(budgetStepEnds(chain, short), [5, 14]);
    const row = budgetRow(chain, short, "b", "g");
    assert.deepEqual(row.step_ends, [5, 14]);
    assert.deepEqual(row.signals, { budget_scores: [1, 1, 1, 1] });
  });

  it("scores a wrong own answer 0 at the budgets the thinking fits in, and averages sampled summaries", async () => {
    const wrong = (await runEpisodes(chain, [p], writes("7-5=2;2+3=5;5-4=1;1+6=7;>5")))[0];
    let k = 0;
    // Summaries alternate right and wrong: mean 0.5 at each cut budget.
    const alternating: Generate = (reqs) => reqs.map(() => {
      const tokens = [...enc(k++ % 2 === 0 ? "7" : "3"), VOCAB.eos];
      return { tokens, logprobs: tokens.map(() => -1) };
    });
    await addBudgetScores(chain, [wrong], alternating, 2);
    assert.deepEqual(wrong.extraSignals.budget_scores, [0.5, 0.5, 0.5, 0]);
    await assert.rejects(addBudgetScores(tools, [wrong], alternating), /defines no budgets/);
  });

  it("computes LaSeR's self-reward on finished episodes only", async () => {
    const s = scripted(chain, [p], 0, 1);
    const [done] = await runEpisodes(chain, [p], s.generate);
    const [cut] = await runEpisodes(chain, [p], () => [{ tokens: enc("7-5"), logprobs: [-1, -1, -1] }]);
    assert.equal(cut.finished, false, "no eos: unfinished");
    let seen: { prefix: readonly number[]; token: number }[] = [];
    await addSelfRewards([done, cut], (reqs) => {
      seen = [...reqs];
      return reqs.map(() => -3);
    }, { token: enc("z")[0], c: -8, betaV: 0.1 });
    assert.equal(seen.length, 1);
    assert.deepEqual(seen[0].prefix, [...p.tokens, ...done.tokens]);
    assert.equal(seen[0].token, enc("z")[0]);
    assert.ok(Math.abs((done.extraSignals.self_reward as number) - 0.5) < 1e-12, "0.1 * (-3 - -8)");
    assert.equal(cut.extraSignals.self_reward, undefined);
  });

  it("retries failed tool episodes from the first imperfect turn, replaying the turns before it", async () => {
    const t = toolsPrompt("q*7+k", { q: 47, k: 85 });
    // A first attempt that looks up the wrong second letter, then answers wrong.
    const script = ["lq=", "lx=", "c47*7=", "a329$"];
    let turn = 0;
    const first: Generate = (reqs) => reqs.map(() => {
      const tokens = enc(script[turn++]);
      return { tokens, logprobs: tokens.map(() => -1) };
    });
    const [ep] = await runEpisodes(tools, [t], first);
    assert.equal(ep.verdict.reward, 0);
    assert.equal(firstImperfectTurn(ep), 1);
    const s = scripted(tools, [t], 0, 1);
    const [retry] = await r3lRetries(tools, [ep], s.generate);
    assert.equal(VOCAB.decode(retry.tokens), "lq=47;lk=85;c47*7+85=414;a414$");
    assert.equal(retry.verdict.reward, 1);
    // The replayed turn keeps the first attempt's log-probs; only the rest was sampled again.
    assert.deepEqual(retry.logprobs.slice(0, 3), [-1, -1, -1]);
    assert.deepEqual(s.calls[0][0].prefix, [...t.tokens, ...enc("lq=47;")]);
    assert.equal(ep.extraSignals.pivot, 1);
    assert.equal(retry.extraSignals.pivot, 1);
    assert.deepEqual(episodeRow(retry, "r", "g").signals, { solved: true, pivot: 1 });
    // Successful episodes are not retried.
    assert.deepEqual(await r3lRetries(tools, [retry], s.generate), []);
  });
});
