/**
 * HICRA: Hierarchy-Aware Credit Assignment (arXiv 2509.03646). Starts from verl GRPO advantages
 * A_i (unbiased std, eps 1e-6, singleton mean 0 std 1) and amplifies credit on planning tokens:
 *
 *   variant "paper" (default):  Â_{i,t} = A_i + alpha |A_i| 1[t in planning(i)]
 *
 * so a correct response's planning tokens get x(1 + alpha) and a wrong response's x(1 - alpha).
 * Planning tokens are the union of `signals.planning` (0/1 per token) and every window of
 * mask-1 tokens whose ids equal one of the configured `grams` (Strategic Grams, already
 * tokenised); a window never spans a mask-0 token.
 *
 *   variant "verl" (the VeRL lines quoted by the TRL port, `modify_advantages_hicra`): per group
 *   with at least one correct response (A_i > 0), a response is amplified when it is correct and
 *   longer (in mask-1 tokens) than the group's mean length; its high-entropy tokens are those with
 *   H > θ_i, θ_i = sorted mask-1 entropies at index clip(floor((1 - entropyTopK) n_i), 0, n_i - 1).
 *   Every high-entropy or planning token of the group gets A_i (1 + alpha sign(A_i)); groups with
 *   no correct response are unchanged.
 *
 * QUIRK: the quoted VeRL code writes through chained boolean indexing (`adv[group][mask] *= ...`),
 * which in PyTorch updates a temporary copy, so amplification never happens there. Following the
 * TRL port's fix (methods.md Part 0), the "verl" variant here does amplify.
 *
 * Status "paper": the authors' code is not public (TIGER-AI-Lab/Hierarchical-Reasoner holds no
 * code), so the default follows the paper's formula and the "verl" variant the TRL port.
 */
import type { RolloutBatch } from "../core/batch.js";
import { rolloutEntropyThresholds } from "../core/entropy.js";
import { InputError } from "../core/errors.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { trainableCounts } from "../core/rewards.js";
import { broadcastToTokens } from "../core/stats.js";
import { grpoSequenceAdvantages } from "./grpo.js";

export interface HicraOptions {
  alpha: number;
  variant: "paper" | "verl";
  entropyTopK: number;
  /** Strategic Grams as token-id sequences. */
  grams: number[][];
}

/** A trie over gram token ids; `terminal` marks the end of a gram. */
interface GramNode {
  readonly next: Map<number, GramNode>;
  terminal: boolean;
}

const ROOT_FILTER_SIZE = 1 << 16;

function buildGramTrie(grams: readonly (readonly number[])[]): GramNode {
  const root: GramNode = { next: new Map(), terminal: false };
  for (const gram of grams) {
    let node = root;
    for (const id of gram) {
      let child = node.next.get(id);
      if (child === undefined) {
        child = { next: new Map(), terminal: false };
        node.next.set(id, child);
      }
      node = child;
    }
    node.terminal = true;
  }
  return root;
}

function readPlanningSignal(batch: RolloutBatch, i: number, out: Uint8Array): void {
  const value = batch.signals[i]?.planning;
  if (value === undefined) return;
  const T = batch.offsets[i + 1] - batch.offsets[i];
  const bad = (what: string): never => {
    throw new InputError(batch.source, batch.lines[i], "signals.planning", what);
  };
  if (!Array.isArray(value)) bad("expected an array of 0/1, one entry per token");
  const flags = value as unknown[];
  if (flags.length !== T) bad(`expected ${T} entries (one per token), got ${flags.length}`);
  const o = batch.offsets[i];
  for (let t = 0; t < T; t++) {
    const f = flags[t];
    if (f !== 0 && f !== 1) bad(`entry ${t} is ${JSON.stringify(f) ?? String(f)}; expected 0 or 1`);
    if (f === 1 && batch.mask[o + t] === 1) out[o + t] = 1;
  }
}

/**
 * [nTokens] 1 on planning tokens: `signals.planning` united with every all-mask-1 window whose
 * token ids equal a gram. 0 on mask-0 tokens. Throws InputError on a malformed signal.
 */
export function planningMask(batch: RolloutBatch, grams: readonly (readonly number[])[]): Uint8Array {
  const planning = new Uint8Array(batch.nTokens);
  for (let i = 0; i < batch.n; i++) readPlanningSignal(batch, i, planning);
  if (grams.length === 0) return planning;
  const trie = buildGramTrie(grams);
  // Most tokens start no gram: a bitmap over the low bits of first ids skips their Map lookup.
  const mayStart = new Uint8Array(ROOT_FILTER_SIZE);
  for (const id of trie.next.keys()) mayStart[id & (ROOT_FILTER_SIZE - 1)] = 1;
  const { offsets, tokens, mask } = batch;
  for (let i = 0; i < batch.n; i++) {
    const end = offsets[i + 1];
    // Token k is covered when some match starting at or before k ends after it.
    let coveredUntil = offsets[i];
    for (let start = offsets[i]; start < end; start++) {
      if (mayStart[tokens[start] & (ROOT_FILTER_SIZE - 1)] === 0) {
        if (start < coveredUntil) planning[start] = 1;
        continue;
      }
      let node: GramNode | undefined = trie;
      for (let k = start; k < end && mask[k] === 1; k++) {
        node = node.next.get(tokens[k]);
        if (node === undefined) break;
        if (node.terminal && k + 1 > coveredUntil) coveredUntil = k + 1;
      }
      if (start < coveredUntil) planning[start] = 1;
    }
  }
  return planning;
}

