/**
 * A judge client for CAPO critiques over any OpenAI-compatible chat endpoint
 * (`POST {baseUrl}/v1/chat/completions`: vLLM, SGLang, llama.cpp, Ollama, hosted APIs), or over
 * any other {@link ChatTransport} (a local GGUF model: ./gguf-judge.ts).
 *
 * For one solution it asks K times for a critique (prompt in ./prompt.ts) and parses each answer
 * into the 0-based indices of the steps judged wrong: exactly what a rollout's
 * `signals.critiques` holds for the `capo` method. Transient failures (HTTP 408/429/5xx, a reset
 * or refused connection, a timeout) are retried with exponential backoff, honouring Retry-After.
 * Answers are cached by the sha256 of the request content (model, messages, sampling settings and
 * the sample index, so the K samples stay distinct), in memory and optionally in a directory, one
 * JSON file per answer, so re-running a pipeline does not pay for the same critique twice.
 *
 * Judging a tokenised rollout, with the step helpers of src/rewards/steps.ts:
 *
 *   const { steps, stepEnds, stepOf } = stepEndsFromPieces(tokenTexts);        // "\n\n"-separated steps
 *   const { critiques } = await client.critique(problem, steps.map((s) => s.text));
 *   row.step_ends = stepEnds;
 *   row.signals = { ...row.signals, critiques: remapCritiques(critiques, stepOf) };
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { writeFileAtomic } from "../io/files.js";
import { join } from "node:path";
import { buildCritiqueMessages, parseWrongSteps, type ChatMessage } from "./prompt.js";
import { retryAfterMs } from "../rollout/http.js";

/** One chat request as the client sends it: the fields of an OpenAI chat.completion body. */
export interface ChatRequest {
  model: string;
  messages: readonly ChatMessage[];
  temperature: number;
  max_tokens: number;
  n: 1;
  seed?: number;
}

export interface ChatAnswer {
  content: string;
  /** Token counts when the judge reports them (OpenAI's `usage`), else null. */
  usage: { promptTokens: number; completionTokens: number } | null;
}

/**
 * Where answers come from. One call is one attempt: it throws {@link TransientError} for what is
 * worth retrying (the client backs off and retries) and anything else for a failure for good.
 */
export interface ChatTransport {
  /** What the judge is, for error messages: a URL, a model file. */
  readonly target: string;
  /**
   * True when a request at temperature 0 always gets the same answer (a local model run as
   * ./gguf-judge.ts runs it): the client then asks once per prompt and serves the other
   * samples from its cache. Servers do not promise this, so an HTTP judge is asked K times.
   */
  readonly deterministic?: boolean;
  complete(request: ChatRequest, sample: number, timeoutMs: number): Promise<ChatAnswer>;
}

export interface JudgeClientOptions {
  /** Server root, e.g. "http://127.0.0.1:8000" (the client appends /v1/chat/completions; a trailing /v1 is accepted). */
  baseUrl?: string;
  /** Another source of answers instead of an HTTP server (`baseUrl` and `fetch` are then unused). */
  transport?: ChatTransport;
  /** The model name sent to a server; for a transport, the model's identity in cache keys. */
  model: string;
  /** Sent as "Authorization: Bearer ..." when given. */
  apiKey?: string;
  /** Default 0.7: K critiques at temperature 0 would all be the same answer. */
  temperature?: number;
  /** max_tokens of each answer (default 2048). */
  maxTokens?: number;
  /** Critiques per solution (default 4, the third-party CAPO default). */
  k?: number;
  /** When set, request j of a solution sends seed + j, for servers that honour seeds. */
  seed?: number;
  /** Retries after the first attempt (default 4). */
  maxRetries?: number;
  /** Backoff before retry r is min(maxDelayMs, baseDelayMs * 2^r) (defaults 500 and 10000). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Per-attempt timeout (default 120000). */
  timeoutMs?: number;
  /** Most HTTP requests in flight at once, over all critiques of this client (default 8). */
  concurrency?: number;
  /** Directory of the on-disk answer cache (created on first write); none by default. */
  cacheDir?: string;
  /** fetch implementation (default: the global fetch). */
  fetch?: typeof fetch;
}

/** A request that failed for good (non-transient status, malformed response, or retries exhausted). */
export class JudgeError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
    readonly attempts: number,
  ) {
    super(message);
    this.name = "JudgeError";
  }
}

export interface CritiqueResult {
  /** One list of 0-based wrong-step indices per well-formed answer: `signals.critiques`. */
  critiques: number[][];
  /** The raw answers, in sample order. */
  answers: string[];
  /** Answers with no verdict; they are left out of `critiques`. */
  malformed: number;
}

export interface JudgeStats {
  /** Attempts made (HTTP requests or local generations, retries included). */
  requests: number;
  retries: number;
  cacheHits: number;
  /** Tokens of the answers the judge reported usage for (cache hits cost none). */
  promptTokens: number;
  completionTokens: number;
  /** Answers without a usage report (their tokens are unknown). */
  unreportedUsage: number;
}

