/**
 * Tool-call matching rewards for MatchTIR (Qu et al., 2026, arXiv 2601.10712; reference code quchangle1/MatchTIR
 * @f614ce1135dc, `Code/verl/utils/reward_score/tool.py`). Produces the per-turn rewards that the
 * `matchtir` method reads as `step_rewards`.
 *
 * Similarity of a predicted call p to a ground-truth call g (`tool_similarity`):
 *
 *   sim(p, g) = 0                                                  if the names differ (case-insensitive)
 *   sim(p, g) = (1 + J(keys g, keys p) + #{k in g : p[k] == g[k]}) / (2 + |params g|)   otherwise
 *
 * with J the multiset Jaccard of the key lists (`match_score`: 1 when equal, including both empty;
 * 0 when exactly one is empty; else |a ∩ b| / (|a| + |b| - |a ∩ b|)) and `==` Python's equality of
 * the parsed JSON values (so 1 == 1.0, and, as in Python, true == 1).
 *
 * Hard matching (`compute_process_KM`): the reference's `hungarian_assignment` is greedy (QUIRK):
 * all (score, i, j) sorted by score descending, ties by smaller prediction index then smaller
 * ground-truth index (methods.md Part 0); i -> j when both are free and score > 0. A prediction's
 * reward is the similarity of its pair, or `unmatchedPenalty` (0 as the reference calls it; the
 * function's own default is -0.5). `assignment: "hungarian"` is the optimal assignment instead
 * (maximum total reward), the paper's "Hungarian/KM" matching.
 *
 * Soft matching (`compute_process_ot`): Sinkhorn optimal transport (`ot.sinkhorn` of POT, method
 * "sinkhorn": reg 0.1, at most 1000 iterations, stop when the L2 error of the column marginal,
 * checked every 10th iteration, is below 1e-9) between uniform marginals 1/P and 1/G with cost -S;
 * reward_i = sum_j T_ij S_ij (so rewards are on a 1/P scale, QUIRK kept).
 *
 * Turn rewards: the predicted calls of all non-answer turns of a trajectory are matched together
 * against the ground-truth list; a turn's reward is the mean of its calls' rewards (0 without
 * calls); a turn holding `<answer>...</answer>` gets the set-F1 of the answer against the
 * ground-truth answer instead (lowercase, punctuation to spaces, whitespace split), its calls
 * ignored.
 *
 * Malformed calls (unparseable JSON, no string name, arguments that are not a JSON object) never
 * throw. With `malformed: "zero"` (default, the project's rule) such a call is a prediction that
 * matches nothing: reward 0 (or the unmatched penalty), and it counts in its turn's mean and in the
 * Sinkhorn marginals. `malformed: "drop"` removes it before matching, as the reference's
 * `parse_qwen` does.
 *
 * Browser-safe: imports nothing outside the core (and needs nothing of it).
 */

/** A tool call after parsing: its name and its arguments object. */
export interface ToolCall {
  readonly name: string;
  readonly args: Readonly<Record<string, unknown>>;
}

export type HardAssignment = "greedy" | "hungarian";
export type Matching = HardAssignment | "sinkhorn";
export type MalformedPolicy = "zero" | "drop";

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function tryJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

/**
 * Parses a tool call, predicted or ground truth, or returns null when it is malformed. Accepted
 * shapes: `{name, arguments}` (arguments an object or a JSON string of one, as models emit them),
 * `{name, parameters}` (the reference's ground-truth form), `{name, args}` (a parsed ToolCall),
 * the OpenAI form `{type: "function", function: {name, arguments}}`, or a JSON string of any of
 * these. Missing arguments mean `{}` (as `parse_qwen` and `gt.get('parameters', {})`).
 */
export function parseToolCall(x: unknown): ToolCall | null {
  let v = x;
  if (typeof v === "string") {
    const parsed = tryJson(v.trim());
    if (!parsed.ok) return null;
    v = parsed.value;
  }
  if (!isPlainObject(v)) return null;
  if (isPlainObject(v.function) && v.name === undefined) v = v.function;
  const o = v as Record<string, unknown>;
  if (typeof o.name !== "string") return null;
  let args: unknown = o.arguments !== undefined ? o.arguments : o.parameters !== undefined ? o.parameters : o.args !== undefined ? o.args : {};
  if (typeof args === "string") {
    const parsed = tryJson(args);
    if (!parsed.ok) return null;
    args = parsed.value;
  }
  if (!isPlainObject(args)) return null;
  return { name: o.name, args };
}

