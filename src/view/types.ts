/**
 * What `creditflow view` hands the page: every file given on the command line, classified and
 * validated, as plain JSON. The server sends it as `data.js` (`window.__CREDITFLOW_DATA__ = ...`),
 * a classic script, so the same page works over http and opened from disk (`--export`).
 * Type-only: the viewer (viewer/src) imports these types, never Node code.
 */
import type { RolloutRow } from "../core/rows.js";

/** One line of an advantage file (`creditflow assign` output), checked finite and non-negative weights. */
export interface AdvantageLine {
  id: string;
  advantages: number[];
  weights?: number[];
}

/** One line of a trainer's metrics.jsonl: numeric fields only (others are dropped, null kept out). */
export type MetricsLine = Record<string, number>;

interface FileBase {
  /** The path as given on the command line. */
  name: string;
  /** How the kind was decided, in words (shown in the page). */
  how: string;
}
export interface RolloutsFile extends FileBase {
  kind: "rollouts";
  rows: RolloutRow[];
}
export interface AdvantagesFile extends FileBase {
  kind: "advantages";
  rows: AdvantageLine[];
}
export interface MetricsFile extends FileBase {
  kind: "metrics";
  rows: MetricsLine[];
}
export interface BenchFile extends FileBase {
  kind: "bench";
  results: BenchView;
}

/**
 * The part of CreditBench's results.json (src/creditbench/report.ts BenchResults) the page
 * reads. Declared here rather than imported so the page's typecheck does not pull in the
 * trainer; test/viewer/server.test.ts checks at compile time that BenchResults satisfies it.
 */
export interface BenchView {
  format: "creditbench-results";
  command: string;
  tasks: string[];
  fidelity: {
    task: string;
    responses: number;
    responseTokens: number;
    oracle: { K: number; massShare: number | null; reliability: number };
    methods: { method: string; spearman: number; pearson: number; spearmanGroupMean: number; signAgreement: number | null; massShare: number | null; extraSampledTokens: number; note: string }[];
    skipped: { method: string; reason: string }[];
    heatmaps: { tokens: string[]; reward: number; decisive: number[]; oracle: number[]; ci: number[]; credit: Record<string, number[]> }[];
  }[];
  efficiency: {
    task: string;
    threshold: number;
    runs: { method: string; seed: number; curve: { tokens: number; accuracy: number }[] }[];
    methods: { method: string; tokensToThreshold: SpreadView; tokensRatio: SpreadView; unreached: number }[];
  }[];
}

/** creditbench/stats.ts Spread. */
export interface SpreadView {
  n: number;
  mean: number;
  std: number;
  min: number;
  max: number;
}
export type ViewFile = RolloutsFile | AdvantagesFile | MetricsFile | BenchFile;

/** Token id -> display text; `null` where the vocabulary has no entry. */
export interface ViewVocab {
  /** "task vocabulary (addition)" or the tokenizer file's path. */
  source: string;
  tokens: (string | null)[];
}

export interface ViewData {
  version: 1;
  files: ViewFile[];
  vocab: ViewVocab | null;
}

/** The global the page reads its data from. */
export const DATA_GLOBAL = "__CREDITFLOW_DATA__";