const RETRY_STATUS = new Set([408, 429]);

/** A failure worth retrying (after `retryAfterMs` when the judge said so). */
export class TransientError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
    readonly retryAfterMs: number | null,
  ) {
    super(message);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The answer text of an OpenAI chat.completion body, or null when the body is not one. */
function answerOf(body: unknown): string | null {
  if (typeof body !== "object" || body === null) return null;
  const choices = (body as { choices?: unknown }).choices;
  if (!Array.isArray(choices) || choices.length === 0) return null;
  const message = (choices[0] as { message?: unknown }).message;
  if (typeof message !== "object" || message === null) return null;
  const content = (message as { content?: unknown }).content;
  if (content === null) return ""; // a refusal or a tool call: no verdict, parsed as malformed
  return typeof content === "string" ? content : null;
}

export class JudgeClient {
  readonly stats: JudgeStats = { requests: 0, retries: 0, cacheHits: 0, promptTokens: 0, completionTokens: 0, unreportedUsage: 0 };
  private readonly transport: ChatTransport;
  private readonly memory = new Map<string, string>();
  /** Requests under way, so concurrent identical requests share one HTTP call. */
  private readonly inflight = new Map<string, Promise<string>>();
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly opts: Required<Omit<JudgeClientOptions, "apiKey" | "seed" | "cacheDir" | "baseUrl" | "transport" | "fetch">> & Pick<JudgeClientOptions, "seed" | "cacheDir">;

  constructor(options: JudgeClientOptions) {
    if (options.transport !== undefined) this.transport = options.transport;
    else if (options.baseUrl !== undefined) this.transport = new HttpTransport(options.baseUrl, options.apiKey, options.fetch ?? ((input, init) => fetch(input, init)));
    else throw new Error("JudgeClient: give a baseUrl or a transport");
    this.opts = {
      model: options.model,
      seed: options.seed,
      cacheDir: options.cacheDir,
      temperature: options.temperature ?? 0.7,
      maxTokens: options.maxTokens ?? 2048,
      k: options.k ?? 4,
      maxRetries: options.maxRetries ?? 4,
      baseDelayMs: options.baseDelayMs ?? 500,
      maxDelayMs: options.maxDelayMs ?? 10000,
      timeoutMs: options.timeoutMs ?? 120000,
      concurrency: Math.max(1, options.concurrency ?? 8),
    };
  }

  /** The request body of sample `sample` of `messages`. */
  requestBody(messages: readonly ChatMessage[], sample: number): ChatRequest {
    const body: ChatRequest = {
      model: this.opts.model,
      messages,
      temperature: this.opts.temperature,
      max_tokens: this.opts.maxTokens,
      n: 1,
    };
    if (this.opts.seed !== undefined) body.seed = this.opts.seed + sample;
    return body;
  }

  /** Cache key: sha256 of the request content plus the sample index (the server address is not part of it). */
  cacheKey(messages: readonly ChatMessage[], sample: number): string {
    const s = this.distinctSample(sample);
    return createHash("sha256").update(JSON.stringify({ ...this.requestBody(messages, s), sample: s })).digest("hex");
  }

  /** The sample whose answer serves `sample`: sample 0 for all of them from a deterministic judge at temperature 0. */
  private distinctSample(sample: number): number {
    return this.opts.temperature === 0 && this.transport.deterministic === true ? 0 : sample;
  }

  /** One chat answer, from the cache or the server. */
  async chat(messages: readonly ChatMessage[], sample = 0): Promise<string> {
    sample = this.distinctSample(sample);
    const key = this.cacheKey(messages, sample);
    const known = this.memory.get(key);
    if (known !== undefined) {
      this.stats.cacheHits++;
      return known;
    }
    let pending = this.inflight.get(key);
    if (pending === undefined) {
      pending = this.fetchAnswer(key, this.requestBody(messages, sample), sample);
      this.inflight.set(key, pending);
      pending.then(
        () => this.inflight.delete(key),
        () => this.inflight.delete(key),
      );
    } else {
      this.stats.cacheHits++;
    }
    return pending;
  }

  private async fetchAnswer(key: string, body: ChatRequest, sample: number): Promise<string> {
    const onDisk = await this.readDisk(key);
    if (onDisk !== undefined) {
      this.stats.cacheHits++;
      this.memory.set(key, onDisk);
      return onDisk;
    }
    const answer = await this.post(body, sample);
    this.memory.set(key, answer);
    await this.writeDisk(key, answer);
    return answer;
  }

  /**
   * K critiques of a solution's steps (texts in order). Returns the wrong-step lists of the
   * well-formed answers, 0-based into `steps`, ready for `signals.critiques`.
   */
  async critique(problem: string, steps: readonly string[], options: { k?: number; reference?: string } = {}): Promise<CritiqueResult> {
    const k = options.k ?? this.opts.k;
    const messages = buildCritiqueMessages(problem, steps, options.reference);
    const answers = await Promise.all(Array.from({ length: k }, (_, j) => this.chat(messages, j)));
    const critiques: number[][] = [];
    let malformed = 0;
    for (const a of answers) {
      const wrong = parseWrongSteps(a, steps.length);
      if (wrong === null) malformed++;
      else critiques.push(wrong);
    }
    return { critiques, answers, malformed };
  }

  private async post(body: ChatRequest, sample: number): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      try {
        const { content, usage } = await this.attempt(body, sample);
        if (usage === null) this.stats.unreportedUsage++;
        else {
          this.stats.promptTokens += usage.promptTokens;
          this.stats.completionTokens += usage.completionTokens;
        }
        return content;
      } catch (e) {
        if (!(e instanceof TransientError)) throw e;
        if (attempt >= this.opts.maxRetries) {
          throw new JudgeError(`judge request to ${this.transport.target} failed after ${attempt + 1} attempts: ${e.message}`, e.status, attempt + 1);
        }
        this.stats.retries++;
        const backoff = Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** attempt);
        await sleep(e.retryAfterMs === null ? backoff : Math.min(this.opts.maxDelayMs, Math.max(backoff, e.retryAfterMs)));
      }
    }
  }

  private async attempt(body: ChatRequest, sample: number): Promise<ChatAnswer> {
    // A slot is held for one attempt only, so backoff sleeps do not block other requests.
    if (this.active >= this.opts.concurrency) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      this.stats.requests++;
      return await this.transport.complete(body, sample, this.opts.timeoutMs);
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }

  private cachePath(key: string): string | null {
    return this.opts.cacheDir === undefined ? null : join(this.opts.cacheDir, `${key}.json`);
  }

  private async readDisk(key: string): Promise<string | undefined> {
    const path = this.cachePath(key);
    if (path === null) return undefined;
    try {
      const entry: unknown = JSON.parse(await readFile(path, "utf8"));
      const answer = (entry as { answer?: unknown }).answer;
      return typeof answer === "string" ? answer : undefined;
    } catch {
      return undefined; // absent or unreadable: a miss
    }
  }

  private async writeDisk(key: string, answer: string): Promise<void> {
    const path = this.cachePath(key);
    if (path === null) return;
    // Atomic, so a concurrent reader never sees half a file.
    writeFileAtomic(path, JSON.stringify({ model: this.opts.model, answer }));
  }
}

