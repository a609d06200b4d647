/**
 * The page's data: rollout files packed into the core's RolloutBatch (the same validation as the
 * CLI), advantage files matched to them by id, and credit columns: a registered method run in
 * the browser with the core's runMethod, or an advantage file. A column's shown value is
 * advantage x weight (weight 1 when the method gives none).
 */
import { batchFromObjects, getMethod, runMethod, type RolloutBatch, type RolloutRow } from "../../src/index.js";
import type { AdvantageLine, AdvantagesFile, MetricsFile, BenchFile, ViewData, ViewFile, ViewVocab } from "../../src/view/types.js";
import { scaleOf } from "./colour.js";

export interface RolloutSet {
  name: string;
  how: string;
  rows: RolloutRow[];
  batch: RolloutBatch;
  /** Longest rollout, for the list's cell width. */
  maxLen: number;
}

/** What a column shows: a method with options, or an advantage file. */
export type ColumnSpec = { kind: "method"; method: string; options: Record<string, unknown> } | { kind: "file"; file: string };

export interface Column {
  spec: ColumnSpec;
  label: string;
  /** [nTokens] or null when the column failed (see error). */
  advantages: Float64Array | null;
  weights: Float64Array | null;
  /** advantage x weight: what is coloured. */
  shown: Float64Array | null;
  scale: number;
  error: string | null;
}

export class Model {
  sets: RolloutSet[] = [];
  advantageFiles: AdvantagesFile[] = [];
  metrics: MetricsFile[] = [];
  bench: BenchFile[] = [];
  vocab: ViewVocab | null = null;
  private cache = new Map<string, Column>();

  add(data: ViewData): void {
    if (data.vocab) this.vocab = data.vocab;
    for (const f of data.files) this.addFile(f);
  }

  addFile(f: ViewFile): void {
    switch (f.kind) {
      case "rollouts": {
        const batch = batchFromObjects(f.rows, f.name);
        let maxLen = 1;
        for (let i = 0; i < batch.n; i++) maxLen = Math.max(maxLen, batch.offsets[i + 1] - batch.offsets[i]);
        this.sets.push({ name: f.name, how: f.how, rows: f.rows, batch, maxLen });
        break;
      }
      case "advantages":
        this.advantageFiles.push(f);
        break;
      case "metrics":
        this.metrics.push(f);
        break;
      case "bench":
        this.bench.push(f);
        break;
    }
  }

  /** Display text of a token id: the vocabulary's, else "#id". */
  tokenText(id: number): string {
    const t = this.vocab?.tokens[id];
    return t === null || t === undefined ? `#${id}` : t;
  }

  /** Advantage files whose ids and lengths fit this rollout set (every rollout covered). */
  filesFor(set: RolloutSet): AdvantagesFile[] {
    return this.advantageFiles.filter((f) => matchFile(set.batch, f.rows) === null);
  }

  column(set: RolloutSet, spec: ColumnSpec): Column {
    const key = `${set.name}\u0000${JSON.stringify(spec)}`;
    let c = this.cache.get(key);
    if (!c) {
      c = computeColumn(this, set, spec);
      this.cache.set(key, c);
    }
    return c;
  }
}

/** Why an advantage file does not fit a batch, or null when it does. */
export function matchFile(batch: RolloutBatch, rows: AdvantageLine[]): string | null {
  const byId = new Map(rows.map((r) => [r.id, r]));
  for (let i = 0; i < batch.n; i++) {
    const r = byId.get(batch.ids[i]);
    if (!r) return `no line for rollout '${batch.ids[i]}'`;
    const len = batch.offsets[i + 1] - batch.offsets[i];
    if (r.advantages.length !== len) return `rollout '${batch.ids[i]}' has ${len} tokens, the file ${r.advantages.length} advantages`;
  }
  return null;
}

function computeColumn(model: Model, set: RolloutSet, spec: ColumnSpec): Column {
  const { batch } = set;
  const failed = (label: string, error: string): Column => ({ spec, label, advantages: null, weights: null, shown: null, scale: 1, error });
  let advantages: Float64Array;
  let weights: Float64Array | null = null;
  let label: string;
  if (spec.kind === "method") {
    label = spec.method;
    try {
      getMethod(spec.method);
      const out = runMethod(spec.method, batch, spec.options);
      advantages = out.advantages;
      weights = out.weights ?? null;
    } catch (e) {
      return failed(label, (e as Error).message);
    }
  } else {
    label = `file: ${spec.file}`;
    const f = model.advantageFiles.find((a) => a.name === spec.file);
    if (!f) return failed(label, "no such advantage file");
    const why = matchFile(batch, f.rows);
    if (why) return failed(label, why);
    const byId = new Map(f.rows.map((r) => [r.id, r]));
    advantages = new Float64Array(batch.nTokens);
    const hasWeights = f.rows.some((r) => r.weights);
    if (hasWeights) weights = new Float64Array(batch.nTokens).fill(1);
    for (let i = 0; i < batch.n; i++) {
      const r = byId.get(batch.ids[i]) as AdvantageLine;
      advantages.set(r.advantages, batch.offsets[i]);
      if (weights && r.weights) weights.set(r.weights, batch.offsets[i]);
    }
  }
  const shown = new Float64Array(batch.nTokens);
  for (let k = 0; k < shown.length; k++) shown[k] = batch.mask[k] === 0 ? 0 : advantages[k] * (weights ? weights[k] : 1);
  return { spec, label, advantages, weights, shown, scale: scaleOf(shown, batch.mask), error: null };
}