/** Python's `==` on parsed JSON values: numbers and booleans compare by value, containers deeply. */
export function pyEqual(a: unknown, b: unknown): boolean {
  const an = typeof a === "number" || typeof a === "boolean";
  const bn = typeof b === "number" || typeof b === "boolean";
  if (an || bn) return an && bn && Number(a) === Number(b);
  if (typeof a === "string" || typeof b === "string") return a === b;
  if (a === null || b === null) return a === b;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let k = 0; k < a.length; k++) if (!pyEqual(a[k], b[k])) return false;
    return true;
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    for (const k of ka) if (!Object.prototype.hasOwnProperty.call(b, k) || !pyEqual(a[k], b[k])) return false;
    return true;
  }
  return false;
}

/** The reference's `match_score`: multiset Jaccard of two lists of keys. */
export function keyJaccard(a: readonly string[], b: readonly string[]): number {
  if (a.length === b.length && a.every((x, k) => x === b[k])) return 1;
  if (a.length === 0 || b.length === 0) return 0;
  const count = new Map<string, number>();
  for (const x of a) count.set(x, (count.get(x) ?? 0) + 1);
  let inter = 0;
  const seen = new Map<string, number>();
  for (const x of b) {
    const used = seen.get(x) ?? 0;
    if (used < (count.get(x) ?? 0)) inter++;
    seen.set(x, used + 1);
  }
  const union = a.length + b.length - inter;
  return union > 0 ? inter / union : 0;
}

/** sim(pred, gt) in [0, 1]; 0 when either call is malformed. Accepts raw or parsed calls. */
export function toolSimilarity(pred: unknown, gt: unknown): number {
  const p = parseToolCall(pred);
  const g = parseToolCall(gt);
  if (p === null || g === null) return 0;
  if (p.name.toLowerCase() !== g.name.toLowerCase()) return 0;
  const gKeys = Object.keys(g.args);
  const pKeys = Object.keys(p.args);
  let correct = 0;
  for (const k of gKeys) if (Object.prototype.hasOwnProperty.call(p.args, k) && pyEqual(p.args[k], g.args[k])) correct++;
  return (1 + keyJaccard(gKeys, pKeys) + correct) / (2 + gKeys.length);
}

/** The P x G similarity matrix, row-major (entry i*G + j = sim(preds[i], gts[j])). */
export function similarityMatrix(preds: readonly unknown[], gts: readonly unknown[]): Float64Array {
  const P = preds.length, G = gts.length;
  const pc = preds.map(parseToolCall);
  const gc = gts.map(parseToolCall);
  const S = new Float64Array(P * G);
  for (let i = 0; i < P; i++) for (let j = 0; j < G; j++) S[i * G + j] = pc[i] === null || gc[j] === null ? 0 : toolSimilarity(pc[i], gc[j]);
  return S;
}

/**
 * The reference's greedy "hungarian_assignment": [P] ground-truth index per prediction, -1 when
 * unassigned. Ties: higher score, then smaller i, then smaller j (Python's stable reverse sort).
 */
export function greedyAssignment(S: ArrayLike<number>, P: number, G: number): Int32Array {
  const order = new Int32Array(P * G);
  for (let k = 0; k < P * G; k++) order[k] = k;
  // Flat index i*G + j increases with (i, j), so breaking ties by it is the (i, j) order.
  order.sort((x, y) => (S[y] - S[x]) || (x - y));
  const assignment = new Int32Array(P).fill(-1);
  const taken = new Uint8Array(G);
  for (let k = 0; k < order.length; k++) {
    const f = order[k];
    if (!(S[f] > 0)) break;
    const i = Math.floor(f / G), j = f - i * G;
    if (assignment[i] === -1 && !taken[j]) {
      assignment[i] = j;
      taken[j] = 1;
    }
  }
  return assignment;
}

/**
 * Optimal assignment (Kuhn-Munkres with potentials, O(P^2 (P+G))): maximises the total reward
 * sum_i reward_i, where a prediction matched to a ground truth with positive similarity earns that
 * similarity and any other prediction earns `unmatchedPenalty`. Returns [P] indices, -1 unassigned.
 */