/** The OpenAI-compatible HTTP judge: `POST {root}/v1/chat/completions`. */
class HttpTransport implements ChatTransport {
  readonly target: string;

  constructor(
    baseUrl: string,
    private readonly apiKey: string | undefined,
    private readonly doFetch: typeof fetch,
  ) {
    const root = baseUrl.replace(/\/+$/, "").replace(/\/v1$/, "");
    this.target = `${root}/v1/chat/completions`;
  }

  async complete(request: ChatRequest, _sample: number, timeoutMs: number): Promise<ChatAnswer> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
    if (this.apiKey !== undefined) headers.authorization = `Bearer ${this.apiKey}`;
    let status: number;
    let text: string;
    let after: string | null;
    try {
      const res = await this.doFetch(this.target, { method: "POST", headers, body: JSON.stringify(request), signal: controller.signal });
      status = res.status;
      after = res.headers.get("retry-after");
      text = await res.text();
    } catch (e) {
      // Every failure below HTTP (reset, refused, DNS, socket closed, our timeout) is worth a retry.
      const why = controller.signal.aborted ? `timed out after ${timeoutMs} ms` : describeNetworkError(e);
      throw new TransientError(why, null, null);
    } finally {
      clearTimeout(timer);
    }
    if (status >= 500 || RETRY_STATUS.has(status)) throw new TransientError(`HTTP ${status}: ${text.slice(0, 200)}`, status, retryAfterMs(after));
    if (status < 200 || status >= 300) throw new JudgeError(`judge request to ${this.target} failed: HTTP ${status}: ${text.slice(0, 500)}`, status, 1);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new JudgeError(`judge response from ${this.target} is not JSON: ${text.slice(0, 200)}`, status, 1);
    }
    const content = answerOf(parsed);
    if (content === null) throw new JudgeError(`judge response from ${this.target} has no choices[0].message.content: ${text.slice(0, 200)}`, status, 1);
    return { content, usage: usageOf(parsed) };
  }
}

/** OpenAI's `usage` token counts, when the body has them as finite numbers. */
function usageOf(body: unknown): ChatAnswer["usage"] {
  const u = (body as { usage?: unknown }).usage;
  if (typeof u !== "object" || u === null) return null;
  const { prompt_tokens: p, completion_tokens: c } = u as { prompt_tokens?: unknown; completion_tokens?: unknown };
  return typeof p === "number" && Number.isFinite(p) && typeof c === "number" && Number.isFinite(c) ? { promptTokens: p, completionTokens: c } : null;
}

function describeNetworkError(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as { cause?: unknown }).cause;
    const code = typeof cause === "object" && cause !== null ? (cause as { code?: unknown }).code : undefined;
    return typeof code === "string" ? `${e.message} (${code})` : e.message;
  }
  return String(e);
}
