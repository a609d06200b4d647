/**
 * The packed, columnar rollout batch every method runs over.
 *
 * All rollouts' per-token fields are concatenated into flat typed arrays; rollout i owns
 * tokens [offsets[i], offsets[i+1]). Groups, episodes and anchors are interned to dense
 * integers, and each group's members are listed in CSR form (groupOffsets/groupMembers) so
 * group statistics are single passes over typed arrays. Index spaces are marked on every
 * field: [n] rollouts, [nTokens] tokens, [nSteps] steps, [nGroups] groups.
 */

/** An optional per-token float column: data for every token, and which rollouts supplied it. */
export interface TokenColumn {
  readonly data: Float64Array; // [nTokens]; 0 where the rollout did not supply the field
  readonly present: Uint8Array; // [n]; 1 if rollout i supplied the field
}

/** An optional per-step float column (step_rewards). */
export interface StepColumn {
  readonly data: Float64Array; // [nSteps]
  readonly present: Uint8Array; // [n]
}

export type TokenFieldName = "token_rewards" | "logprobs" | "ref_logprobs" | "entropies" | "values";

export interface RolloutBatch {
  /** File name used in error messages ("<stdin>" for standard input). */
  readonly source: string;
  readonly n: number;
  readonly nTokens: number;
  readonly ids: readonly string[]; // [n]
  readonly lines: Int32Array; // [n] 1-based line (JSONL) or row number (Parquet) of each rollout

  readonly offsets: Int32Array; // [n+1]
  readonly tokens: Int32Array; // [nTokens]
  readonly mask: Uint8Array; // [nTokens] 1 = trained policy token, 0 = tool/environment token
  readonly reward: Float64Array; // [n] outcome reward
  readonly finished: Uint8Array; // [n] 0 when cut off by the length limit

  readonly tokenRewards: TokenColumn | null;
  readonly logprobs: TokenColumn | null;
  readonly refLogprobs: TokenColumn | null;
  readonly entropies: TokenColumn | null;
  readonly values: TokenColumn | null;

  readonly stepOffsets: Int32Array; // [n+1] rollout i owns steps [stepOffsets[i], stepOffsets[i+1])
  readonly stepEnds: Int32Array; // [nSteps] token index (within the rollout) of each step's last token
  readonly hasSteps: Uint8Array; // [n] 1 if step_ends was given
  readonly stepRewards: StepColumn | null;

  readonly group: Int32Array; // [n] dense group index
  readonly groupNames: readonly string[]; // [nGroups]
  readonly groupOffsets: Int32Array; // [nGroups+1]
  readonly groupMembers: Int32Array; // [n] rollouts of group g, in input order: [groupOffsets[g], groupOffsets[g+1])

  readonly episode: Int32Array; // [n] dense episode index, -1 when absent
  readonly episodeNames: readonly string[];
  readonly t: Int32Array; // [n] step index within the episode, -1 when absent
  readonly anchor: Int32Array; // [n] dense anchor-state index, -1 when absent
  readonly anchorNames: readonly string[];

  /** Method-specific inputs, validated by the method that reads them. */
  readonly signals: readonly (Readonly<Record<string, unknown>> | undefined)[]; // [n]
  /** Passed through untouched. */
  readonly meta: readonly unknown[]; // [n]
}

export const TOKEN_FIELDS: readonly TokenFieldName[] = ["token_rewards", "logprobs", "ref_logprobs", "entropies", "values"];

export function tokenColumn(batch: RolloutBatch, field: TokenFieldName): TokenColumn | null {
  switch (field) {
    case "token_rewards":
      return batch.tokenRewards;
    case "logprobs":
      return batch.logprobs;
    case "ref_logprobs":
      return batch.refLogprobs;
    case "entropies":
      return batch.entropies;
    case "values":
      return batch.values;
  }
}

/** Number of tokens of rollout i. */
export function lengthOf(batch: RolloutBatch, i: number): number {
  return batch.offsets[i + 1] - batch.offsets[i];
}