export function optimalAssignment(S: ArrayLike<number>, P: number, G: number, unmatchedPenalty = 0): Int32Array {
  const assignment = new Int32Array(P).fill(-1);
  if (P === 0) return assignment;
  // Columns 0..G-1 are the ground truths; G..G+P-1 are "unmatched" slots, one per prediction, so
  // every prediction can stay unassigned. Costs are negated rewards; a non-positive similarity
  // earns no more than staying unmatched.
  const n = P, m = G + P;
  const cost = (i: number, j: number): number => {
    if (j < G) {
      const s = S[i * G + j];
      return s > 0 ? -s : -unmatchedPenalty;
    }
    return -unmatchedPenalty;
  };
  const INF = Number.POSITIVE_INFINITY;
  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  const p = new Int32Array(m + 1); // p[j]: row (1-based) assigned to column j, 0 = none
  const way = new Int32Array(m + 1);
  const minv = new Float64Array(m + 1);
  const used = new Uint8Array(m + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    minv.fill(INF);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = p[j0];
      let delta = INF;
      let j1 = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = cost(i0 - 1, j - 1) - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 !== 0);
  }
  for (let j = 1; j <= G; j++) {
    const i = p[j] - 1;
    if (i >= 0 && S[i * G + (j - 1)] > 0) assignment[i] = j - 1;
  }
  return assignment;
}

export interface SinkhornOptions {
  /** Entropic regularisation (POT's reg); default 0.1. At least 0.01 (exp(S/reg) must stay finite). */
  reg?: number;
  /** Maximum iterations (POT's numItermax); default 1000. */
  maxIter?: number;
  /** Stop when the column-marginal error is below this (POT's stopThr); default 1e-9. */
  stopThr?: number;
}

export interface SinkhornResult {
  /** [P*G] transport plan T, row-major. */
  readonly plan: Float64Array;
  /** Iterations run. */
  readonly iterations: number;
  /** Last measured L2 error of the column marginal. */
  readonly err: number;
}

/**
 * out[r] = sum_c M[r * cols + c] x[c] for r < rows (row-major M). Four rows at a time: each x[c]
 * is loaded once for four independent sums, which runs about a quarter faster than row by row.
 */
function dotRows(M: Float64Array, x: Float64Array, out: Float64Array, rows: number, cols: number): void {
  let r = 0;
  for (; r + 3 < rows; r += 4) {
    const b0 = r * cols, b1 = b0 + cols, b2 = b1 + cols, b3 = b2 + cols;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (let c = 0; c < cols; c++) {
      const xc = x[c];
      s0 += M[b0 + c] * xc;
      s1 += M[b1 + c] * xc;
      s2 += M[b2 + c] * xc;
      s3 += M[b3 + c] * xc;
    }
    out[r] = s0;
    out[r + 1] = s1;
    out[r + 2] = s2;
    out[r + 3] = s3;
  }
  for (; r < rows; r++) {
    const b = r * cols;
    let s = 0;
    for (let c = 0; c < cols; c++) s += M[b + c] * x[c];
    out[r] = s;
  }
}

/**
 * POT's `sinkhorn_knopp` for cost -S and uniform marginals a = 1/P, b = 1/G, iteration for
 * iteration (same update order, error checked every 10th iteration, revert-and-stop on numerical
 * breakdown), so its plans agree with `ot.sinkhorn` to rounding.
 */
