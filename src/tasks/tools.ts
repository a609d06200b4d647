/**
 * `tools`: a multi-turn tool task. The prompt is an expression over digits and letters whose
 * values are hidden; the policy looks each letter up, has a calculator evaluate the expression,
 * and answers. Between its turns the environment writes the tool output (tokens the policy does
 * not produce: mask 0 in a rollout).
 *
 * Prompt: 2 or 3 terms joined by + - * (usual precedence), each a digit 1..9 or a letter, with 1
 * or 2 distinct letters; every letter stands for a hidden value in [10, 99] (part of the prompt's
 * answer and id, never of its text), and the result is >= 0. A response is a transcript:
 *   "q*7+k:" (q = 47, k = 85)  ->  "lq=" "47;" "lk=" "85;" "c47*7+85=" "414;" "a414$"
 * Policy turns end at "=" (a tool call, answered by the environment) or at eos (the answer):
 *   "l<letter>="   lookup: the letter's value, or "?" for a letter the prompt does not have;
 *   "c<expr>="     calculator: integers (at most 6 digits, at most 8 of them) joined by + - *,
 *                  evaluated with the usual precedence; "?" for anything else;
 *   any other call "?";   "a<N>" then eos: the answer.
 * Every tool output ends with ";". At most 6 policy turns; the transcript is at most 40 tokens.
 *
 * Verifier (exact): the transcript is replayed against the environment. Reward 1 iff every tool
 * output in it is the one the environment gives for the call before it, and the final turn
 * (ended by eos, or by the end of the response) reads "a<N>" with N the true value; else 0.
 * Steps are turns: a tool-call turn ends at the last token of its tool output (a turn is the call
 * and what it observed), the answer turn at its last token. A transcript that departs from the
 * environment (an output that is not the environment's) ends with one more step over the rest.
 * Step rewards are MatchTIR's turn rewards (src/rewards/toolcalls.ts `turnRewards`, greedy
 * matching as the reference) against the ground-truth calls of the demonstration: one lookup per
 * letter in order of first appearance, then one calculator call with the values substituted, e.g.
 * lookup{key: q}, lookup{key: k}, calc{expr: "47*7+85"}; the answer turn scores the answer F1 of
 * its N against the true value; a call that is neither lookup nor calc, and the rest step, score 0.
 * Demonstrations: those calls, their outputs and the answer.
 * Eval split: hash of the prompt text and the hidden values.
 */
import { drawEval, drawTrain, isEvalKey, makePrompt, randInt } from "./common.js";
import type { Rng, Task, TaskEnvironment, TaskPrompt, Verdict } from "./types.js";
import { VOCAB } from "./vocab.js";
import { turnRewards, type Turn } from "../rewards/toolcalls.js";

export interface ToolsAnswer {
  /** The expression as written in the prompt (letters and digits). */
  readonly expr: string;
  /** Hidden value of each letter of the expression. */
  readonly values: Readonly<Record<string, number>>;
}

/** A parsed tool call, in the {name, arguments} form MatchTIR's matcher reads. */
export interface ToolsCall {
  readonly name: "lookup" | "calc";
  readonly arguments: { readonly key: string } | { readonly expr: string };
}

const FAMILY = "tools";
const CALL_END = VOCAB.encode("=")[0];
/** Letters that may name hidden values: not the tool names l, c, the answer a, nor z (the self-reward token). */
const LETTERS = "bdefghijkmnopqrstuvwxy";
const MAX_TURNS = 6;
const MAX_RESPONSE_TOKENS = 40;
const CALC_EXPR = /^\d{1,6}(?:[+\-*]\d{1,6}){0,7}$/;

/** Evaluates integers joined by + - * with the usual precedence. The caller checks the form. */
export function evaluateExpression(expr: string): number {
  const parts = expr.split(/([+\-*])/);
  let total = 0;
  let sign = 1;
  let product = Number(parts[0]);
  for (let k = 1; k < parts.length; k += 2) {
    const op = parts[k], x = Number(parts[k + 1]);
    if (op === "*") product *= x;
    else {
      total += sign * product;
      sign = op === "+" ? 1 : -1;
      product = x;
    }
  }
  return total + sign * product;
}

function answerOf(prompt: TaskPrompt): ToolsAnswer {
  const ans = prompt.answer as Partial<ToolsAnswer> | null;
  if (!ans || typeof ans.expr !== "string" || typeof ans.values !== "object" || ans.values === null) throw new Error(`tools: prompt '${prompt.id}' is not a tools prompt`);
  return { expr: ans.expr, values: ans.values };
}

