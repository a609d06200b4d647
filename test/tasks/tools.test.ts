import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { evaluateExpression, getTask, mulberry32, parseCall, replayTranscript, toolsCalls, toolsResult, VOCAB } from "../../src/tasks/index.js";
import type { ToolsAnswer, TaskPrompt } from "../../src/tasks/index.js";

const task = getTask("tools");
const enc = (s: string): number[] => VOCAB.encode(s);
const EOS = VOCAB.eos;

function promptFor(expr: string, values: Record<string, number>): TaskPrompt {
  const hidden = Object.keys(values).map((c) => `${c}=${values[c]}`).join(",");
  return { id: `tools:${expr}|${hidden}`, text: `${expr}:`, tokens: [VOCAB.bos, ...enc(`${expr}:`)], answer: { expr, values } };
}

describe("tools", () => {
  // q*7+k with q = 47, k = 85: 47*7 + 85 = 414
  const p = promptFor("q*7+k", { q: 47, k: 85 });
  const ans = p.answer as ToolsAnswer;
  const demoText = "lq=47;lk=85;c47*7+85=414;a414";

  it("evaluates expressions with the usual precedence", () => {
    assert.equal(evaluateExpression("47*7+85"), 414);
    assert.equal(evaluateExpression("2+3*4-5"), 9);
    assert.equal(evaluateExpression("9-99"), -90);
    assert.equal(evaluateExpression("2*3*4"), 24);
    assert.equal(evaluateExpression("7"), 7);
    assert.equal(toolsResult(ans), 414);
  });

  it("demonstrates the ground-truth calls and verifies them with turn ends at each tool output", () => {
    assert.deepEqual(toolsCalls(ans), [
      { name: "lookup", arguments: { key: "q" } },
      { name: "lookup", arguments: { key: "k" } },
      { name: "calc", arguments: { expr: "47*7+85" } },
    ]);
    const demo = task.demonstration(p, mulberry32(0));
    assert.equal(VOCAB.decode(demo), `${demoText}$`);
    const v = task.verify(p, demo);
    assert.equal(v.reward, 1);
    // "lq=47;" ends at 5, "lk=85;" at 11, "c47*7+85=414;" at 24, "a414$" at 29.
    assert.deepEqual(v.stepEnds, [5, 11, 24, 29]);
    assert.deepEqual(v.stepRewards, [1, 1, 1, 1]);
    assert.deepEqual(v.signals, { solved: true });
  });

  it("answers calls as the environment would, '?' for anything malformed or unknown", () => {
    const env = task.environment!;
    assert.deepEqual(env.stopTokens, enc("="));
    const say = (turn: string): string => VOCAB.decode(env.respond(p, enc(turn)));
    assert.equal(say("lq="), "47;");
    assert.equal(say("lk="), "85;");
    assert.equal(say("lx="), "?;"); // not a letter of this prompt
    assert.equal(say("c47*7+85="), "414;");
    assert.equal(say("c2-9="), "-7;");
    assert.equal(say("c47*="), "?;");
    assert.equal(say("cq*7="), "?;"); // the calculator does not know letters
    assert.equal(say("x12="), "?;");
    assert.equal(say("c1234567="), "?;"); // more than 6 digits
    assert.equal(VOCAB.decode(env.respond(p, [VOCAB.bos, ...enc("lq=")])), "?;");
    assert.equal(parseCall("lq")?.name, "lookup");
    assert.equal(parseCall("l"), null);
  });

  it("scores turns by MatchTIR's similarity: a wrong argument keeps the name and key credit", () => {
    // Wrong calc expression: sim = (1 + J(keys) + 0 matching values) / (2 + 1) = 2/3; the answer is then wrong too.
    const v = task.verify(p, [...enc("lq=47;lk=85;c47*7+58=387;a387"), EOS]);
    assert.equal(v.reward, 0);
    assert.deepEqual(v.stepRewards!.map((x) => +x.toFixed(6)), [1, 1, +(2 / 3).toFixed(6), 0]);
    // A lookup of the wrong letter is unmatched by the greedy assignment once the right ones are taken: 2/3 then 0.
    const w = task.verify(p, [...enc("lq=47;lx=?;lk=85;c47*7+85=414;a414"), EOS]);
    assert.equal(w.reward, 1, "an extra lookup does not change the outcome");
    assert.deepEqual(w.stepRewards!.map((x) => +x.toFixed(6)), [1, 0, 1, 1, 1]);
    // A malformed call scores 0 and its "?" output is what the environment gives.
    const m = task.verify(p, [...enc("q47=?;a414"), EOS]);
    assert.equal(m.reward, 1);
    assert.deepEqual(m.stepRewards, [0, 1]);
  });

  it("rejects transcripts whose tool outputs are not the environment's (a policy writing its own output)", () => {
    const v = task.verify(p, [...enc("lq=46;lk=85;c46*7+85=407;a407"), EOS]);
    assert.equal(v.reward, 0);
    // The call turn ends at its "=", the rest of the transcript is one more step scored 0.
    assert.deepEqual(v.stepEnds, [2, 29]);
    assert.deepEqual(v.stepRewards, [1, 0]);
    // The right answer written without any call is still the right answer.
    assert.equal(task.verify(p, [...enc("a414"), EOS]).reward, 1);
    assert.equal(task.verify(p, [...enc("a415"), EOS]).reward, 0);
    assert.equal(task.verify(p, [...enc("a0414"), EOS]).reward, 0);
  });

  it("handles cut-off, empty and padded transcripts without throwing", () => {
    const cut = enc("lq=47;lk=8");
    const v = task.verify(p, cut);
    assert.equal(v.reward, 0);
    assert.deepEqual(v.stepEnds, [5, 9], "the cut-off output ends the last step at the last token");
    const tail = task.verify(p, enc("lq=47;lk=85;"));
    assert.deepEqual(tail.stepEnds, [5, 11]);
    assert.equal(tail.reward, 0);
    assert.deepEqual(task.verify(p, []), { reward: 0, correct: false, stepEnds: [], stepRewards: [], signals: { solved: false } });
    const padded = [...task.demonstration(p, mulberry32(0)), VOCAB.pad, ...enc("lq=")];
    assert.equal(task.verify(p, padded).reward, 1);
    assert.deepEqual(task.verify(p, padded).stepEnds, [5, 11, 24, 29]);
    // An eos right after a tool output: the answer turn is the eos alone, and wrong.
    const early = task.verify(p, [...enc("lq=47;"), EOS]);
    assert.deepEqual(early.stepEnds, [5, 6]);
    assert.equal(early.reward, 0);
    assert.equal(replayTranscript(ans, enc("lq=47;")).consistent, true);
  });

  it("keeps hidden values out of the prompt text and in the split key", () => {
    const rng = mulberry32(12);
    for (let k = 0; k < 300; k++) {
      const q = task.samplePrompt(rng);
      const a = q.answer as ToolsAnswer;
      assert.ok(/^[1-9a-y](?:[+\-*][1-9a-y]){1,2}:$/.test(q.text), q.text);
      const letters = Object.keys(a.values);
      assert.ok(letters.length >= 1 && letters.length <= 2);
      for (const c of letters) {
        assert.ok(a.values[c] >= 10 && a.values[c] <= 99);
        assert.ok(!"aclz".includes(c));
        assert.ok(q.text.includes(c) && q.id.includes(`${c}=${a.values[c]}`));
      }
      assert.ok(toolsResult(a) >= 0);
      assert.ok(task.demonstration(q, rng).length <= task.maxResponseTokens);
    }
  });
});
