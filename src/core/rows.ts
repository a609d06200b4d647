/**
 * The JSON form of a rollout (one line of a rollout file, `rollouts.md` section 1), its
 * validation, and conversion to and from the packed batch.
 *
 * Validation happens here, once, at the boundary: every rule of the contract is checked and
 * the first violation is reported with file, line and field. Methods can then trust the batch.
 */
import { InputError } from "./errors.js";
import type { RolloutBatch, StepColumn, TokenColumn } from "./batch.js";

export interface RolloutRow {
  id: string;
  group: string;
  tokens: number[];
  reward: number;
  mask?: number[];
  token_rewards?: number[];
  logprobs?: number[];
  ref_logprobs?: number[];
  entropies?: number[];
  values?: number[];
  step_ends?: number[];
  step_rewards?: number[];
  finished?: boolean;
  episode?: string;
  t?: number;
  anchor?: string;
  signals?: Record<string, unknown>;
  meta?: unknown;
}

const TOKEN_FLOAT_FIELDS = ["token_rewards", "logprobs", "ref_logprobs", "entropies", "values"] as const;
const KNOWN_FIELDS = new Set([
  "id", "group", "tokens", "reward", "mask", "token_rewards", "logprobs", "ref_logprobs", "entropies", "values",
  "step_ends", "step_rewards", "finished", "episode", "t", "anchor", "signals", "meta",
]);
const MAX_TOKEN_ID = 2147483647; // token ids are stored as Int32

/** Where a row came from, for error messages. */
export interface RowLocation {
  file: string;
  line: number;
}

export interface ValidateOptions {
  /** Signal names some registered method reads; any other signal is an error. Undefined: accept any. */
  knownSignals?: ReadonlySet<string>;
}

function fail(loc: RowLocation, field: string, detail: string): never {
  throw new InputError(loc.file, loc.line, field, detail);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "number" && !Number.isFinite(v)) return String(v);
  return typeof v === "string" ? "a string" : `${typeof v}`;
}

/** Free-form values (signals, meta) may hold any JSON, but no number that overflowed to Infinity. */
function checkAllFinite(loc: RowLocation, field: string, v: unknown): void {
  if (typeof v === "number") {
    if (!Number.isFinite(v)) fail(loc, field, `holds a non-finite number (${v})`);
  } else if (Array.isArray(v)) {
    for (let k = 0; k < v.length; k++) checkAllFinite(loc, `${field}[${k}]`, v[k]);
  } else if (isPlainObject(v)) {
    for (const key of Object.keys(v)) checkAllFinite(loc, `${field}.${key}`, v[key]);
  }
}

function checkFiniteArray(loc: RowLocation, field: string, v: unknown, length: number): number[] {
  if (!Array.isArray(v)) fail(loc, field, `expected an array of finite numbers, got ${describe(v)}`);
  if (v.length !== length) fail(loc, field, `expected ${length} entries (one per token), got ${v.length}`);
  for (let k = 0; k < v.length; k++) {
    const x = v[k];
    if (typeof x !== "number" || !Number.isFinite(x)) {
      fail(loc, field, `entry ${k} is not a finite number (${describe(x)})`);
    }
  }
  return v as number[];
}

/**
 * Checks one parsed JSON value against the rollout contract and returns it typed.
 * Throws InputError naming the first offending field.
 */