export function sinkhorn(S: ArrayLike<number>, P: number, G: number, opts: SinkhornOptions = {}): SinkhornResult {
  const reg = opts.reg ?? 0.1;
  const maxIter = opts.maxIter ?? 1000;
  const stopThr = opts.stopThr ?? 1e-9;
  if (!(reg >= 0.01) || !Number.isFinite(reg)) throw new RangeError(`sinkhorn: reg must be a finite number >= 0.01, got ${reg}`);
  const plan = new Float64Array(P * G);
  if (P === 0 || G === 0) return { plan, iterations: 0, err: 0 };
  const a = 1 / P, b = 1 / G;
  const K = new Float64Array(P * G);
  const KT = new Float64Array(G * P); // K transposed: both half-steps become contiguous dot products
  // POT scales K by 1/a before the product (Kp); scaling the product instead differs by rounding
  // only and keeps one matrix fewer in cache.
  const invA = 1 / a;
  for (let i = 0; i < P; i++) {
    for (let j = 0; j < G; j++) {
      const k = Math.exp(S[i * G + j] / reg);
      K[i * G + j] = k;
      KT[j * P + i] = k;
    }
  }
  let u = new Float64Array(P).fill(1 / P);
  let v = new Float64Array(G).fill(1 / G);
  let uNext = new Float64Array(P);
  let vNext = new Float64Array(G);
  const ktu = new Float64Array(G);
  let err = 1;
  let it = 0;
  // K^T u of the current u. The marginal check needs it too (column marginal_j = v_j (K^T u)_j),
  // so after a check the next iteration reuses it: two passes over K per iteration, not three.
  let ktuFresh = false;
  for (; it < maxIter; it++) {
    if (!ktuFresh) dotRows(KT, u, ktu, G, P);
    ktuFresh = false;
    let bad = false;
    for (let j = 0; j < G; j++) {
      if (ktu[j] === 0) bad = true;
      vNext[j] = b / ktu[j];
    }
    dotRows(K, vNext, uNext, P, G);
    for (let i = 0; i < P; i++) uNext[i] = 1 / (invA * uNext[i]);
    if (!bad) {
      for (let j = 0; j < G; j++) if (!Number.isFinite(vNext[j])) bad = true;
      for (let i = 0; i < P; i++) if (!Number.isFinite(uNext[i])) bad = true;
    }
    if (bad) break; // keep the previous u, v (POT: "we have reached the machine precision")
    let t = u;
    u = uNext;
    uNext = t;
    t = v;
    v = vNext;
    vNext = t;
    if (it % 10 === 0) {
      dotRows(KT, u, ktu, G, P);
      ktuFresh = true;
      let ss = 0;
      for (let j = 0; j < G; j++) {
        const d = v[j] * ktu[j] - b;
        ss += d * d;
      }
      err = Math.sqrt(ss);
      if (err < stopThr) {
        it++;
        break;
      }
    }
  }
  for (let i = 0; i < P; i++) {
    const row = i * G;
    for (let j = 0; j < G; j++) plan[row + j] = u[i] * K[row + j] * v[j];
  }
  return { plan, iterations: it, err };
}

export interface HardOptions {
  /** "greedy" (the reference's default) or "hungarian" (optimal). */
  assignment?: HardAssignment;
  /** Reward of an unassigned prediction; 0 as `compute_process_KM` calls it. */
  unmatchedPenalty?: number;
}

/** Per-prediction rewards of hard matching (`assign_rewards_hungarian`). */
export function hardRewards(preds: readonly unknown[], gts: readonly unknown[], opts: HardOptions = {}): number[] {
  const P = preds.length, G = gts.length;
  const penalty = opts.unmatchedPenalty ?? 0;
  const S = similarityMatrix(preds, gts);
  const asg = (opts.assignment ?? "greedy") === "greedy" ? greedyAssignment(S, P, G) : optimalAssignment(S, P, G, penalty);
  const out = new Array<number>(P);
  for (let i = 0; i < P; i++) out[i] = asg[i] < 0 ? penalty : S[i * G + asg[i]];
  return out;
}

/** Per-prediction rewards of soft matching (`assign_rewards_ot`): sum_j T_ij S_ij. 0 when there is no ground truth. */
export function softRewards(preds: readonly unknown[], gts: readonly unknown[], opts: SinkhornOptions = {}): number[] {
  const P = preds.length, G = gts.length;
  const S = similarityMatrix(preds, gts);
  const { plan } = sinkhorn(S, P, G, opts);
  const out = new Array<number>(P).fill(0);
  for (let i = 0; i < P; i++) {
    let acc = 0;
    for (let j = 0; j < G; j++) acc += plan[i * G + j] * S[i * G + j];
    out[i] = acc;
  }
  return out;
}

const PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"; // Python's string.punctuation

/** The reference's `preprocess_text`: lowercase, punctuation to spaces, whitespace collapsed. */
export function normalizeAnswer(text: string): string {
  let t = text.toLowerCase();
  for (const ch of PUNCTUATION) t = t.split(ch).join(" ");
  return t.replace(/\s+/g, " ").trim();
}

