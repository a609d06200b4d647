/**
 * `chain`: multi-step arithmetic whose verifier judges every step (process rewards by construction).
 *
 * Digit arithmetic: a start digit and `ops` operations (+ and -, optionally *) on digits, applied
 * left to right, every intermediate value and the result a digit 0..9 (the prompt generator only
 * draws operations that keep it so: "7-5+3-4:" is 7-5 = 2, 2+3 = 5, 5-4 = 1). Response: one
 * equation per operation, each closed by ";", then the answer after ">", then eos; every step is
 * 6 tokens:
 *   "7-5+3-4+6:"  ->  "7-5=2;2+3=5;5-4=1;1+6=7;>7$"            (27 tokens for the default 4 ops)
 * Steps are the ";"-delimited segments (common.delimiterStepEnds); the answer segment, with the
 * eos, is the last step. Each step gets an exact verdict, +1 right and -1 wrong:
 *   - step k < ops is right iff it reads "x op y=z" with op and y the prompt's k-th operation, x
 *     the digit written by step k-1 (the start digit for k = 0) and z = x op y exactly, a digit.
 *     A step is judged on its own: one slip costs its own step, and a later step that carries the
 *     slipped value forward correctly is right (the slip then shows again in the answer, which is
 *     judged against the true result);
 *   - step `ops` is right iff it reads ">d" with d the true result;
 *   - any further step is wrong (the response should have ended). Segments that lie wholly after
 *     the first eos are not the policy's text (samplers pad there) and score 0.
 * Outcome reward 1 iff there are exactly ops + 1 steps before the eos and every one is right;
 * otherwise 0 (so reward 1 <=> every step +1). Malformed text (an id outside the vocabulary, bos
 * or pad before the eos) makes its step wrong, never throws.
 * Why digits: every step is then a lookup in a table of 90 sums and differences at a fixed offset,
 * which the tiny policy can learn in a warm start; with two-digit values (12*3=36) or digits mod
 * 10 the default model stayed under 4% greedy accuracy after 400 steps (docs/tasks.md).
 *
 * What the verdict gives the step-level methods (docs/tasks.md):
 *   step_rewards         the +-1 verdicts (PURE's PRM scores, OPRL's step rewards: exact
 *                        verdicts in place of a learned PRM)
 *   signals.critiques    one critique listing the wrong steps (CAPO: an exact judge, K = 1)
 *   signals.verifications the +-1 verdicts (GroundedPRM's tool-checked step verdicts)
 *   signals.solved       the outcome
 *   signals.planning     1 on the tokens that choose what to do next: each equation's operator and
 *                        operand (copied from the prompt, deciding which operation is applied) and
 *                        the answer marker ">" (deciding to stop and answer); 0 on bookkeeping and
 *                        arithmetic (x, "=", the result digits, ";"). A structural stand-in for
 *                        HICRA's planning tokens, which the paper finds with Strategic Grams.
 * Budget (BRPO): thinking is everything before the first ">" (the equations); the cue is ">"; an
 * answer scores 1 iff it is the true result. Budgets: 6, 12, ... thinking tokens (one step each),
 * the last one the whole response.
 * Eval split: hash of the prompt text (the order of operations matters, so there is no symmetry).
 */
import { delimiterStepEnds, drawEval, drawTrain, isEvalKey, makePrompt, randInt } from "./common.js";
import type { Rng, Task, TaskBudget, TaskPrompt, Verdict } from "./types.js";
import { VOCAB } from "./vocab.js";

export type ChainOp = "+" | "-" | "*";

export interface ChainOptions {
  /** Operations per prompt (1..4). Default 3. */
  ops?: number;
  /** The operations drawn, a non-empty subset of "+-*". Default "+-". */
  operators?: string;
  /** Registry name; defaults to "chain" for the defaults, "chain-<ops>" otherwise. */
  name?: string;
}

export interface ChainAnswer {
  readonly start: number;
  readonly ops: readonly ChainOp[];
  readonly operands: readonly number[];
}

const FAMILY = "chain";
const STEP = VOCAB.encode(";")[0];
const ANSWER = VOCAB.encode(">")[0];
const EQUALS = VOCAB.encode("=")[0];
const OP_IDS = new Set(VOCAB.encode("+-*"));
const DIGIT_IDS = new Set(VOCAB.encode("0123456789"));
const EQUATION = /^(\d)([+\-*])(\d)=(\d)$/;
const ANSWER_TEXT = /^>(\d)$/;
/** Tokens of every step: "x*y=z;". */
const STEP_WIDTH = 6;