/** The expression with every letter replaced by its value. */
function substituted({ expr, values }: ToolsAnswer): string {
  return [...expr].map((c) => (c in values ? String(values[c]) : c)).join("");
}

/** The true result. */
export function toolsResult(ans: ToolsAnswer): number {
  return evaluateExpression(substituted(ans));
}

/** The ground-truth calls: one lookup per letter in order of first appearance, then one calculator call. */
export function toolsCalls(ans: ToolsAnswer): ToolsCall[] {
  const letters = [...new Set([...ans.expr].filter((c) => c in ans.values))];
  return [...letters.map((key): ToolsCall => ({ name: "lookup", arguments: { key } })), { name: "calc", arguments: { expr: substituted(ans) } }];
}

/** The call a turn's text (without its closing "=") makes, or null when it is not a well-formed call. */
export function parseCall(text: string): ToolsCall | null {
  if (/^l[a-z]$/.test(text)) return { name: "lookup", arguments: { key: text[1] } };
  if (text.startsWith("c") && CALC_EXPR.test(text.slice(1))) return { name: "calc", arguments: { expr: text.slice(1) } };
  return null;
}

/** The tool output text (without ";") for a call, as the environment computes it. */
export function toolOutput(ans: ToolsAnswer, call: ToolsCall | null): string {
  if (call === null) return "?";
  if (call.name === "lookup") {
    const key = (call.arguments as { key: string }).key;
    return key in ans.values ? String(ans.values[key]) : "?";
  }
  const v = evaluateExpression((call.arguments as { expr: string }).expr);
  return Number.isSafeInteger(v) ? String(v) : "?";
}

/** Text of response[a, b), or null when a token there is not plain content (bos, pad, eos or an unknown id). */
function plainText(response: readonly number[], a: number, b: number): string | null {
  for (let k = a; k < b; k++) {
    const id = response[k];
    if (!VOCAB.isId(id) || id === VOCAB.bos || id === VOCAB.pad || id === VOCAB.eos) return null;
  }
  return VOCAB.decode(response.slice(a, b));
}

/** One turn of a transcript as the verifier replays it. */
export interface ToolsTurn {
  /** Policy tokens [start, callEnd) (the "=" or eos included when present). */
  readonly start: number;
  readonly callEnd: number;
  /** Last token of the turn: the end of its tool output, or of the answer. */
  readonly end: number;
  readonly kind: "call" | "answer" | "rest";
  readonly call: ToolsCall | null;
  /** The answer turn's text after "a" (null when it does not read a<N>). */
  readonly answer: string | null;
}

/**
 * Replays a transcript against the environment: its turns, whether every tool output is the
 * environment's, and where the policy's text ends (the first eos, or the end).
 */
export function replayTranscript(ans: ToolsAnswer, response: readonly number[]): { turns: ToolsTurn[]; consistent: boolean } {
  let end = response.indexOf(VOCAB.eos);
  const stop = end < 0 ? response.length : end + 1; // tokens after the eos are padding
  if (end < 0) end = response.length;
  const turns: ToolsTurn[] = [];
  let k = 0;
  while (k < stop) {
    const start = k;
    while (k < end && response[k] !== CALL_END) k++;
    if (k < end) {
      // A call: "=" at k, then the environment's output must follow.
      const text = plainText(response, start, k);
      const call = text === null ? null : parseCall(text);
      const expected = VOCAB.encode(`${toolOutput(ans, call)};`);
      const out = k + 1;
      let j = 0;
      while (j < expected.length && out + j < end && response[out + j] === expected[j]) j++;
      if (j < expected.length && out + j < stop) {
        // The transcript holds something the environment did not write: the rest is one step.
        turns.push({ start, callEnd: k + 1, end: k, kind: "call", call, answer: null });
        turns.push({ start: k + 1, callEnd: stop, end: stop - 1, kind: "rest", call: null, answer: null });
        return { turns, consistent: false };
      }
      turns.push({ start, callEnd: k + 1, end: out + j - 1, kind: "call", call, answer: null });
      k = out + j;
      if (j < expected.length) return { turns, consistent: true }; // cut off inside the output
      continue;
    }
    // The final turn: up to the eos (included) or the end of the response.
    const text = plainText(response, start, end);
    const m = text === null ? null : /^a(0|[1-9]\d{0,6})$/.exec(text);
    turns.push({ start, callEnd: stop, end: stop - 1, kind: "answer", call: null, answer: m ? m[1] : null });
    break;
  }
  return { turns, consistent: true };
}