/** Set-F1 of the answer's words against the ground truth's (0 when either is empty). */
export function answerF1(pred: string, gt: string): number {
  const p = new Set(normalizeAnswer(pred).split(" ").filter((w) => w.length > 0));
  const g = new Set(normalizeAnswer(gt).split(" ").filter((w) => w.length > 0));
  let common = 0;
  for (const w of p) if (g.has(w)) common++;
  const precision = p.size ? common / p.size : 0;
  const recall = g.size ? common / g.size : 0;
  return precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
}

/** One assistant turn: its predicted tool calls (raw or parsed) or, for the final turn, its answer. */
export interface Turn {
  readonly calls?: readonly unknown[];
  /** The text inside `<answer>...</answer>`; when a string, the turn is scored by answer F1. */
  readonly answer?: string | null;
}

export interface TurnRewardOptions {
  /** "greedy" (default, the reference's `compute_process_KM`), "hungarian" or "sinkhorn" (`compute_process_ot`). */
  matching?: Matching;
  /** Hard matching only: reward of an unassigned prediction (default 0). */
  unmatchedPenalty?: number;
  /** Sinkhorn only. */
  reg?: number;
  /** "zero" (default): a malformed call scores 0 and counts; "drop": removed first (`parse_qwen`). */
  malformed?: MalformedPolicy;
}

/**
 * Per-turn rewards of a trajectory (the `step_rewards` of `matchtir`, one per turn): all calls of
 * the non-answer turns are matched together against `gtCalls`; answer turns get answer F1.
 */
export function turnRewards(turns: readonly Turn[], gtCalls: readonly unknown[], gtAnswer: string, opts: TurnRewardOptions = {}): number[] {
  const matching = opts.matching ?? "greedy";
  const drop = (opts.malformed ?? "zero") === "drop";
  const out = new Array<number>(turns.length).fill(0);
  const calls: (ToolCall | null)[] = [];
  const owner: number[] = [];
  for (let t = 0; t < turns.length; t++) {
    const turn = turns[t];
    if (typeof turn.answer === "string") {
      out[t] = answerF1(turn.answer, gtAnswer);
      continue;
    }
    for (const c of turn.calls ?? []) {
      const parsed = parseToolCall(c);
      if (parsed === null && drop) continue;
      calls.push(parsed);
      owner.push(t);
    }
  }
  const gts = gtCalls.map(parseToolCall);
  const rewards = matching === "sinkhorn"
    ? softRewards(calls, gts, { reg: opts.reg })
    : hardRewards(calls, gts, { assignment: matching, unmatchedPenalty: opts.unmatchedPenalty });
  const count = new Array<number>(turns.length).fill(0);
  for (let k = 0; k < rewards.length; k++) {
    out[owner[k]] += rewards[k];
    count[owner[k]]++;
  }
  for (let t = 0; t < turns.length; t++) if (count[t] > 0) out[t] /= count[t];
  return out;
}

/** The separator between assistant turns in the reference's chat transcripts. */
export const TURN_SEPARATOR = "\n<|im_start|>assistant\n";

/**
 * Parses one assistant turn's text as the reference does: strip `<|endoftext|>` / `<|im_end|>`
 * suffixes, take the first `<answer>...</answer>` if any, else every `<tool_call>...</tool_call>`
 * block (a block that is not valid JSON stays as its raw text, which `parseToolCall` rejects).
 */
export function parseTurnText(chat: string): Turn {
  let c = chat.trim();
  if (c.endsWith("<|endoftext|>")) c = c.slice(0, -"<|endoftext|>".length).trim();
  if (c.endsWith("<|im_end|>")) c = c.slice(0, -"<|im_end|>".length).trim();
  const ans = /<answer>([\s\S]*?)<\/answer>/.exec(c);
  if (ans) return { answer: ans[1].trim() };
  const calls: string[] = [];
  const re = /<tool_call>([\s\S]*?)<\/tool_call>/g;
  for (let m = re.exec(c); m !== null; m = re.exec(c)) calls.push(m[1].trim());
  return { calls };
}

/** Per-turn rewards straight from a response transcript (turns split on TURN_SEPARATOR). */
export function responseTurnRewards(response: string, gtCalls: readonly unknown[], gtAnswer: string, opts: TurnRewardOptions = {}): number[] {
  return turnRewards(response.split(TURN_SEPARATOR).map(parseTurnText), gtCalls, gtAnswer, opts);
}