/** x op y. */
export function chainStep(x: number, op: ChainOp, y: number): number {
  return op === "+" ? x + y : op === "-" ? x - y : x * y;
}

function answerOf(prompt: TaskPrompt): ChainAnswer {
  const ans = prompt.answer as Partial<ChainAnswer> | null;
  if (!ans || typeof ans.start !== "number" || !Array.isArray(ans.ops) || !Array.isArray(ans.operands)) throw new Error(`chain: prompt '${prompt.id}' is not a chain prompt`);
  return { start: ans.start, ops: ans.ops, operands: ans.operands };
}

/** The values after each operation (the last is the result). */
export function chainValues({ start, ops, operands }: ChainAnswer): number[] {
  const out: number[] = [];
  let v = start;
  for (let k = 0; k < ops.length; k++) out.push((v = chainStep(v, ops[k], operands[k])));
  return out;
}

/** The correct response text (without eos). */
export function chainSolution(ans: ChainAnswer): string {
  const values = chainValues(ans);
  let text = "";
  let x = ans.start;
  for (let k = 0; k < ans.ops.length; k++) {
    text += `${x}${ans.ops[k]}${ans.operands[k]}=${values[k]};`;
    x = values[k];
  }
  return `${text}>${x}`;
}

/** Decoded text of response[a, b), or null when a token there is not plain content. */
function contentText(response: readonly number[], a: number, b: number): string | null {
  const ids = response.slice(a, b);
  for (const id of ids) if (!VOCAB.isId(id) || id === VOCAB.bos || id === VOCAB.pad || id === VOCAB.eos) return null;
  return VOCAB.decode(ids);
}

export interface ChainJudgement {
  stepEnds: number[];
  /** +1 / -1 per step before the eos, 0 for a step wholly after it. */
  stepRewards: number[];
  correct: boolean;
}

/** Judges every step of a response (the rules of the module comment). */
export function judgeChain(ans: ChainAnswer, response: readonly number[]): ChainJudgement {
  const stepEnds = delimiterStepEnds(response, STEP);
  let end = response.indexOf(VOCAB.eos);
  if (end < 0) end = response.length;
  const values = chainValues(ans);
  const stepRewards: number[] = [];
  let prev: number = ans.start; // the result written by the previous step (NaN when it did not parse)
  let judged = 0, right = 0;
  let start = 0;
  for (let k = 0; k < stepEnds.length; k++) {
    const e = stepEnds[k];
    if (start > end) {
      stepRewards.push(0);
      start = e + 1;
      continue;
    }
    // The segment's content: up to its ";" (excluded) or the eos.
    const stop = Math.min(response[e] === STEP ? e : e + 1, end);
    const text = contentText(response, start, stop);
    let ok = false;
    if (k < ans.ops.length) {
      const m = text === null ? null : EQUATION.exec(text);
      if (m) {
        const x = Number(m[1]), y = Number(m[3]), z = Number(m[4]);
        ok = x === prev && m[2] === ans.ops[k] && y === ans.operands[k] && z === chainStep(x, ans.ops[k], y);
        prev = z;
      } else prev = NaN;
    } else if (k === ans.ops.length) {
      const m = text === null ? null : ANSWER_TEXT.exec(text);
      ok = m !== null && Number(m[1]) === values[values.length - 1];
    }
    stepRewards.push(ok ? 1 : -1);
    judged++;
    if (ok) right++;
    start = e + 1;
  }
  const correct = judged === ans.ops.length + 1 && right === judged;
  return { stepEnds, stepRewards, correct };
}

/** [T] 1 on planning tokens before the eos: operator and operand of each equation, and ">". */
export function chainPlanning(response: readonly number[]): number[] {
  const out = new Array<number>(response.length).fill(0);
  let inOperand = false;
  for (let k = 0; k < response.length; k++) {
    const id = response[k];
    if (id === VOCAB.eos) break;
    if (id === STEP || id === EQUALS) inOperand = false;
    else if (id === ANSWER) out[k] = 1;
    else if (OP_IDS.has(id)) {
      out[k] = 1;
      inOperand = true;
    } else if (inOperand && DIGIT_IDS.has(id)) out[k] = 1;
    else inOperand = false;
  }
  return out;
}

