/**
 * SPO-tree benchmark input: segment ends on a fixed 32-token grid, the same for every rollout, so
 * the group's responses (which share prefixes up to synth's branch points at T/8, T/4, T/2) form a
 * real segment tree with merged sibling segments, rather than one path per response as synth's
 * random step ends would give. step_rewards are redrawn to match the new step count.
 */
import type { RolloutRow } from "../../src/core/rows.js";

export const options: Record<string, unknown> = { mode: "rloo" };

const SEGMENT = 32;

export function prepare(rows: RolloutRow[], rng: () => number): void {
  for (const row of rows) {
    const T = row.tokens.length;
    const ends: number[] = [];
    for (let e = SEGMENT - 1; e < T; e += SEGMENT) ends.push(e);
    row.step_ends = ends;
    if (row.step_rewards !== undefined) row.step_rewards = ends.map(() => 2 * rng() - 1);
  }
}