export function validateRow(value: unknown, loc: RowLocation, opts: ValidateOptions = {}): RolloutRow {
  if (!isPlainObject(value)) fail(loc, "(line)", `expected a JSON object, got ${describe(value)}`);
  const o = value;
  for (const key of Object.keys(o)) {
    if (!KNOWN_FIELDS.has(key)) fail(loc, key, "unknown field (allowed: " + [...KNOWN_FIELDS].join(", ") + "; free-form data goes in 'meta')");
  }
  if (!("id" in o)) fail(loc, "id", "required field is missing");
  if (typeof o.id !== "string") fail(loc, "id", `expected a string, got ${describe(o.id)}`);
  if (!("group" in o)) fail(loc, "group", "required field is missing");
  if (typeof o.group !== "string") fail(loc, "group", `expected a string, got ${describe(o.group)}`);
  if (!("tokens" in o)) fail(loc, "tokens", "required field is missing");
  const tokens = o.tokens;
  if (!Array.isArray(tokens)) fail(loc, "tokens", "expected an array of non-negative integers");
  for (let k = 0; k < tokens.length; k++) {
    const x = tokens[k];
    if (typeof x !== "number" || !Number.isInteger(x) || x < 0 || x > MAX_TOKEN_ID) {
      fail(loc, "tokens", `expected an array of non-negative integers (entry ${k} is ${JSON.stringify(x) ?? describe(x)})`);
    }
  }
  const T = tokens.length;
  if (!("reward" in o)) fail(loc, "reward", "required field is missing");
  if (typeof o.reward !== "number" || !Number.isFinite(o.reward)) fail(loc, "reward", `expected a finite number, got ${describe(o.reward)}`);

  if (o.mask !== undefined) {
    const m = o.mask;
    if (!Array.isArray(m)) fail(loc, "mask", `expected an array of 0/1, got ${describe(m)}`);
    if (m.length !== T) fail(loc, "mask", `expected ${T} entries (one per token), got ${m.length}`);
    for (let k = 0; k < m.length; k++) {
      if (m[k] !== 0 && m[k] !== 1) fail(loc, "mask", `entry ${k} is ${JSON.stringify(m[k]) ?? describe(m[k])}; expected 0 or 1`);
    }
  }
  for (const f of TOKEN_FLOAT_FIELDS) {
    if (o[f] !== undefined) checkFiniteArray(loc, f, o[f], T);
  }
  let nSteps = -1;
  if (o.step_ends !== undefined) {
    const s = o.step_ends;
    if (!Array.isArray(s)) fail(loc, "step_ends", `expected an array of integers, got ${describe(s)}`);
    let prev = -1;
    for (let k = 0; k < s.length; k++) {
      const x = s[k];
      if (typeof x !== "number" || !Number.isInteger(x)) fail(loc, "step_ends", `entry ${k} is not an integer`);
      if (x < 0 || x >= T) fail(loc, "step_ends", `entry ${k} is ${x}; must be a token index in [0, ${T - 1}]`);
      if (x <= prev) fail(loc, "step_ends", `entry ${k} is ${x}; step ends must be strictly increasing`);
      prev = x;
    }
    nSteps = s.length;
  }
  if (o.step_rewards !== undefined) {
    if (nSteps < 0) fail(loc, "step_rewards", "needs 'step_ends' (one reward per step)");
    const r = o.step_rewards;
    if (!Array.isArray(r)) fail(loc, "step_rewards", `expected an array of finite numbers, got ${describe(r)}`);
    if (r.length !== nSteps) fail(loc, "step_rewards", `expected ${nSteps} entries (one per step_ends entry), got ${r.length}`);
    for (let k = 0; k < r.length; k++) {
      const x = r[k];
      if (typeof x !== "number" || !Number.isFinite(x)) fail(loc, "step_rewards", `entry ${k} is not a finite number (${describe(x)})`);
    }
  }
  if (o.finished !== undefined && typeof o.finished !== "boolean") fail(loc, "finished", `expected true or false, got ${describe(o.finished)}`);
  if (o.episode !== undefined && typeof o.episode !== "string") fail(loc, "episode", `expected a string, got ${describe(o.episode)}`);
  if (o.t !== undefined) {
    if (typeof o.t !== "number" || !Number.isInteger(o.t) || o.t < 0 || o.t > MAX_TOKEN_ID) fail(loc, "t", `expected a non-negative integer, got ${JSON.stringify(o.t) ?? describe(o.t)}`);
    if (o.episode === undefined) fail(loc, "t", "needs 'episode' (t is the step index within an episode)");
  }
  if (o.anchor !== undefined && typeof o.anchor !== "string") fail(loc, "anchor", `expected a string, got ${describe(o.anchor)}`);
  if (o.meta !== undefined) checkAllFinite(loc, "meta", o.meta);
  if (o.signals !== undefined) {
    checkAllFinite(loc, "signals", o.signals);
    if (!isPlainObject(o.signals)) fail(loc, "signals", `expected an object, got ${describe(o.signals)}`);
    if (opts.knownSignals) {
      for (const key of Object.keys(o.signals)) {
        if (!opts.knownSignals.has(key)) {
          fail(loc, `signals.${key}`, `no method reads this signal (known: ${[...opts.knownSignals].sort().join(", ")})`);
        }
      }
    }
  }
  return o as unknown as RolloutRow;
}

