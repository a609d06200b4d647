/**
 * Judged reasoning steps (CAPO, methods.md Part 3 §12): splitting a decoded solution into steps,
 * mapping the steps onto token positions (`step_ends`), and voting over K critiques, each of which
 * lists the steps it judges wrong.
 */

/** One step of a solution text: its trimmed text (for a judge prompt) and its [start, end) char range. */
export interface TextStep {
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

/**
 * How a solution is cut into steps: `blank-line` (CAPO's "\n\n", any run of blank lines),
 * `newline` (every line break) or `step-tags` (a step starts at each `<step k>` / `<step>` tag,
 * the forced-tag format CAPO's appendix mentions; closing tags are dropped from the text).
 */
export type StepDelimiter = "blank-line" | "newline" | "step-tags";

const SEPARATORS: Record<Exclude<StepDelimiter, "step-tags">, RegExp> = {
  "blank-line": /\n[^\S\n]*\n\s*/g,
  newline: /\n\s*/g,
};
const STEP_TAG = /<step\b[^>]*>/gi;
const CLOSE_TAG = /<\/step\b[^>]*>/gi;

/**
 * Splits `text` into steps whose char ranges tile the text: a separator belongs to the step before
 * it, and text before the first tag (`step-tags`) to the first step. Whitespace-only pieces are
 * merged into the step before them (or after them, at the start), so every step has content.
 */
export function splitSteps(text: string, delimiter: StepDelimiter = "blank-line"): TextStep[] {
  const cuts: number[] = []; // char offsets where a new step starts
  if (delimiter === "step-tags") {
    // The first tag opens the first step, which also takes any text before it.
    let first = true;
    for (const m of text.matchAll(STEP_TAG)) {
      if (!first) cuts.push(m.index!);
      first = false;
    }
  } else {
    for (const m of text.matchAll(SEPARATORS[delimiter])) {
      const at = m.index! + m[0].length;
      if (at < text.length) cuts.push(at);
    }
  }
  const bounds = [0, ...cuts, text.length];
  const clean = (s: string): string => (delimiter === "step-tags" ? s.replace(STEP_TAG, "").replace(CLOSE_TAG, "") : s).trim();
  const steps: { text: string; start: number; end: number }[] = [];
  let pendingStart = -1; // a leading whitespace-only piece, joined to the first real step
  for (let k = 0; k + 1 < bounds.length; k++) {
    const a = bounds[k], b = bounds[k + 1];
    if (a === b) continue;
    const body = clean(text.slice(a, b));
    if (body === "") {
      if (steps.length > 0) steps[steps.length - 1].end = b;
      else if (pendingStart < 0) pendingStart = a;
      continue;
    }
    steps.push({ text: body, start: pendingStart >= 0 ? pendingStart : a, end: b });
    pendingStart = -1;
  }
  return steps;
}

/** Steps of a tokenised solution: the text steps, their `step_ends`, and which step_ends entry each text step landed in. */
export interface TokenSteps {
  readonly steps: TextStep[];
  /** Strictly increasing token indices, the last one T-1 when there is any step. */
  readonly stepEnds: number[];
  /** stepOf[s] = index into stepEnds of text step s (steps ending inside one token are merged). */
  readonly stepOf: number[];
}

/**
 * Builds `step_ends` from the decoded text of each token (`pieces`, one string per token, in
 * order): the text is pieces.join(""), split with `splitSteps`, and a step ends at the token
 * holding its last character. Trailing tokens with no text (EOS decoded as "") join the last step,
 * so no token is left after the last step end. When several steps end inside one token they
 * share that step end (see `stepOf`, and `remapCritiques` for critiques given per text step).
 */
export function stepEndsFromPieces(pieces: readonly string[], delimiter: StepDelimiter = "blank-line"): TokenSteps {
  const text = pieces.join("");
  const steps = splitSteps(text, delimiter);
  const stepEnds: number[] = [];
  const stepOf: number[] = [];
  let tok = 0;
  let tokEnd = pieces.length > 0 ? pieces[0].length : 0; // one past the last char of token `tok`
  for (const st of steps) {
    const last = st.end - 1;
    while (tokEnd <= last && tok < pieces.length - 1) {
      tok++;
      tokEnd += pieces[tok].length;
    }
    if (stepEnds.length > 0 && stepEnds[stepEnds.length - 1] === tok) {
      stepOf.push(stepEnds.length - 1);
    } else {
      stepOf.push(stepEnds.length);
      stepEnds.push(tok);
    }
  }
  if (stepEnds.length > 0) stepEnds[stepEnds.length - 1] = pieces.length - 1;
  return { steps, stepEnds, stepOf };
}

/** Critiques given as text-step indices, mapped onto step_ends indices (duplicates removed, sorted). */
export function remapCritiques(critiques: readonly (readonly number[])[], stepOf: readonly number[]): number[][] {
  return critiques.map((c) => [...new Set(c.filter((s) => s >= 0 && s < stepOf.length).map((s) => stepOf[s]))].sort((a, b) => a - b));
}

/**
 * CAPO's voting over K critiques. `majority`: a step is wrong when more than K/2 critiques flag it;
 * `intersection`: when all K do; `average`: the penalty is the fraction of critiques flagging it.
 * No critiques means no wrong step.
 */
export type VoteRule = "majority" | "intersection" | "average";

/**
 * [nSteps] penalty factor per step in [0, 1] (0/1 for majority and intersection). Indices are
 * 0-based and must lie in [0, nSteps) (the caller validates); a critique flagging a step twice
 * counts once.
 */
export function voteWrongSteps(critiques: readonly (readonly number[])[], nSteps: number, rule: VoteRule): Float64Array {
  const votes = new Float64Array(nSteps);
  const K = critiques.length;
  if (K === 0) return votes;
  const seen = new Int32Array(nSteps).fill(-1);
  for (let c = 0; c < K; c++) {
    for (const s of critiques[c]) {
      if (seen[s] === c) continue;
      seen[s] = c;
      votes[s]++;
    }
  }
  for (let s = 0; s < nSteps; s++) {
    const v = votes[s];
    votes[s] = rule === "average" ? v / K : rule === "majority" ? (v > K / 2 ? 1 : 0) : v === K ? 1 : 0;
  }
  return votes;
}

/**
 * CAPO's token rewards of one rollout of T tokens: (solved ? wOutcome : 0) - penalty[s] * wProcess
 * on every token of step s (steps end at `stepEnds`), 0 on tokens after the last step end and on
 * mask-0 tokens. `penalty` is `voteWrongSteps`' output.
 */
export function judgedTokenRewards(
  T: number,
  stepEnds: readonly number[],
  penalty: ArrayLike<number>,
  solved: boolean,
  wOutcome: number,
  wProcess: number,
  mask?: ArrayLike<number>,
): Float64Array {
  const out = new Float64Array(T);
  const base = solved ? wOutcome : 0;
  let start = 0;
  for (let s = 0; s < stepEnds.length; s++) {
    const r = base - penalty[s] * wProcess;
    for (let t = start; t <= stepEnds[s] && t < T; t++) if (mask === undefined || mask[t] === 1) out[t] = r;
    start = stepEnds[s] + 1;
  }
  return out;
}
