/**
 * The CAPO critique prompt and the parser of the judge's answer.
 *
 * CAPO (arXiv 2508.02298) asks an off-the-shelf LLM to judge every step of a solution on its own
 * and to name the wrong ones; the paper's prompt text was not retrieved (methods.md Part 3 §12,
 * NOT FOUND), so the prompt below is this library's own. It numbers steps from 1, as people and
 * models do, and asks for a final machine-readable line `WRONG_STEPS: [i, j, ...]`. The parser
 * accepts that line, JSON (`{"wrong_steps": [...]}` or a bare list), step references ("Step 3",
 * "steps 2-4", "steps 2, 5 and 7") and plain prose ("Step 1 is fine but step 3 is wrong"), and
 * returns 0-based indices into the solution's steps; numbers outside 1..nSteps are dropped.
 */

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export const CRITIQUE_SYSTEM_PROMPT = [
  "You are a meticulous grader of step-by-step solutions.",
  "Judge every numbered step on its own: a step is wrong if it contains a calculation error, a logical error,",
  "an unjustified claim, or relies on an earlier wrong result. A step is not wrong merely because it is verbose.",
  "Think as briefly as you need, then finish with exactly one line of the form",
  "WRONG_STEPS: [i, j, ...]",
  "listing the numbers of the wrong steps, or",
  "WRONG_STEPS: []",
  "if every step is correct.",
].join("\n");

/** The chat messages asking for one critique of `steps` (texts of the solution's steps, in order). */
export function buildCritiqueMessages(problem: string, steps: readonly string[], reference?: string): ChatMessage[] {
  const lines = [`Problem:\n${problem.trim()}`, ""];
  if (reference !== undefined) lines.push(`Reference answer:\n${reference.trim()}`, "");
  lines.push(`Solution (${steps.length} step${steps.length === 1 ? "" : "s"}):`);
  steps.forEach((s, k) => lines.push(`Step ${k + 1}: ${s.trim()}`));
  lines.push("", "Which steps are wrong? End with the WRONG_STEPS line.");
  return [
    { role: "system", content: CRITIQUE_SYSTEM_PROMPT },
    { role: "user", content: lines.join("\n") },
  ];
}

const NUMBER_LIST = String.raw`#?\d+(?:\s*(?:,|and|&|or|to|through|thru|-|–|—|\.\.)\s*(?:steps?\s*)?#?\d+)*`;
const STEP_REF = new RegExp(String.raw`\bsteps?\s*(?:no\.?\s*|number\s*)?` + `(${NUMBER_LIST})`, "gi");
const BARE_LIST = new RegExp(String.raw`^\s*(?:steps?\s*)?(${NUMBER_LIST})\s*\.?\s*$`, "i");
const NEGATIVE = /\b(?:wrong|incorrect(?:ly)?|erroneous|errors?|mistakes?|mistaken|flawed|invalid|not\s+(?:correct|right|valid|justified))\b/i;
const NEGATED = /\b(?:no|none|nothing|not|without|free\s+of)\b(?:\s+\w+){0,4}?\s+(?:wrong|incorrect|errors?|mistakes?|flaws?|flawed|invalid)\b/i;
const ALL_CORRECT = /\b(?:all|every|each)\s+(?:of\s+the\s+)?(?:\w+\s+)?steps?\s+(?:\w+\s+)?(?:is|are)\s+(?:\w+\s+)?(?:correct|right|valid|fine)\b|^\s*(?:none|no|n\/a|nothing)\s*\.?\s*$/im;

/**
 * 1-based step numbers in a list such as "2, 4-6 and step 9": ranges ("4-6", "4 to 6") are
 * inclusive and clipped to 1..nSteps, so a wild range cannot blow up.
 */
