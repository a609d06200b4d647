/**
 * `countdown`: reach a target from given numbers with + - *, one equation per step.
 *
 * Prompt "3,5,7>26:" (count numbers uniform in [1, maxNumber], then the target). Response: the
 * equations "x op y=z" separated by ";", then eos:
 *   "3,5,7>26:"  ->  "3*7=21;21+5=26$"
 * Reward 1 iff every equation parses (non-negative decimal integers without leading zeros;
 * a negative result cannot be written, so subtraction must not go below 0), is arithmetically
 * exact, takes both operands from the pool of available numbers (the given numbers plus the
 * results of earlier steps, each used at most once; a duplicate given number may be used as
 * many times as it is given), and the last equation's result equals the target. At least one
 * equation; not every number has to be used. Anything else, including malformed text, is 0.
 * Steps: each equation (ends at its ";"), the last one ending at the eos.
 * Only solvable prompts are generated: the target is the value of a random expression over all
 * the numbers (left fold over a random order with random operators, every intermediate >= 0),
 * kept when it lies in [1, maxTarget] and is not itself one of the given numbers.
 * Demonstrations: one of all the valid solutions, chosen uniformly with the given rng.
 * Eval split: hash of the sorted numbers and the target (order of the numbers does not matter).
 */
import { delimiterStepEnds, digitCount, drawEval, drawTrain, isEvalKey, makePrompt, randInt, responseText } from "./common.js";
import type { Rng, Task, TaskPrompt, Verdict } from "./types.js";
import { VOCAB } from "./vocab.js";

export interface CountdownOptions {
  /** How many numbers are given (2..4). Default 3. */
  count?: number;
  /** Numbers are uniform in [1, maxNumber] (1..99). Default 9. */
  maxNumber?: number;
  /** Targets lie in [1, maxTarget]. Default 99. */
  maxTarget?: number;
  /** Registry name; defaults to "countdown" for the defaults, "countdown-<count>x<maxNumber>" otherwise. */
  name?: string;
}

export interface CountdownAnswer {
  readonly numbers: readonly number[];
  readonly target: number;
}

export type CountdownOp = "+" | "-" | "*";

export interface CountdownStep {
  readonly x: number;
  readonly op: CountdownOp;
  readonly y: number;
  readonly z: number;
}

const FAMILY = "countdown";
const STEP = VOCAB.encode(";")[0];
const OPS: readonly CountdownOp[] = ["+", "-", "*"];
// Up to 6-digit operands keep every product exact in a double (< 2^53).
const EQUATION = /^(0|[1-9]\d{0,5})([+\-*])(0|[1-9]\d{0,5})=(0|[1-9]\d{0,11})$/;

export function applyOp(x: number, op: CountdownOp, y: number): number {
  return op === "+" ? x + y : op === "-" ? x - y : x * y;
}

function answerOf(prompt: TaskPrompt): CountdownAnswer {
  const ans = prompt.answer as Partial<CountdownAnswer> | null;
  if (!ans || !Array.isArray(ans.numbers) || typeof ans.target !== "number") throw new Error(`countdown: prompt '${prompt.id}' is not a countdown prompt`);
  return { numbers: ans.numbers, target: ans.target };
}

function splitKey({ numbers, target }: CountdownAnswer): string {
  return `${[...numbers].sort((p, q) => p - q).join(",")}>${target}`;
}

export function formatSteps(steps: readonly CountdownStep[]): string {
  return steps.map((s) => `${s.x}${s.op}${s.y}=${s.z}`).join(";");
}

/**
 * Parses and checks a response text against the rules above. Returns the steps when every
 * equation is well-formed, exact and uses available numbers, else null. The caller compares
 * the last result with the target.
 */
export function checkSteps(text: string, numbers: readonly number[]): CountdownStep[] | null {
  if (text === "") return null;
  const pool = new Map<number, number>();
  const give = (v: number): void => void pool.set(v, (pool.get(v) ?? 0) + 1);
  const take = (v: number): boolean => {
    const c = pool.get(v) ?? 0;
    if (c === 0) return false;
    pool.set(v, c - 1);
    return true;
  };
  numbers.forEach(give);
  const steps: CountdownStep[] = [];
  for (const part of text.split(";")) {
    const m = EQUATION.exec(part);
    if (!m) return null;
    const x = Number(m[1]), op = m[2] as CountdownOp, y = Number(m[3]), z = Number(m[4]);
    if (applyOp(x, op, y) !== z) return null;
    if (!take(x) || !take(y)) return null;
    give(z);
    steps.push({ x, op, y, z });
  }
  return steps;
}