class Interner {
  readonly names: string[] = [];
  private readonly index = new Map<string, number>();
  intern(name: string): number {
    let k = this.index.get(name);
    if (k === undefined) {
      k = this.names.length;
      this.names.push(name);
      this.index.set(name, k);
    }
    return k;
  }
}

function packTokenColumn(rows: readonly RolloutRow[], field: (typeof TOKEN_FLOAT_FIELDS)[number], offsets: Int32Array, nTokens: number): TokenColumn | null {
  let any = false;
  for (const r of rows) if (r[field] !== undefined) { any = true; break; }
  if (!any) return null;
  const data = new Float64Array(nTokens);
  const present = new Uint8Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const src = rows[i][field];
    if (src === undefined) continue;
    present[i] = 1;
    data.set(src, offsets[i]);
  }
  return { data, present };
}

/**
 * Packs validated rows into a batch. Checks the cross-row rules (unique ids).
 * `lines[i]` is the source line of rows[i], for error messages.
 */
export function packRows(rows: readonly RolloutRow[], lines: ArrayLike<number>, source: string): RolloutBatch {
  const n = rows.length;
  const offsets = new Int32Array(n + 1);
  const stepOffsets = new Int32Array(n + 1);
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const r = rows[i];
    const prevLine = seen.get(r.id);
    if (prevLine !== undefined) throw new InputError(source, lines[i], "id", `'${r.id}' is not unique (already used on line ${prevLine})`);
    seen.set(r.id, lines[i]);
    offsets[i + 1] = offsets[i] + r.tokens.length;
    stepOffsets[i + 1] = stepOffsets[i] + (r.step_ends ? r.step_ends.length : 0);
  }
  const nTokens = offsets[n];
  const nSteps = stepOffsets[n];
  const tokens = new Int32Array(nTokens);
  const mask = new Uint8Array(nTokens);
  const reward = new Float64Array(n);
  const finished = new Uint8Array(n);
  const stepEnds = new Int32Array(nSteps);
  const hasSteps = new Uint8Array(n);
  let stepRewards: StepColumn | null = null;
  const group = new Int32Array(n);
  const episode = new Int32Array(n).fill(-1);
  const t = new Int32Array(n).fill(-1);
  const anchor = new Int32Array(n).fill(-1);
  const groups = new Interner();
  const episodes = new Interner();
  const anchors = new Interner();
  const signals: (Record<string, unknown> | undefined)[] = new Array(n);
  const meta: unknown[] = new Array(n);
  const lineArr = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const r = rows[i];
    const o = offsets[i];
    tokens.set(r.tokens, o);
    if (r.mask) mask.set(r.mask, o);
    else mask.fill(1, o, offsets[i + 1]);
    reward[i] = r.reward;
    finished[i] = r.finished === false ? 0 : 1;
    if (r.step_ends) {
      hasSteps[i] = 1;
      stepEnds.set(r.step_ends, stepOffsets[i]);
    }
    if (r.step_rewards) {
      if (!stepRewards) stepRewards = { data: new Float64Array(nSteps), present: new Uint8Array(n) };
      stepRewards.data.set(r.step_rewards, stepOffsets[i]);
      stepRewards.present[i] = 1;
    }
    group[i] = groups.intern(r.group);
    if (r.episode !== undefined) episode[i] = episodes.intern(r.episode);
    if (r.t !== undefined) t[i] = r.t;
    if (r.anchor !== undefined) anchor[i] = anchors.intern(r.anchor);
    signals[i] = r.signals;
    meta[i] = r.meta;
    lineArr[i] = lines[i];
  }
  // CSR listing of each group's members, in input order (a counting sort by group).
  const nGroups = groups.names.length;
  const groupOffsets = new Int32Array(nGroups + 1);
  for (let i = 0; i < n; i++) groupOffsets[group[i] + 1]++;
  for (let g = 0; g < nGroups; g++) groupOffsets[g + 1] += groupOffsets[g];
  const fill = groupOffsets.slice(0, nGroups);
  const groupMembers = new Int32Array(n);
  for (let i = 0; i < n; i++) groupMembers[fill[group[i]]++] = i;

  return {
    source, n, nTokens, ids: rows.map((r) => r.id), lines: lineArr,
    offsets, tokens, mask, reward, finished,
    tokenRewards: packTokenColumn(rows, "token_rewards", offsets, nTokens),
    logprobs: packTokenColumn(rows, "logprobs", offsets, nTokens),
    refLogprobs: packTokenColumn(rows, "ref_logprobs", offsets, nTokens),
    entropies: packTokenColumn(rows, "entropies", offsets, nTokens),
    values: packTokenColumn(rows, "values", offsets, nTokens),
    stepOffsets, stepEnds, hasSteps, stepRewards,
    group, groupNames: groups.names, groupOffsets, groupMembers,
    episode, episodeNames: episodes.names, t, anchor, anchorNames: anchors.names,
    signals, meta,
  };
}