/** MatchTIR turn rewards of replayed turns against the ground truth. */
function matchRewards(ans: ToolsAnswer, turns: readonly ToolsTurn[]): number[] {
  const asTurns: Turn[] = turns.map((t) =>
    t.kind === "answer" ? { answer: t.answer ?? "" } : t.kind === "rest" ? { calls: [] } : { calls: [t.call ?? "not a call"] },
  );
  return turnRewards(asTurns, toolsCalls(ans), String(toolsResult(ans)));
}

export function makeToolsTask(): Task {
  const name = FAMILY;
  const draw = (rng: Rng): TaskPrompt => {
    for (let tries = 0; tries < 100_000; tries++) {
      const nTerms = randInt(rng, 2, 3);
      const nLetters = randInt(rng, 1, 2);
      const slots = Array.from({ length: nTerms }, (_, k) => k);
      for (let k = slots.length - 1; k > 0; k--) {
        const j = randInt(rng, 0, k);
        [slots[k], slots[j]] = [slots[j], slots[k]];
      }
      const letterSlots = new Set(slots.slice(0, nLetters));
      const values: Record<string, number> = {};
      let expr = "";
      for (let k = 0; k < nTerms; k++) {
        if (k > 0) expr += "+-*"[randInt(rng, 0, 2)];
        if (letterSlots.has(k)) {
          let c: string;
          do c = LETTERS[randInt(rng, 0, LETTERS.length - 1)];
          while (c in values);
          values[c] = randInt(rng, 10, 99);
          expr += c;
        } else expr += String(randInt(rng, 1, 9));
      }
      const answer: ToolsAnswer = { expr, values };
      if (toolsResult(answer) < 0) continue;
      const hidden = Object.keys(values).map((c) => `${c}=${values[c]}`).join(",");
      return makePrompt(`${FAMILY}:${expr}|${hidden}`, `${expr}:`, answer);
    }
    throw new Error(`task '${name}': no prompt found`);
  };
  const isEval = (p: TaskPrompt): boolean => isEvalKey(FAMILY, p.id);

  const environment: TaskEnvironment = {
    stopTokens: [CALL_END],
    maxTurns: MAX_TURNS,
    respond(prompt: TaskPrompt, turn: readonly number[]): number[] {
      const body = turn[turn.length - 1] === CALL_END ? turn.length - 1 : turn.length;
      const text = plainText(turn, 0, body);
      return VOCAB.encode(`${toolOutput(answerOf(prompt), text === null ? null : parseCall(text))};`);
    },
  };

  return {
    name,
    description: `look up hidden letter values, evaluate with a calculator, answer ("q*7+k:" -> "lq=" 47; "lk=" 85; "c47*7+85=" 414; "a414"); tool outputs are the environment's (mask 0); reward 1 iff the answer is right`,
    vocab: VOCAB,
    maxResponseTokens: MAX_RESPONSE_TOKENS,
    samplePrompt: (rng) => drawTrain(rng, draw, isEval, name),
    evalSet: (n, seed) => drawEval(n, seed, draw, isEval, name),
    verify(prompt: TaskPrompt, response: readonly number[]): Verdict {
      const ans = answerOf(prompt);
      const { turns, consistent } = replayTranscript(ans, response);
      const last = turns[turns.length - 1];
      const correct = consistent && last !== undefined && last.kind === "answer" && last.answer !== null && Number(last.answer) === toolsResult(ans);
      return {
        reward: correct ? 1 : 0,
        correct,
        stepEnds: turns.map((t) => t.end),
        stepRewards: matchRewards(ans, turns),
        signals: { solved: correct },
      };
    },
    demonstration(prompt: TaskPrompt, _rng: Rng): number[] {
      const ans = answerOf(prompt);
      let text = "";
      for (const call of toolsCalls(ans)) {
        const args = call.arguments as { key?: string; expr?: string };
        text += call.name === "lookup" ? `l${args.key}=` : `c${args.expr}=`;
        text += `${toolOutput(ans, call)};`;
      }
      return [...VOCAB.encode(`${text}a${toolsResult(ans)}`), VOCAB.eos];
    },
    provides: ["step_ends", "step_rewards", "signals.solved", "episode", "t", "anchor", "signals.pivot"],
    environment,
  };
}

/** The registered tool task. */
export const tools: Task = makeToolsTask();