export function makeChainTask(opts: ChainOptions = {}): Task {
  const nOps = opts.ops ?? 4;
  if (!Number.isInteger(nOps) || nOps < 1 || nOps > 6) throw new Error(`chain: ops must be an integer in [1, 6], got ${nOps}`);
  const operators = opts.operators ?? "+-";
  if (operators.length === 0 || [...operators].some((c, k) => !"+-*".includes(c) || operators.indexOf(c) !== k)) throw new Error(`chain: operators must be distinct characters of "+-*", got '${operators}'`);
  const drawn = [...operators] as ChainOp[];
  const suffix = operators === "+-" ? "" : `-${operators.replace("+", "p").replace("-", "m").replace("*", "t")}`;
  const name = opts.name ?? (nOps === 4 && suffix === "" ? FAMILY : `${FAMILY}-${nOps}${suffix}`);
  // ops steps of 6 tokens, then ">", the digit and eos.
  const maxResponseTokens = STEP_WIDTH * nOps + 3;

  const draw = (rng: Rng): TaskPrompt => {
    const start = randInt(rng, 1, 9);
    const ops: ChainOp[] = [];
    const operands: number[] = [];
    let v = start;
    for (let k = 0; k < nOps; k++) {
      // Uniform over the (operation, operand) pairs that keep the value a digit; + or - always has one.
      const pairs: [ChainOp, number][] = [];
      for (const op of drawn) for (let y = 1; y <= 9; y++) if (chainStep(v, op, y) >= 0 && chainStep(v, op, y) <= 9) pairs.push([op, y]);
      if (pairs.length === 0) return draw(rng);
      const [op, y] = pairs[randInt(rng, 0, pairs.length - 1)];
      ops.push(op);
      operands.push(y);
      v = chainStep(v, op, y);
    }
    const text = `${start}${ops.map((op, k) => `${op}${operands[k]}`).join("")}:`;
    const answer: ChainAnswer = { start, ops, operands };
    return makePrompt(`${FAMILY}:${text.slice(0, -1)}`, text, answer);
  };
  const isEval = (p: TaskPrompt): boolean => isEvalKey(FAMILY, p.text);

  const budget: TaskBudget = {
    budgets: [...Array.from({ length: nOps - 1 }, (_, k) => STEP_WIDTH * (k + 1)), maxResponseTokens],
    cue: [ANSWER],
    thinkingLength(response: readonly number[]): number {
      let k = 0;
      while (k < response.length && response[k] !== ANSWER && response[k] !== VOCAB.eos) k++;
      return k;
    },
    scoreAnswer(prompt: TaskPrompt, answer: readonly number[]): number {
      const values = chainValues(answerOf(prompt));
      let end = answer.indexOf(VOCAB.eos);
      if (end < 0) end = answer.length;
      const text = contentText(answer, 0, end);
      return text !== null && /^\d$/.test(text) && Number(text) === values[values.length - 1] ? 1 : 0;
    },
  };

  return {
    name,
    description: `apply ${nOps} digit operations left to right, one equation per step ("7-5+3-4:" -> "7-5=2;2+3=5;5-4=1;>1"); every step judged +1/-1, reward 1 iff all are right`,
    vocab: VOCAB,
    maxResponseTokens,
    samplePrompt: (rng) => drawTrain(rng, draw, isEval, name),
    evalSet: (n, seed) => drawEval(n, seed, draw, isEval, name),
    verify(prompt: TaskPrompt, response: readonly number[]): Verdict {
      const { stepEnds, stepRewards, correct } = judgeChain(answerOf(prompt), response);
      const wrong: number[] = [];
      stepRewards.forEach((r, k) => r < 0 && wrong.push(k));
      return {
        reward: correct ? 1 : 0,
        correct,
        stepEnds,
        stepRewards,
        signals: { solved: correct, critiques: [wrong], verifications: stepRewards, planning: chainPlanning(response) },
      };
    },
    demonstration(prompt: TaskPrompt, _rng: Rng): number[] {
      return [...VOCAB.encode(chainSolution(answerOf(prompt))), VOCAB.eos];
    },
    provides: ["step_ends", "step_rewards", "signals.solved", "signals.critiques", "signals.verifications", "signals.planning", "signals.budget_scores"],
    budget,
    // BRPO's linear prior weighs budgets by their length; the last segment holds the answer too.
    methodOptions: { brpo: { budgets: [...budget.budgets] } },
  };
}

/** The registered default: a start digit and 4 operations, 27-token responses. */
export const chain: Task = makeChainTask();