/** [nTokens] the entropies the verl variant needs on every rollout (the paper variant reads none). */
function entropiesForVerl(batch: RolloutBatch): Float64Array {
  const column = batch.entropies;
  for (let i = 0; i < batch.n; i++) {
    if (column === null || !column.present[i]) throw new InputError(batch.source, batch.lines[i], "entropies", "required by method 'hicra' with variant 'verl' but missing");
  }
  return column === null ? new Float64Array(0) : column.data;
}

export function hicra(batch: RolloutBatch, opts: HicraOptions): Assignment {
  const seq = grpoSequenceAdvantages(batch, { eps: 1e-6, normByStd: true, std: "unbiased" });
  const planning = planningMask(batch, opts.grams);
  const { offsets, mask, groupOffsets, groupMembers } = batch;
  const alpha = opts.alpha;

  if (opts.variant === "paper") {
    // A_i on every mask-1 token (the shared fill-based broadcast), then only the planning tokens,
    // a small minority found four flags at a time, are rewritten with the boosted value.
    const advantages = broadcastToTokens(batch, seq);
    const words = (planning.byteOffset & 3) === 0 ? new Uint32Array(planning.buffer, planning.byteOffset, planning.length >> 2) : null;
    const wordEnd = words === null ? 0 : words.length << 2; // tokens [0, wordEnd) are covered by words
    let i = 0; // the rollout holding token k (k only grows)
    for (let k = 0; k < planning.length; ) {
      if (k < wordEnd && (k & 3) === 0 && words![k >> 2] === 0) {
        k += 4; // four non-planning tokens at once
        continue;
      }
      if (planning[k] === 1 && mask[k] === 1) {
        while (offsets[i + 1] <= k) i++;
        const a = seq[i];
        advantages[k] = a + alpha * Math.abs(a);
      }
      k++;
    }
    return { advantages, diag: { tokens: { planning: new Float64Array(planning) } } };
  }

  const advantages = new Float64Array(batch.nTokens);

  const H = entropiesForVerl(batch);
  const lengths = trainableCounts(batch);
  const amplify = new Uint8Array(batch.n); // [n] correct and longer than the group's mean length
  const active = new Uint8Array(batch.n); // [n] in a group with at least one correct response
  for (let g = 0; g < batch.groupNames.length; g++) {
    const a = groupOffsets[g], b = groupOffsets[g + 1];
    let anyCorrect = false;
    let totalLength = 0;
    for (let m = a; m < b; m++) {
      const i = groupMembers[m];
      if (seq[i] > 0) anyCorrect = true;
      totalLength += lengths[i];
    }
    if (!anyCorrect) continue;
    const meanLength = totalLength / (b - a);
    for (let m = a; m < b; m++) {
      const i = groupMembers[m];
      active[i] = 1;
      if (seq[i] > 0 && lengths[i] > meanLength) amplify[i] = 1;
    }
  }
  const thresholds = rolloutEntropyThresholds(batch, opts.entropyTopK, amplify);
  for (let i = 0; i < batch.n; i++) {
    const a = seq[i];
    const boosted = a * (1 + alpha * Math.sign(a));
    for (let k = offsets[i]; k < offsets[i + 1]; k++) {
      if (mask[k] === 0) continue;
      const selected = active[i] === 1 && ((amplify[i] === 1 && H[k] > thresholds[i]) || planning[k] === 1);
      advantages[k] = selected ? boosted : a;
    }
  }
  return { advantages, diag: { tokens: { planning: new Float64Array(planning) } } };
}

function checkGrams(v: unknown): string | null {
  if (!Array.isArray(v)) return "expected an array of token-id arrays";
  for (let j = 0; j < v.length; j++) {
    const gram: unknown = v[j];
    if (!Array.isArray(gram) || gram.length === 0) return `gram ${j} is not a non-empty array of token ids`;
    for (const id of gram) {
      if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id > 2147483647) return `gram ${j} holds ${JSON.stringify(id) ?? String(id)}, not a token id`;
    }
  }
  return null;
}

export const hicraSpec = registerMethod<HicraOptions>({
  name: "hicra",
  locality: "group",
  summary: "HICRA: GRPO advantage amplified on planning tokens, A + alpha |A| (paper) or the VeRL entropy rule (verl)",
  paper: "HICRA, arXiv 2509.03646; TRL port trl/trainer/hicra_trainer.py modify_advantages_hicra",
  status: "paper",
  example: "planning.jsonl",
  signals: ["planning"],
  options: {
    alpha: { type: "number", default: 0.2, min: 0, doc: "amplification: planning tokens get A (1 + alpha sign(A))" },
    variant: { type: "enum", values: ["paper", "verl"], default: "paper", doc: "paper: planning tokens only; verl: also high-entropy tokens of long correct responses (needs entropies)" },
    entropyTopK: { type: "number", default: 0.3, min: 0, max: 1, doc: "verl variant: fraction of each response's tokens counted as high-entropy" },
    grams: { type: "json", typeText: "int[][]", default: [], check: checkGrams, doc: "Strategic Grams as token-id sequences; matching windows are planning tokens (union with signals.planning)" },
  },
  assign: hicra,
});
