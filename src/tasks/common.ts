/**
 * Pieces every task shares: a seeded generator, the hash-based train/eval split, and reading a
 * response up to its eos without ever throwing on model output.
 */
import { mulberry32 } from "../core/random.js";
import type { Rng, TaskPrompt } from "./types.js";
import { VOCAB } from "./vocab.js";

export { mulberry32 } from "../core/random.js";

/** Uniform integer in [lo, hi] (inclusive). */
export function randInt(rng: Rng, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}

/** 32-bit FNV-1a of a string's UTF-16 code units. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Share of the prompt space held out for evaluation. */
export const EVAL_FRACTION = 0.1;

/**
 * The split rule: a prompt is held out iff the hash of its task family and split key falls in
 * the first EVAL_FRACTION of the hash range. The key is the prompt's canonical content with
 * symmetries removed (e.g. sorted operands), so "47+85" and "85+47" are on the same side and
 * evaluation never sees a trivial rewrite of a training prompt. The rule depends only on the
 * content, never on a seed or a config, so it is the same in every run and every process.
 */
export function isEvalKey(family: string, key: string): boolean {
  return fnv1a(`${family}|${key}`) / 4294967296 < EVAL_FRACTION;
}

const MAX_TRAIN_TRIES = 100_000;

/** Draws prompts until one is on the training side of the split. */
export function drawTrain(rng: Rng, draw: (rng: Rng) => TaskPrompt, isEval: (p: TaskPrompt) => boolean, name: string): TaskPrompt {
  for (let k = 0; k < MAX_TRAIN_TRIES; k++) {
    const p = draw(rng);
    if (!isEval(p)) return p;
  }
  throw new Error(`task '${name}': no training prompt found in ${MAX_TRAIN_TRIES} draws (prompt space too small?)`);
}

/**
 * n distinct held-out prompts, deterministic for (n, seed). Distinct so accuracy is not
 * weighted towards repeats; a prompt space too small for n is an error, not a silent repeat.
 */
export function drawEval(n: number, seed: number, draw: (rng: Rng) => TaskPrompt, isEval: (p: TaskPrompt) => boolean, name: string): TaskPrompt[] {
  if (!Number.isInteger(n) || n < 0) throw new Error(`task '${name}': evalSet size must be a non-negative integer, got ${n}`);
  const rng = mulberry32(seed);
  const seen = new Set<string>();
  const out: TaskPrompt[] = [];
  const budget = 2000 + 400 * n;
  for (let k = 0; k < budget && out.length < n; k++) {
    const p = draw(rng);
    if (!isEval(p) || seen.has(p.id)) continue;
    seen.add(p.id);
    out.push(p);
  }
  if (out.length < n) throw new Error(`task '${name}': found only ${out.length} distinct evaluation prompts, ${n} requested`);
  return out;
}

/** A prompt record: text plus its tokens (bos first). */
export function makePrompt(id: string, text: string, answer: unknown): TaskPrompt {
  return { id, text, tokens: [VOCAB.bos, ...VOCAB.encode(text)], answer };
}

/**
 * The response text up to (not including) its first eos; anything after the eos is ignored
 * (samplers pad there). Null when a token before the eos is not plain content: an id outside
 * the vocabulary, bos or pad. The eos itself is optional (the interface allows either).
 */
export function responseText(response: readonly number[]): string | null {
  let end = response.indexOf(VOCAB.eos);
  if (end < 0) end = response.length;
  for (let k = 0; k < end; k++) {
    const id = response[k];
    if (!VOCAB.isId(id) || id === VOCAB.bos || id === VOCAB.pad) return null;
  }
  return VOCAB.decode(response.slice(0, end));
}

/**
 * Step ends for tasks whose steps are separated by a delimiter token: a step ends at each
 * delimiter, and whatever follows the last delimiter (final answer, eos) is one more step
 * ending at the last token. Defined for any response, well-formed or not, so step-level
 * methods always get step_ends that cover every token.
 */
export function delimiterStepEnds(response: readonly number[], delimiter: number): number[] {
  const ends: number[] = [];
  for (let k = 0; k < response.length; k++) if (response[k] === delimiter) ends.push(k);
  if (response.length > 0 && ends[ends.length - 1] !== response.length - 1) ends.push(response.length - 1);
  return ends;
}

/** Decimal digits of a non-negative integer. */
export function digitCount(x: number): number {
  return String(x).length;
}
