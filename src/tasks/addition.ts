/**
 * `addition`: multi-digit addition written out column by column with carries.
 *
 * Prompt: the operands (uniform in [0, 10^digits), default digits 2) zero-padded to `digits`
 * ("05+85="; unpadded "5+85=" with pad: false). Response: one step per column, least
 * significant first, each "a+b+c=s" where a and b are the column's digits, c is the carry in
 * and s the two-digit column sum (carry out, then digit), each closed by ";"; then the sum
 * without leading zeros, then eos:
 *   "47+85="    ->  "7+5+0=12;4+8+1=13;132$"                 (default, 2 digits)
 *   "047+085="  ->  "7+5+0=12;4+8+1=13;0+0+1=01;132$"        (addition-3d)
 * There are `digits` columns when padded, max(len a, len b) otherwise (a missing digit is 0).
 * Reward 1 iff the response parses (exactly that many column steps of the form d+d+d=dd, then
 * the answer as decimal digits) and the answer equals a+b written without leading zeros. The
 * column contents are only checked for form: the reward is the outcome, so credit assignment
 * has to discover which column went wrong. Malformed -> 0.
 * Steps: each column (ends at its ";"), then the answer with the eos as the last step.
 * Eval split: hash of the unordered operand pair (see common.isEvalKey), the same for padded
 * and unpadded variants.
 */
import { delimiterStepEnds, digitCount, drawEval, drawTrain, isEvalKey, makePrompt, randInt, responseText } from "./common.js";
import type { Rng, Task, TaskPrompt, Verdict } from "./types.js";
import { VOCAB } from "./vocab.js";

export interface AdditionOptions {
  /** Maximum operand length in digits (operands are uniform in [0, 10^digits)). Default 2. */
  digits?: number;
  /**
   * Write both operands zero-padded to `digits` in the prompt ("047+085=") and always write
   * `digits` columns. Default true: every digit then sits at a fixed position, which a tiny
   * transformer with relative positions learns far faster than variable-length alignment.
   */
  pad?: boolean;
  /** Registry name; defaults to "addition" for the defaults, "addition-<d>d" (unpadded: "-u") otherwise. */
  name?: string;
}

export interface AdditionAnswer {
  readonly a: number;
  readonly b: number;
}

/**
 * 2 digits: measured with the trainer's default 0.5M model (SFT batch 32, lr 3e-3), greedy
 * eval accuracy was 10% after 200 steps, 41% after 300, 68% after 500 (about a minute on two
 * cores), the range where RL has room to show progress. 3 digits was still at 4% after 500.
 */
export const ADDITION_DEFAULT_DIGITS = 2;
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

/**
 * The column steps and final answer of a correct response, as text (without eos). `columns`
 * is the operand width of the prompt (at least the longer operand's length).
 */
export function additionSolution(a: number, b: number, columns = 0): string {
  const cols = Math.max(columns, digitCount(a), digitCount(b));
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
  const pad = opts.pad ?? true;
  const name = opts.name ?? (digits === ADDITION_DEFAULT_DIGITS && pad ? FAMILY : `${FAMILY}-${digits}d${pad ? "" : "-u"}`);
  const width = pad ? digits : 0;
  const show = (x: number): string => String(x).padStart(width, "0");
  const limit = 10 ** digits;
  const [ea, eb] = [47 % limit, 85 % limit];
  const example = `"${show(ea)}+${show(eb)}=" -> "${additionSolution(ea, eb, width)}"`;

  const draw = (rng: Rng): TaskPrompt => {
    const a = randInt(rng, 0, limit - 1);
    const b = randInt(rng, 0, limit - 1);
    const answer: AdditionAnswer = { a, b };
    const text = `${show(a)}+${show(b)}=`;
    return makePrompt(`${FAMILY}:${text.slice(0, -1)}`, text, answer);
  };
  const isEval = (p: TaskPrompt): boolean => isEvalKey(FAMILY, splitKey(answerOf(p)));

  return {
    name,
    description: `add two numbers of up to ${digits} digits column by column with carries (${example}); reward 1 iff the answer is right`,
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
      const cols = Math.max(width, digitCount(a), digitCount(b));
      if (parts.length !== cols + 1) return wrong;
      for (let i = 0; i < cols; i++) if (!COLUMN.test(parts[i])) return wrong;
      const final = parts[cols];
      if (final !== String(a + b)) return wrong;
      return { reward: 1, correct: true, stepEnds };
    },
    demonstration(prompt: TaskPrompt, _rng: Rng): number[] {
      const { a, b } = answerOf(prompt);
      return [...VOCAB.encode(additionSolution(a, b, width)), VOCAB.eos];
    },
  };
}

/** The registered default: padded 2-digit operands ("47+85="), 22-token responses at most. */
export const addition: Task = makeAdditionTask();

/** The harder registered variant: padded 3-digit operands, 32-token responses at most. */
export const addition3: Task = makeAdditionTask({ digits: 3 });
