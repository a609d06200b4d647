/**
 * Prefix-trie build time at 1x, 4x and 16x the benchmark batch (more groups of the same shape),
 * with the build's own work count (hash probes + unit comparisons) per token: flat time and work
 * per token is what "linear in the number of tokens" means.
 */
import { batchFromObjects } from "../src/core/rows.js";
import { stepSegments } from "../src/core/segments.js";
import { buildSegmentTrie, buildTokenTrie } from "../src/core/trie.js";
import { DEFAULT_SYNTH, synthRows } from "./synth.js";

function medianOf(fn: () => void, reps: number): number {
  fn();
  const ts: number[] = [];
  for (let k = 0; k < reps; k++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  return ts[ts.length >> 1];
}

export function trieScaling(reps: number, rollouts = DEFAULT_SYNTH.rollouts, tokens = DEFAULT_SYNTH.tokens): string {
  const lines = [
    "## Prefix trie build scaling",
    "",
    "| batch | tokens | token trie ms | ns / token | work / token | segment trie ms | ns / token |",
    "|---|---:|---:|---:|---:|---:|---:|",
  ];
  for (const scale of [1, 4, 16]) {
    const batch = batchFromObjects(synthRows({ ...DEFAULT_SYNTH, rollouts: rollouts * scale, tokens, seed: 3 }), "bench");
    const segs = stepSegments(batch, true);
    let visits = 0;
    const tokMs = medianOf(() => {
      visits = buildTokenTrie(batch).visits;
    }, reps);
    const segMs = medianOf(() => {
      buildSegmentTrie(batch, segs);
    }, reps);
    const n = batch.nTokens;
    lines.push(`| ${scale}x | ${n} | ${tokMs.toFixed(2)} | ${((tokMs * 1e6) / n).toFixed(2)} | ${(visits / n).toFixed(3)} | ${segMs.toFixed(2)} | ${((segMs * 1e6) / n).toFixed(2)} |`);
  }
  return lines.join("\n");
}
