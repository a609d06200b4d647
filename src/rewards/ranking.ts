/**
 * Ranked-list rewards for Rank-GRPO (Zhu et al., Netflix 2025; reference code yaochenzhu/Rank-GRPO
 * @0808d82c0807: `libs/utils.py::process_rec_raw`, `libs/metrics_align.py`, `libs/reward_funcs.py`,
 * `libs/trl/rank_grpo_trainer.py::_segment_items_from_tokens`). Produces the inputs of the
 * `rank-grpo` method: per-rank relevance (its `step_rewards`) and item ends (its `step_ends`).
 *
 * - `parseRankedList`: one recommendation per line, `Title (Year)`; list markers, emphasis and
 *   quotes are stripped, lines that do not parse are dropped (so ranks index parsed lines).
 * - `rankRelevance` (`evaluate_direct_match_aligned`): rel_k = 1 when the title is not among the
 *   seen titles, (title, year) is in the catalog, and the normalised title (whitespace collapsed,
 *   case-folded) matches a not yet consumed ground-truth entry whose year is within +-2 (exact
 *   year first, then +1, -1, +2, -2).
 * - `rankRewards`: `exp_inf` r_k = rel_k; `log_decay` r_k = sum_{j >= k} rel_j d_j with d_1 = 1,
 *   d_j = 1 / log2(j + 1) (DCG with the non-causal prefix removed).
 * - `segmentItems`: item ends from per-token text pieces; a token holding a newline ends its item.
 *
 * Browser-safe: imports nothing outside the core (and needs nothing of it).
 */

export interface RankedItem {
  readonly title: string;
  readonly year: number;
}

function delParentheses(text: string): string {
  return text.trim().replace(/\([^()]*\)/g, "");
}

function delSpace(text: string): string {
  return text.trim().replace(/\s+/g, " ").trim();
}

