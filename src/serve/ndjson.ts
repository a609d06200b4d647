/**
 * `application/x-ndjson` requests, streamed both ways: a header line `{"method", "config"}`,
 * then one rollout per line; the answer is one advantage line per rollout, in input order.
 *
 * Group-local methods (registry `locality: "group"`) run as soon as enough whole groups have
 * arrived (CHUNK_TOKENS), so memory is bounded by the largest group plus one chunk, whatever the
 * request's size; the rows of a group must then be adjacent, as trainers write them. Other
 * methods need the whole batch: it is buffered (bounded by the size limit) and run once.
 * Lines are parsed and validated here, on the event loop, one line at a time; the packed
 * chunk's typed arrays go to a worker thread by transfer, not by copy.
 */
import { StringDecoder } from "node:string_decoder";
import { getMethod } from "../core/registry.js";
import { packRows, type RolloutRow } from "../core/rows.js";
import { advantagesJsonl } from "../io/jsonl.js";
import { NotContiguousError, rowGroupsOfLines, rowsOfLines } from "../io/stream.js";
import { checkMethodAndConfig, parseJson, REQUEST_SOURCE, requestValidation } from "./codec.js";
import { RequestError } from "./errors.js";
import { batchTransfer, type WorkerPool } from "./pool.js";

/** Tokens gathered (in whole groups) before a group-local method runs: amortises the worker round trip. */
export const CHUNK_TOKENS = 1 << 16;

export function bodyTooLarge(maxBytes: number): RequestError {
  return new RequestError(413, "body", null, `request body is over the limit of ${maxBytes} bytes (--max-body-mb)`);
}

/** The lines of a byte stream (LF or CRLF), decoded as UTF-8; more than maxBytes is a 413. */
export async function* bodyLines(body: AsyncIterable<Buffer>, maxBytes: number): AsyncGenerator<string> {
  const decoder = new StringDecoder("utf8");
  let bytes = 0;
  // The pieces of the current line: a long line is joined once, not re-scanned per chunk.
  let pieces: string[] = [];
  for await (const chunk of body) {
    bytes += chunk.length;
    if (bytes > maxBytes) throw bodyTooLarge(maxBytes);
    const text = decoder.write(chunk);
    let start = 0;
    for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", start)) {
      pieces.push(text.slice(start, nl));
      const line = pieces.length === 1 ? pieces[0] : pieces.join("");
      pieces = [];
      yield line.endsWith("\r") ? line.slice(0, -1) : line;
      start = nl + 1;
    }
    if (start < text.length) pieces.push(text.slice(start));
  }
  pieces.push(decoder.end());
  const last = pieces.join("");
  if (last !== "") yield last.endsWith("\r") ? last.slice(0, -1) : last;
}

/** Rollout lines after the header, blank lines dropped, so the k-th line given is rollout k. */
async function* rolloutLines(lines: AsyncIterator<string>): AsyncGenerator<string> {
  for (;;) {
    const next = await lines.next();
    if (next.done) return;
    if (next.value.trim() !== "") yield next.value;
  }
}

export interface NdjsonContext {
  readonly pool: WorkerPool;
  readonly signal: AbortSignal;
  /** Called with the method's name as soon as the header is read (for metrics and logs). */
  onMethod(method: string): void;
  /** Called after each chunk with the rollouts and tokens it held. */
  onProcessed(rollouts: number, tokens: number): void;
}

/**
 * The answer to an NDJSON request, as text chunks of whole or partial lines. An error before
 * the first chunk has no output to undo; after it, the caller must make the failure visible.
 */
export async function* ndjsonAnswer(body: AsyncIterable<string>, ctx: NdjsonContext): AsyncGenerator<Uint8Array> {
  const lines = body[Symbol.asyncIterator]();
  let header: string | undefined;
  for (;;) {
    const next = await lines.next();
    if (next.done) throw new RequestError(400, null, null, 'empty request: expected a header line {"method": ..., "config": {...}} and one rollout per line');
    if (next.value.trim() !== "") {
      header = next.value;
      break;
    }
  }
  const h = parseJson(header, "header", null);
  if (typeof h !== "object" || h === null || Array.isArray(h)) throw new RequestError(400, "header", null, 'the first line must be a JSON object {"method": ..., "config": {...}}');
  for (const k of Object.keys(h)) if (k !== "method" && k !== "config") throw new RequestError(400, k, null, "unknown header field (allowed: method, config; rollouts follow, one per line)");
  const { method, config } = checkMethodAndConfig((h as Record<string, unknown>).method, (h as Record<string, unknown>).config);
  ctx.onMethod(method);
  const rows = rolloutLines(lines);
  const validate = requestValidation();

  const run = async function* (chunkRows: RolloutRow[], chunkLines: number[]): AsyncGenerator<Uint8Array> {
    const batch = packRows(chunkRows, chunkLines, REQUEST_SOURCE);
    // The worker takes the batch's arrays; the answer is written from `ids` and `offsets`, which stay here.
    const result = await ctx.pool.run({ kind: "packed", batch, method, config }, batchTransfer(batch), ctx.signal);
    if (result.kind !== "packed") throw new Error("worker answered a packed job with an encoded result");
    ctx.onProcessed(batch.n, batch.nTokens);
    yield* advantagesJsonl(batch, result.out);
  };

  if (getMethod(method).locality !== "group") {
    const all: RolloutRow[] = [];
    const allLines: number[] = [];
    for await (const { row, line } of rowsOfLines(rows, REQUEST_SOURCE, validate)) {
      all.push(row);
      allLines.push(line);
    }
    if (all.length > 0) yield* run(all, allLines);
    return;
  }

  let chunkRows: RolloutRow[] = [];
  let chunkLines: number[] = [];
  let chunkTokens = 0;
  try {
    for await (const g of rowGroupsOfLines(rows, REQUEST_SOURCE, validate)) {
      for (let k = 0; k < g.rows.length; k++) {
        chunkRows.push(g.rows[k]);
        chunkLines.push(g.lines[k]);
      }
      chunkTokens += g.tokens;
      if (chunkTokens >= CHUNK_TOKENS) {
        yield* run(chunkRows, chunkLines);
        chunkRows = [];
        chunkLines = [];
        chunkTokens = 0;
      }
    }
  } catch (e) {
    if (e instanceof NotContiguousError) {
      throw new RequestError(400, "group", e.line, `group '${e.group}' appears again after other groups: method '${method}' streams group by group and needs the rows of a group adjacent`);
    }
    throw e;
  }
  if (chunkRows.length > 0) yield* run(chunkRows, chunkLines);
}
