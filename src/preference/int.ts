/**
 * InT: self-proposed interventions (Yang, ..., Setlur, Kumar, ICLR 2026, arXiv 2601.14209). CODE for
 * the data pipeline (intervention-training/int), SECONDARY for the objective.
 *
 * A failed attempt is split into steps on "\n\n"; the model proposes an intervention (content, and
 * the 1-based step `location` of the first critical error). The guided attempt, the SFT target, is
 * the attempt's own steps before `location` followed by the intervention:
 *   location == 1: content with "\n" doubled;  else steps[:location-1].join("\n\n") + "\n\n" + content'
 * Trained: prefix + intervention (no prompt, no erroneous suffix, no EOS), token-mean NLL.
 * [QUIRK] A location past the end keeps the whole attempt, error included (Python slicing):
 * `legacy: true`; the default clamps location to [1, #steps] ([PROPOSAL]). [QUIRK] doubling "\n"
 * turns an existing "\n\n" into four newlines; kept, as in the code.
 */
import { maskedMeanNll, type SeqLoss } from "./common.js";

export interface GuidedAttemptOptions {
  /** Reproduce the code's slicing for out-of-range locations (default false: clamp). */
  legacy?: boolean;
}

/** Python's `lst[:stop]` for an integer stop (negative counts from the end). */
function pySliceEnd<T>(xs: readonly T[], stop: number): T[] {
  const end = stop < 0 ? Math.max(0, xs.length + stop) : Math.min(stop, xs.length);
  return xs.slice(0, end);
}

/**
 * The attempt's steps kept before an intervention at 1-based `location`: steps[:location-1], with
 * location clamped to [1, #steps] unless `legacy` (Python slicing). Shared by the text form below
 * and the token form of the trainer.
 */
export function stepsBeforeIntervention<T>(steps: readonly T[], location: number, o: GuidedAttemptOptions = {}): T[] {
  if (!Number.isInteger(location)) throw new RangeError(`intervention location must be an integer, got ${location}`);
  const loc = o.legacy ? location : Math.min(Math.max(location, 1), steps.length);
  return loc === 1 ? [] : pySliceEnd(steps, loc - 1);
}

/** The intervention-guided attempt of methods-part4.md section 4 step 4. */
export function interventionGuidedAttempt(attempt: string, content: string, location: number, o: GuidedAttemptOptions = {}): string {
  const kept = stepsBeforeIntervention(attempt.split("\n\n"), location, o);
  const body = content.replace(/\n/g, "\n\n");
  return kept.length === 0 ? body : kept.join("\n\n") + "\n\n" + body;
}

/** The leak filter: an intervention that states the answer (substring test) is dropped. */
export function interventionLeaksAnswer(content: string, answer: string): boolean {
  return content.includes(answer);
}

/** InT's SFT loss: token-mean NLL over the trained (prefix + intervention) tokens. */
export function interventionSftLoss(lp: Float64Array, trained: ArrayLike<number> | null = null): SeqLoss {
  return maskedMeanNll(lp, trained);
}