/** Every valid solution (as step lists), by exhaustive search over the pool. */
export function countdownSolutions(numbers: readonly number[], target: number): CountdownStep[][] {
  const out: CountdownStep[][] = [];
  const path: CountdownStep[] = [];
  const search = (pool: number[]): void => {
    for (let i = 0; i < pool.length; i++) {
      for (let j = 0; j < pool.length; j++) {
        if (i === j) continue;
        for (const op of OPS) {
          const z = applyOp(pool[i], op, pool[j]);
          if (z < 0) continue;
          path.push({ x: pool[i], op, y: pool[j], z });
          if (z === target) out.push(path.slice());
          const rest = pool.filter((_, k) => k !== i && k !== j);
          rest.push(z);
          if (rest.length >= 2) search(rest);
          path.pop();
        }
      }
    }
  };
  search([...numbers]);
  return out;
}

export function makeCountdownTask(opts: CountdownOptions = {}): Task {
  const count = opts.count ?? 3;
  const maxNumber = opts.maxNumber ?? 9;
  const maxTarget = opts.maxTarget ?? 99;
  if (!Number.isInteger(count) || count < 2 || count > 4) throw new Error(`countdown: count must be an integer in [2, 4], got ${count}`);
  if (!Number.isInteger(maxNumber) || maxNumber < 1 || maxNumber > 99) throw new Error(`countdown: maxNumber must be an integer in [1, 99], got ${maxNumber}`);
  if (!Number.isInteger(maxTarget) || maxTarget < 1 || maxTarget > 9999) throw new Error(`countdown: maxTarget must be an integer in [1, 9999], got ${maxTarget}`);
  const isDefault = count === 3 && maxNumber === 9 && maxTarget === 99;
  const name = opts.name ?? (isDefault ? FAMILY : `${FAMILY}-${count}x${maxNumber}`);

  // Any value reachable from numbers n_i is at most prod(n_i + 1) - 1 (induction over + - *),
  // so every step fits in 3 such numbers plus "op", "=" and ";" (or the final eos).
  const valueDigits = digitCount((maxNumber + 1) ** count - 1);
  const maxResponseTokens = (count - 1) * (3 * valueDigits + 3);

  const draw = (rng: Rng): TaskPrompt => {
    // Bounded so a configuration with no admissible target (e.g. maxNumber 1, maxTarget 1)
    // fails with a message instead of looping forever.
    for (let tries = 0; tries < 100_000; tries++) {
      const numbers = Array.from({ length: count }, () => randInt(rng, 1, maxNumber));
      const order = numbers.slice();
      for (let k = order.length - 1; k > 0; k--) {
        const j = randInt(rng, 0, k);
        [order[k], order[j]] = [order[j], order[k]];
      }
      let v = order[0];
      for (let k = 1; k < order.length && v >= 0; k++) v = applyOp(v, OPS[randInt(rng, 0, OPS.length - 1)], order[k]);
      if (v < 1 || v > maxTarget || numbers.includes(v)) continue;
      const text = `${numbers.join(",")}>${v}:`;
      const answer: CountdownAnswer = { numbers, target: v };
      return makePrompt(`${FAMILY}:${text.slice(0, -1)}`, text, answer);
    }
    throw new Error(`task '${name}': no admissible target found for count ${count}, maxNumber ${maxNumber}, maxTarget ${maxTarget}`);
  };
  const isEval = (p: TaskPrompt): boolean => isEvalKey(FAMILY, splitKey(answerOf(p)));

  return {
    name,
    description: `reach the target from ${count} numbers in [1, ${maxNumber}] with + - *, one equation per step ("3,5,7>26:" -> "3*7=21;21+5=26"); reward 1 iff every step is exact, uses available numbers, and ends on the target`,
    vocab: VOCAB,
    maxResponseTokens,
    samplePrompt: (rng) => drawTrain(rng, draw, isEval, name),
    evalSet: (n, seed) => drawEval(n, seed, draw, isEval, name),
    verify(prompt: TaskPrompt, response: readonly number[]): Verdict {
      const { numbers, target } = answerOf(prompt);
      const stepEnds = delimiterStepEnds(response, STEP);
      const text = responseText(response);
      const steps = text === null ? null : checkSteps(text, numbers);
      const correct = steps !== null && steps[steps.length - 1].z === target;
      return { reward: correct ? 1 : 0, correct, stepEnds };
    },
    demonstration(prompt: TaskPrompt, rng: Rng): number[] {
      const { numbers, target } = answerOf(prompt);
      const sols = countdownSolutions(numbers, target);
      // Generated prompts are solvable by construction; a hand-made unsolvable one is a bug.
      if (sols.length === 0) throw new Error(`countdown: prompt '${prompt.id}' has no solution`);
      return [...VOCAB.encode(formatSteps(sols[randInt(rng, 0, sols.length - 1)])), VOCAB.eos];
    },
  };
}

/** The registered default: 3 numbers in [1, 9], targets in [1, 99]. */
export const countdown: Task = makeCountdownTask();
