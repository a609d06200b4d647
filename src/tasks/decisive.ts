/**
 * `decisive`: a long, fully determined response whose reward hinges on two tokens in the middle.
 *
 * Prompt: a key of keyLength decimal digits and ":" ("4827:"). Response, a fixed record that
 * copies the key twice around two computed fields, then eos:
 *   "4827:"  ->  "key:4827,max:7,gt:n,key:4827,end$"      (33 tokens for the default keyLength 4)
 * The two decisive tokens are
 *   - the digit after "max:" (response index keyLength+9, 13 by default): the larger of the
 *     key's first and last digits (max(4, 7) -> "7");
 *   - the answer letter after "gt:" (index keyLength+14, 18 by default): "y" if the first key
 *     digit is greater than the last, else "n" (4 > 7 is false -> "n"; "7824" -> "y").
 * Reward rule (exact): 1 iff the response, cut at its first eos, reaches the gt position and
 * both decisive positions hold the right tokens; 0 otherwise. No other token is read: a
 * non-decisive token may be anything (a wrong copy of the key, a misspelt field name, garbage)
 * without changing the reward, so Verdict.decisive names exactly the tokens that decide the
 * outcome, by construction. Positions are fixed by the layout, not found by parsing.
 * Why this shape: demonstrations are determined by the prompt everywhere (copies and constant
 * text a tiny model learns almost at once) except at the two decisive tokens, which need a rule
 * (both compare the key's first and last digits; the middle digits are only copied). A
 * warm-started model is therefore confident on the ~31 filler tokens and uncertain at exactly
 * the decisive ones: the case where sequence-level credit spreads the advantage over 33 tokens
 * and fine-grained methods should concentrate it. (Checksums were
 * tried first, the sum of all digits and of the first and last digits mod 10: the default
 * 0.5M model, warm-started for 300-500 steps, stayed near chance on both, 4-10% reward, too
 * sparse for RL to show progress in minutes. With this rule the same model, SFT batch 32 at
 * lr 2e-3, reaches 47% greedy / 34% sampled reward after 100 steps and 96% after 200: stop the
 * warm start around 100 steps to leave RL room.)
 * Steps: the record's fields, at fixed positions (ends at each field's "," and at the last
 * token), so the decisive tokens lie in steps 2 and 3.
 * Eval split: hash of the key.
 */
import { drawEval, drawTrain, isEvalKey, makePrompt, randInt } from "./common.js";
import type { Rng, Task, TaskPrompt, Verdict } from "./types.js";
import { VOCAB } from "./vocab.js";

export interface DecisiveOptions {
  /** Digits in the key (2..8). Default 4 (33-token responses). */
  keyLength?: number;
  /** Registry name; defaults to "decisive" for keyLength 4, "decisive-<k>" otherwise. */
  name?: string;
}

export interface DecisiveAnswer {
  readonly key: string;
}

const FAMILY = "decisive";
export const DECISIVE_DEFAULT_KEY_LENGTH = 4;

function answerOf(prompt: TaskPrompt): DecisiveAnswer {
  const ans = prompt.answer as Partial<DecisiveAnswer> | null;
  if (!ans || typeof ans.key !== "string" || !/^\d+$/.test(ans.key)) throw new Error(`decisive: prompt '${prompt.id}' is not a decisive prompt`);
  return { key: ans.key };
}

/** The max digit: the larger of the key's first and last digits. */
export function maxDigit(key: string): string {
  return String(Math.max(Number(key[0]), Number(key[key.length - 1])));
}

/** The answer letter: "y" iff the first digit of the key is greater than the last. */
export function gtLetter(key: string): string {
  return Number(key[0]) > Number(key[key.length - 1]) ? "y" : "n";
}

/** The full correct response text (without eos). */
export function decisiveSolution(key: string): string {
  return `key:${key},max:${maxDigit(key)},gt:${gtLetter(key)},key:${key},end`;
}

/** Response indices of the max digit and the gt letter for a key of length L. */
export function decisivePositions(keyLength: number): [number, number] {
  return [keyLength + 9, keyLength + 14];
}

export function makeDecisiveTask(opts: DecisiveOptions = {}): Task {
  const L = opts.keyLength ?? DECISIVE_DEFAULT_KEY_LENGTH;
  // At least 2 digits so "first vs last" compares two positions; at most 8 keeps it short.
  if (!Number.isInteger(L) || L < 2 || L > 8) throw new Error(`decisive: keyLength must be an integer in [2, 8], got ${L}`);
  const name = opts.name ?? (L === DECISIVE_DEFAULT_KEY_LENGTH ? FAMILY : `${FAMILY}-${L}`);
  const [maxAt, gtAt] = decisivePositions(L);
  const length = decisiveSolution("0".repeat(L)).length + 1;
  // Field ends of the layout: "key:K," "max:d," "gt:y," "key:K," then "end" + eos.
  const fieldEnds = [L + 4, L + 10, L + 15, 2 * L + 20];

  const draw = (rng: Rng): TaskPrompt => {
    let key = "";
    for (let k = 0; k < L; k++) key += String(randInt(rng, 0, 9));
    const answer: DecisiveAnswer = { key };
    return makePrompt(`${FAMILY}:${key}`, `${key}:`, answer);
  };
  const isEval = (p: TaskPrompt): boolean => isEvalKey(FAMILY, answerOf(p).key);

  return {
    name,
    description: `copy a ${length}-token record of a ${L}-digit key; only the max(first, last) digit (index ${maxAt}) and the first>last letter (index ${gtAt}) decide the reward`,
    vocab: VOCAB,
    maxResponseTokens: length,
    samplePrompt: (rng) => drawTrain(rng, draw, isEval, name),
    evalSet: (n, seed) => drawEval(n, seed, draw, isEval, name),
    verify(prompt: TaskPrompt, response: readonly number[]): Verdict {
      const { key } = answerOf(prompt);
      const T = response.length;
      const stepEnds = fieldEnds.filter((k) => k < T - 1);
      if (T > 0) stepEnds.push(T - 1);
      let end = response.indexOf(VOCAB.eos);
      if (end < 0) end = T;
      const correct =
        end > gtAt &&
        response[maxAt] === VOCAB.encode(maxDigit(key))[0] &&
        response[gtAt] === VOCAB.encode(gtLetter(key))[0];
      // Only indices that exist: a response cut short was decided by where it stopped.
      const decisive = [maxAt, gtAt].filter((k) => k < T);
      return { reward: correct ? 1 : 0, correct, stepEnds, decisive };
    },
    demonstration(prompt: TaskPrompt, _rng: Rng): number[] {
      return [...VOCAB.encode(decisiveSolution(answerOf(prompt).key)), VOCAB.eos];
    },
  };
}

/** The registered default: 4-digit keys, 33-token responses, decisive tokens at 13 and 18. */
export const decisive: Task = makeDecisiveTask();