function numbersIn(list: string, nSteps: number, out: Set<number>): void {
  const re = /(\d+)(?:\s*(?:to|through|thru|-|–|—|\.\.)\s*(?:steps?\s*)?#?(\d+))?/gi;
  for (const m of list.matchAll(re)) {
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    const lo = Math.max(1, Math.min(a, b));
    const hi = Math.min(nSteps, Math.max(a, b));
    for (let s = lo; s <= hi; s++) out.add(s - 1);
  }
}

function sorted(s: Set<number>): number[] {
  return [...s].sort((a, b) => a - b);
}

/** Items of a JSON array: numbers, numeric strings, "Step 3", "2-4". */
function fromJsonList(items: unknown[], nSteps: number): number[] {
  const out = new Set<number>();
  for (const it of items) {
    if (typeof it === "number" && Number.isInteger(it)) {
      if (it >= 1 && it <= nSteps) out.add(it - 1);
    } else if (typeof it === "string") {
      numbersIn(it, nSteps, out);
    }
  }
  return sorted(out);
}

/** The answer without reasoning blocks (`<think>...</think>`, as reasoning models emit inline). */
function stripReasoning(answer: string): string {
  const close = answer.lastIndexOf("</think>");
  const body = close >= 0 ? answer.slice(close + "</think>".length) : answer;
  return body.replace(/<think>[\s\S]*?(?:<\/think>|$)/gi, "");
}

/**
 * 0-based indices of the steps the answer calls wrong, sorted and unique, with numbers outside
 * 1..nSteps dropped; [] when the answer says no step is wrong; null when it gives no verdict at
 * all (a malformed answer, which a caller should not count as a critique).
 */
export function parseWrongSteps(answer: string, nSteps: number): number[] | null {
  const text = stripReasoning(answer);

  // 1. The requested verdict line; the last one wins (a model may restate it).
  const verdicts = [...text.matchAll(/wrong[_\s-]*steps?["']?\s*[:=]\s*(.*)$/gim)];
  for (let v = verdicts.length - 1; v >= 0; v--) {
    const rest = verdicts[v][1];
    const out = new Set<number>();
    const bracket = /\[([^\]]*)\]/.exec(rest);
    if (bracket) {
      numbersIn(bracket[1], nSteps, out);
      return sorted(out);
    }
    if (/\d/.test(rest)) {
      numbersIn(rest, nSteps, out);
      return sorted(out);
    }
    if (/\b(?:none|no|nothing|empty)\b|^\s*$/i.test(rest)) return [];
  }

  // 2. JSON: an object with a wrong/incorrect/error key, else the last bare list.
  for (const m of [...text.matchAll(/\{[^{}]*\}/g)].reverse()) {
    try {
      const obj: unknown = JSON.parse(m[0]);
      if (typeof obj === "object" && obj !== null && !Array.isArray(obj)) {
        for (const [key, val] of Object.entries(obj)) {
          if (/wrong|incorrect|error|mistake/i.test(key) && Array.isArray(val)) return fromJsonList(val, nSteps);
        }
      }
    } catch {
      // not JSON: fall through to the other forms
    }
  }
  const lists = [...text.matchAll(/\[([^[\]]*)\]/g)];
  for (let l = lists.length - 1; l >= 0; l--) {
    const inner = lists[l][1];
    if (/^[\s\d,"'#\-–—]*(?:(?:steps?|to|and)[\s\d,"'#\-–—]*)*$/i.test(inner)) {
      const out = new Set<number>();
      numbersIn(inner, nSteps, out);
      return sorted(out);
    }
  }

  // 3. An answer that is only a list of step numbers: "Step 3", "2, 4", "steps 2-4".
  const bare = BARE_LIST.exec(text.trim());
  if (bare) {
    const out = new Set<number>();
    numbersIn(bare[1], nSteps, out);
    return sorted(out);
  }

  // 4. Prose: step references in clauses that call something wrong and do not negate it.
  const out = new Set<number>();
  let flagged = false;
  let cleared = ALL_CORRECT.test(text);
  for (const clause of text.split(/(?<=[.!?;])\s+|\n+|,?\s+(?:but|while|whereas|however)\s+/i)) {
    if (NEGATED.test(clause)) {
      cleared = true;
      continue;
    }
    if (!NEGATIVE.test(clause)) continue;
    for (const m of clause.matchAll(STEP_REF)) {
      flagged = true;
      numbersIn(m[1], nSteps, out);
    }
  }
  if (flagged) return sorted(out);
  return cleared ? [] : null;
}

/** The verdict line for a set of 0-based wrong steps (what a well-behaved judge answers). */
export function formatVerdict(wrong: readonly number[]): string {
  return `WRONG_STEPS: [${wrong.map((s) => s + 1).join(", ")}]`;
}
