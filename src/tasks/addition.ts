/**
 * `addition`: multi-digit addition written out column by column with carries.
 *
 * Prompt "47+85=" (operands uniform in [0, 10^digits), no leading zeros). Response: one step per
 * column, least significant first, each "a+b+c=s" where a and b are the column's digits (0 past
 * the end of the shorter operand), c is the carry in and s the two-digit column sum (carry out,
 * then digit), each step closed by ";"; then the sum and eos:
 *   "47+85="  ->  "7+5+0=12;4+8+1=13;132$"
 * Reward 1 iff the response parses (exactly max(len a, len b) column steps of the form
 * d+d+d=dd, then the answer as decimal digits) and the answer equals a+b written without
 * leading zeros. The column contents are only checked for form: the reward is the outcome, so
 * credit assignment has to discover which column went wrong. Malformed -> 0.
 * Steps: each column (ends at its ";"), then the answer with the eos as the last step.
 * Eval split: hash of the unordered operand pair (see common.isEvalKey).
 */
import { delimiterStepEnds, digitCount, drawEval, drawTrain, isEvalKey, makePrompt, randInt, responseText } from "./common.js";
import type { Rng, Task, TaskPrompt, Verdict } from "./types.js";
import { VOCAB } from "./vocab.js";

export interface AdditionOptions {
  /** Maximum operand length in digits (operands are uniform in [0, 10^digits)). Default 3. */
  digits?: number;
  /** Registry name; defaults to "addition" for 3 digits, "addition-<d>d" otherwise. */
  name?: string;
}

export interface AdditionAnswer {
  readonly a: number;
  readonly b: number;
}

export const ADDITION_DEFAULT_DIGITS = 3;
const FAMILY = "addition";
const STEP = VOCAB.encode(";")[0];
const COLUMN = /^(\d)\+(\d)\+(\d)=(\d)(\d)$/;

function answerOf(prompt: TaskPrompt): AdditionAnswer {
  const ans = prompt.answer as Partial<AdditionAnswer> | null;
  if (!ans || typeof ans.a !== "number" || typeof ans.b !== "number") throw new Error(`addition: prompt '${prompt.id}' is not an addition prompt`);
  return { a: ans.a, b: ans.b };
}

/** The split key: the unordered operand pair, so a+b and b+a are on the same side. */
function splitKey({ a, b }: AdditionAnswer): string {
  return `${Math.min(a, b)}+${Math.max(a, b)}`;
}

/** The column steps and final answer of a correct response, as text (without eos). */
export function additionSolution(a: number, b: number): string {
  const cols = Math.max(digitCount(a), digitCount(b));
  let carry = 0;
  let text = "";
  for (let i = 0, x = a, y = b; i < cols; i++, x = Math.floor(x / 10), y = Math.floor(y / 10)) {
    const da = x % 10, db = y % 10;
    const s = da + db + carry;
    text += `${da}+${db}+${carry}=${Math.floor(s / 10)}${s % 10};`;
    carry = Math.floor(s / 10);
  }
  return text + String(a + b);
}

export function makeAdditionTask(opts: AdditionOptions = {}): Task {
  const digits = opts.digits ?? ADDITION_DEFAULT_DIGITS;
  // 7 digits keeps every sum an exact small integer and the response under ~80 tokens.
  if (!Number.isInteger(digits) || digits < 1 || digits > 7) throw new Error(`addition: digits must be an integer in [1, 7], got ${digits}`);
  const name = opts.name ?? (digits === ADDITION_DEFAULT_DIGITS ? FAMILY : `${FAMILY}-${digits}d`);
  const limit = 10 ** digits;

  const draw = (rng: Rng): TaskPrompt => {
    const a = randInt(rng, 0, limit - 1);
    const b = randInt(rng, 0, limit - 1);
    const answer: AdditionAnswer = { a, b };
    return makePrompt(`${FAMILY}:${a}+${b}`, `${a}+${b}=`, answer);
  };
  const isEval = (p: TaskPrompt): boolean => isEvalKey(FAMILY, splitKey(answerOf(p)));

  return {
    name,
    description: `add two numbers of up to ${digits} digits column by column with carries ("47+85=" -> "7+5+0=12;4+8+1=13;132"); reward 1 iff the answer is right`,
    vocab: VOCAB,
    // digits columns of 9 tokens, an answer of up to digits+1 digits, eos.
    maxResponseTokens: 9 * digits + digits + 2,
    samplePrompt: (rng) => drawTrain(rng, draw, isEval, name),
    evalSet: (n, seed) => drawEval(n, seed, draw, isEval, name),
    verify(prompt: TaskPrompt, response: readonly number[]): Verdict {
      const { a, b } = answerOf(prompt);
      const stepEnds = delimiterStepEnds(response, STEP);
      const text = responseText(response);
      const wrong: Verdict = { reward: 0, correct: false, stepEnds };
      if (text === null) return wrong;
      const parts = text.split(";");
      const cols = Math.max(digitCount(a), digitCount(b));
      if (parts.length !== cols + 1) return wrong;
      for (let i = 0; i < cols; i++) if (!COLUMN.test(parts[i])) return wrong;
      const final = parts[cols];
      if (final !== String(a + b)) return wrong;
      return { reward: 1, correct: true, stepEnds };
    },
    demonstration(prompt: TaskPrompt, _rng: Rng): number[] {
      const { a, b } = answerOf(prompt);
      return [...VOCAB.encode(additionSolution(a, b)), VOCAB.eos];
    },
  };
}

/** The registered default: 3-digit operands, 32-token responses at most. */
export const addition: Task = makeAdditionTask();