/** Validates and packs already-parsed JSON values (e.g. from a browser). Lines are 1-based indices. */
export function batchFromObjects(values: readonly unknown[], source = "<input>", opts: ValidateOptions = {}): RolloutBatch {
  const lines = new Int32Array(values.length);
  const rows = values.map((v, i) => {
    lines[i] = i + 1;
    return validateRow(v, { file: source, line: i + 1 }, opts);
  });
  return packRows(rows, lines, source);
}

/** The inverse of packRows: the JSON rows of a batch (only fields that were given). */
export function unpackRows(batch: RolloutBatch): RolloutRow[] {
  const out: RolloutRow[] = [];
  const cols = [
    ["token_rewards", batch.tokenRewards], ["logprobs", batch.logprobs], ["ref_logprobs", batch.refLogprobs],
    ["entropies", batch.entropies], ["values", batch.values],
  ] as const;
  for (let i = 0; i < batch.n; i++) {
    const a = batch.offsets[i], b = batch.offsets[i + 1];
    const row: RolloutRow = { id: batch.ids[i], group: batch.groupNames[batch.group[i]], tokens: Array.from(batch.tokens.subarray(a, b)), reward: batch.reward[i] };
    let allOnes = true;
    for (let k = a; k < b; k++) if (batch.mask[k] !== 1) { allOnes = false; break; }
    if (!allOnes) row.mask = Array.from(batch.mask.subarray(a, b));
    for (const [name, col] of cols) {
      if (col && col.present[i]) row[name] = Array.from(col.data.subarray(a, b));
    }
    if (batch.hasSteps[i]) row.step_ends = Array.from(batch.stepEnds.subarray(batch.stepOffsets[i], batch.stepOffsets[i + 1]));
    if (batch.stepRewards && batch.stepRewards.present[i]) row.step_rewards = Array.from(batch.stepRewards.data.subarray(batch.stepOffsets[i], batch.stepOffsets[i + 1]));
    if (!batch.finished[i]) row.finished = false;
    if (batch.episode[i] >= 0) row.episode = batch.episodeNames[batch.episode[i]];
    if (batch.t[i] >= 0) row.t = batch.t[i];
    if (batch.anchor[i] >= 0) row.anchor = batch.anchorNames[batch.anchor[i]];
    if (batch.signals[i] !== undefined) row.signals = batch.signals[i] as Record<string, unknown>;
    if (batch.meta[i] !== undefined) row.meta = batch.meta[i];
    out.push(row);
  }
  return out;
}