function delFormat(input: string): string {
  let text = input.trim();
  // Repeated until stable, as the reference does, to peel nested markers like "**1. _X_**".
  while (true) {
    let t = text.replace(/^[*_\-#]+/, "").trim();
    t = t.replace(/[*_\-#]+$/, "").trim();
    t = t.replace(/^(?:[*_\-#]+\s+|(?:\d+\s*[.)、\-—–]\s+))/, "").trim();
    t = t.replace(/^#+\s*/, "");
    if (t === text) return text;
    text = t;
  }
}

function removeQuotes(s: string): string {
  if ((s.startsWith('"') && s.endsWith('"')) || (s.startsWith("'") && s.endsWith("'"))) return s.slice(1, -1);
  return s;
}

const LINE_PATTERN = /^(.+?)\s+\((\d{4})\)/;

/**
 * Parses a completion into its ranked items (`process_rec_raw`). Lines that do not match
 * `Title (Year)` are skipped. Returns null for a non-string (the reference's parse error, which
 * scores every rank 0).
 */
export function parseRankedList(text: unknown): RankedItem[] | null {
  if (typeof text !== "string") return null;
  const raw = text.replace(/\n+/g, "\n");
  const lines = raw.trim().split("\n").map((l) => l.trim()).filter((l) => l.length > 0);
  const out: RankedItem[] = [];
  for (const original of lines) {
    const line = removeQuotes(delFormat(delSpace(original)));
    const m = LINE_PATTERN.exec(line);
    if (!m) continue;
    let name = m[1];
    let next = removeQuotes(delFormat(delSpace(delParentheses(name.trim()))));
    while (next !== name) {
      name = next;
      next = removeQuotes(delFormat(delSpace(delParentheses(name.trim()))));
    }
    out.push({ title: name, year: Number.parseInt(m[2], 10) });
  }
  return out;
}

/** The reference's default title normaliser: whitespace collapsed, case-folded. */
export function normalizeTitle(s: string): string {
  return s.trim().replace(/\s+/g, " ").toLowerCase();
}

/** Python's `int(str(y))` for the year forms that occur: integers and integer strings; else null. */
function safeIntYear(y: unknown): number | null {
  if (typeof y === "number") return Number.isInteger(y) ? y : null;
  if (typeof y === "string" && /^\s*[+-]?\d+\s*$/.test(y)) return Number.parseInt(y, 10);
  return null;
}

/** A ground-truth or catalog entry: a title and its release year (number or string, as stored). */
export type TitleYear = readonly [string, number | string];

export interface RelevanceOptions {
  /** Number of ranks N (the reference's rec_num); default 20. */
  ranks?: number;
  /** Year tolerance; default 2. */
  yearTolerance?: number;
  /** Titles already seen in the conversation (compared as written, not normalised). */
  seen?: Iterable<string>;
  /**
   * The catalog of valid (title, year) pairs, or a predicate. null or absent: every pair is
   * accepted (the reference always passes a catalog).
   */
  catalog?: Iterable<TitleYear> | ((title: string, year: number) => boolean) | null;
  /** Title normaliser for the ground-truth match; default `normalizeTitle`. */
  normalize?: (s: string) => string;
}

/** Builds a catalog predicate once (a Set lookup), for scoring many completions against one catalog. */
export function catalogPredicate(entries: Iterable<TitleYear>): (title: string, year: number) => boolean {
  const keys = new Set<string>();
  // `(title, year) in catalog or (title, str(year)) in catalog`: numeric and string years are one key.
  for (const [t, y] of entries) keys.add(`${t}\u0000${String(y)}`);
  return (title, year) => keys.has(`${title}\u0000${String(year)}`);
}

/** [ranks] relevance 0/1 of each rank (`evaluate_direct_match_aligned`); ranks past the list are 0. */
export function rankRelevance(recs: readonly RankedItem[] | null, groundTruth: readonly TitleYear[], opts: RelevanceOptions = {}): Float64Array {
  const ranks = opts.ranks ?? 20;
  const tol = opts.yearTolerance ?? 2;
  const norm = opts.normalize ?? normalizeTitle;
  const hits = new Float64Array(ranks);
  if (recs === null) return hits;
  const seen = new Set(opts.seen ?? []);
  const cat = opts.catalog;
  const inCatalog = cat === null || cat === undefined ? () => true : typeof cat === "function" ? cat : catalogPredicate(cat);
  const byTitle = new Map<string, Map<number, number>>();
  for (const [t, y] of groundTruth) {
    const yy = safeIntYear(y);
    if (yy === null) continue;
    const key = norm(t);
    let bucket = byTitle.get(key);
    if (!bucket) byTitle.set(key, (bucket = new Map()));
    bucket.set(yy, (bucket.get(yy) ?? 0) + 1);
  }
  const L = Math.min(recs.length, ranks);
  for (let pos = 0; pos < L; pos++) {
    const { title, year } = recs[pos];
    if (seen.has(title) || !inCatalog(title, year)) continue;
    const key = norm(title);
    const bucket = byTitle.get(key);
    if (!bucket) continue;
    let matched: number | null = null;
    if ((bucket.get(year) ?? 0) > 0) matched = year;
    else {
      for (let d = 1; d <= tol && matched === null; d++) {
        if ((bucket.get(year + d) ?? 0) > 0) matched = year + d;
        else if ((bucket.get(year - d) ?? 0) > 0) matched = year - d;
      }
    }
    if (matched === null) continue;
    hits[pos] = 1;
    const left = (bucket.get(matched) ?? 0) - 1;
    if (left <= 0) {
      bucket.delete(matched);
      if (bucket.size === 0) byTitle.delete(key);
    } else bucket.set(matched, left);
  }
  return hits;
}

/** DCG discounts d_k for ranks 1..n: d_1 = 1, d_k = 1 / log2(k + 1). */
export function rankDiscounts(n: number): Float64Array {
  const d = new Float64Array(n);
  for (let k = 0; k < n; k++) d[k] = k === 0 ? 1 : 1 / Math.log2(k + 2);
  return d;
}

export type RankReward = "exp_inf" | "log_decay";

/**
 * Rank-level rewards from relevance: `exp_inf` r_k = rel_k; `log_decay` r_k = total DCG minus the
 * DCG of ranks before k (computed as the reference does: total minus exclusive prefix sums).
 */
export function rankRewards(rel: ArrayLike<number>, kind: RankReward, out: Float64Array = new Float64Array(rel.length)): Float64Array {
  const n = rel.length;
  if (kind === "exp_inf") {
    for (let k = 0; k < n; k++) out[k] = rel[k];
    return out;
  }
  let total = 0;
  for (let k = 0; k < n; k++) total += rel[k] * (k === 0 ? 1 : 1 / Math.log2(k + 2));
  let prefix = 0;
  for (let k = 0; k < n; k++) {
    out[k] = total - prefix;
    prefix += rel[k] * (k === 0 ? 1 : 1 / Math.log2(k + 2));
  }
  return out;
}

export interface SegmentOptions {
  /** The last piece is the EOS token (a finished completion); it belongs to no item. Default true. */
  eos?: boolean;
  /**
   * "item" (default, the reference): every newline-holding token ends an item, so a blank line is an
   * item of its own. "skip": a newline ends an item only when the item holds non-whitespace text,
   * so blank lines join the next item and items line up with `parseRankedList`'s lines.
   */
  blankLines?: "item" | "skip";
}

/**
 * Item ends (`step_ends` for `rank-grpo`) from the decoded text of each token. A token whose text
 * holds a newline ("\r\n" counts as one) ends its item, so the newline belongs to the preceding
 * item. Tokens after the last newline (before EOS) form a last, unterminated item. A token holding
 * several newlines ends one item: the reference advances its item counter by the newline count,
 * leaving ranks with no tokens, which step_ends cannot express.
 */
export function segmentItems(pieces: readonly string[], opts: SegmentOptions = {}): number[] {
  const eos = opts.eos ?? true;
  const skipBlank = (opts.blankLines ?? "item") === "skip";
  const end = eos && pieces.length > 0 ? pieces.length - 1 : pieces.length;
  const ends: number[] = [];
  let hasText = false;
  for (let t = 0; t < end; t++) {
    const piece = pieces[t].replace(/\r\n/g, "\n");
    const nl = piece.lastIndexOf("\n");
    if (nl < 0) {
      if (piece.trim().length > 0) hasText = true;
      continue;
    }
    if (piece.slice(0, nl).trim().length > 0) hasText = true;
    if (!skipBlank || hasText) {
      ends.push(t);
      hasText = piece.slice(nl + 1).trim().length > 0;
    }
  }
  const lastEnd = ends.length ? ends[ends.length - 1] : -1;
  if (lastEnd < end - 1 && (!skipBlank || hasText)) ends.push(end - 1);
  return ends;
}
