/**
 * Segment operations: the steps of a rollout (runs delimited by `step_ends`) and its turns
 * (maximal runs of mask-1 tokens). Shared by every step-, turn- and segment-level method.
 * Segments are reported as flat [start, end) token ranges in batch coordinates.
 */
import type { RolloutBatch } from "./batch.js";

export interface Segments {
  /** [nRollouts+1] rollout i owns segments [segOffsets[i], segOffsets[i+1]). */
  readonly segOffsets: Int32Array;
  /** [nSegments] first token (flat index). */
  readonly start: Int32Array;
  /** [nSegments] one past the last token (flat index). */
  readonly end: Int32Array;
}

/**
 * The steps of each rollout from `step_ends`: step j of rollout i covers tokens
 * (step_ends[j-1], step_ends[j]]. With `includeTail`, tokens after the last step end form one
 * more segment (SPO-tree's rule); without it they belong to no step (methods.md Part 0).
 * A rollout without step_ends has no steps (or, with includeTail, one segment of all its tokens).
 */
export function stepSegments(batch: RolloutBatch, includeTail = false): Segments {
  const { offsets, stepOffsets, stepEnds } = batch;
  const n = batch.n;
  const segOffsets = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    const nSteps = stepOffsets[i + 1] - stepOffsets[i];
    const T = offsets[i + 1] - offsets[i];
    const lastEnd = nSteps > 0 ? stepEnds[stepOffsets[i + 1] - 1] : -1;
    const tail = includeTail && lastEnd < T - 1 ? 1 : 0;
    segOffsets[i + 1] = segOffsets[i] + nSteps + tail;
  }
  const start = new Int32Array(segOffsets[n]);
  const end = new Int32Array(segOffsets[n]);
  for (let i = 0; i < n; i++) {
    let s = segOffsets[i];
    let prev = -1;
    for (let j = stepOffsets[i]; j < stepOffsets[i + 1]; j++) {
      start[s] = offsets[i] + prev + 1;
      end[s] = offsets[i] + stepEnds[j] + 1;
      prev = stepEnds[j];
      s++;
    }
    if (s < segOffsets[i + 1]) {
      start[s] = offsets[i] + prev + 1;
      end[s] = offsets[i + 1];
    }
  }
  return { segOffsets, start, end };
}

/** The turns of each rollout: maximal runs of mask-1 tokens, in order. One pass over the mask. */
export function maskRuns(batch: RolloutBatch): Segments {
  const { offsets, mask } = batch;
  const n = batch.n;
  const segOffsets = new Int32Array(n + 1);
  // A rollout of T tokens has at most ceil(T / 2) runs.
  const cap = Math.ceil(batch.nTokens / 2) + n;
  const start = new Int32Array(cap);
  const end = new Int32Array(cap);
  let s = 0;
  for (let i = 0; i < n; i++) {
    let inRun = false;
    for (let k = offsets[i]; k < offsets[i + 1]; k++) {
      if (mask[k] === 1) {
        if (!inRun) {
          start[s] = k;
          inRun = true;
        }
      } else if (inRun) {
        end[s++] = k;
        inRun = false;
      }
    }
    if (inRun) end[s++] = offsets[i + 1];
    segOffsets[i + 1] = s;
  }
  return { segOffsets, start: start.slice(0, s), end: end.slice(0, s) };
}

/**
 * [nTokens] each step's value on the tokens of that step (steps of `step_ends`, indexed like
 * `batch.stepEnds`); tokens after a rollout's last step keep `out`'s value (0 when fresh).
 */
export function broadcastSteps(batch: RolloutBatch, stepValues: ArrayLike<number>, out: Float64Array = new Float64Array(batch.nTokens)): Float64Array {
  const { offsets, stepOffsets, stepEnds } = batch;
  for (let i = 0; i < batch.n; i++) {
    let from = offsets[i];
    for (let s = stepOffsets[i]; s < stepOffsets[i + 1]; s++) {
      const end = offsets[i] + stepEnds[s] + 1;
      out.fill(stepValues[s], from, end);
      from = end;
    }
  }
  return out;
}
