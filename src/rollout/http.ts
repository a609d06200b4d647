/**
 * JSON over HTTP for the server backends: POST with a time limit per attempt, retries with
 * exponential backoff on transient failures (HTTP 408, 429, 5xx, a reset or refused
 * connection, a timeout), honouring Retry-After, and a limit on requests in flight.
 */
import { BackendError } from "./backend.js";

export interface HttpOptions {
  /** Retries after the first attempt (default 4). */
  maxRetries?: number;
  /** Backoff before retry r: min(maxDelayMs, baseDelayMs * 2^r) (defaults 500, 10000). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Time limit of one attempt (default 300000 ms). */
  timeoutMs?: number;
  /** Most requests in flight (default 16). */
  concurrency?: number;
  /** Sent as "Authorization: Bearer ...". */
  apiKey?: string;
}

export interface HttpStats {
  requests: number;
  retries: number;
}

class Transient extends Error {
  constructor(message: string, readonly retryAfterMs: number | null) {
    super(message);
  }
}

/** Retry-After as milliseconds: seconds or an HTTP date. */
export function retryAfterMs(h: string | null, now = Date.now()): number | null {
  if (h === null) return null;
  const secs = Number(h);
  if (h.trim() !== "" && Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const at = Date.parse(h);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class JsonPoster {
  readonly stats: HttpStats = { requests: 0, retries: 0 };
  private active = 0;
  private readonly queue: (() => void)[] = [];
  private readonly o: Required<Omit<HttpOptions, "apiKey">> & { apiKey?: string };

  constructor(opts: HttpOptions = {}) {
    this.o = {
      maxRetries: opts.maxRetries ?? 4,
      baseDelayMs: opts.baseDelayMs ?? 500,
      maxDelayMs: opts.maxDelayMs ?? 10000,
      timeoutMs: opts.timeoutMs ?? 300000,
      concurrency: Math.max(1, opts.concurrency ?? 16),
      apiKey: opts.apiKey,
    };
  }

  /** The parsed JSON answer of POST url body; a BackendError once retries are spent or on a non-transient failure. */
  async post(url: string, body: unknown): Promise<unknown> {
    const payload = JSON.stringify(body);
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.slot(() => this.once(url, payload));
      } catch (e) {
        if (!(e instanceof Transient)) throw e;
        if (attempt >= this.o.maxRetries) throw new BackendError(`POST ${url} failed after ${attempt + 1} attempts: ${e.message}`);
        this.stats.retries++;
        const backoff = Math.min(this.o.maxDelayMs, this.o.baseDelayMs * 2 ** attempt);
        await sleep(e.retryAfterMs === null ? backoff : Math.min(this.o.maxDelayMs, Math.max(backoff, e.retryAfterMs)));
      }
    }
  }

  /** Runs f holding one of the `concurrency` slots (backoff sleeps hold none). */
  private async slot<T>(f: () => Promise<T>): Promise<T> {
    if (this.active >= this.o.concurrency) await new Promise<void>((resolve) => this.queue.push(resolve));
    else this.active++;
    try {
      return await f();
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else this.active--;
    }
  }

  private async once(url: string, payload: string): Promise<unknown> {
    this.stats.requests++;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.o.timeoutMs);
    const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
    if (this.o.apiKey !== undefined) headers.authorization = `Bearer ${this.o.apiKey}`;
    let status: number, text: string, after: string | null;
    try {
      const res = await fetch(url, { method: "POST", headers, body: payload, signal: controller.signal });
      status = res.status;
      after = res.headers.get("retry-after");
      text = await res.text();
    } catch (e) {
      if (controller.signal.aborted) throw new Transient(`no answer within ${this.o.timeoutMs} ms`, null);
      const cause = (e as { cause?: { code?: unknown } }).cause;
      throw new Transient(`${(e as Error).message}${typeof cause?.code === "string" ? ` (${cause.code})` : ""}`, null);
    } finally {
      clearTimeout(timer);
    }
    if (status >= 500 || status === 429 || status === 408) throw new Transient(`HTTP ${status}: ${text.slice(0, 200)}`, retryAfterMs(after));
    if (status < 200 || status >= 300) throw new BackendError(`POST ${url}: HTTP ${status}: ${text.slice(0, 300)}`);
    try {
      return JSON.parse(text);
    } catch {
      throw new BackendError(`POST ${url}: the answer is not JSON: ${text.slice(0, 200)}`);
    }
  }
}
