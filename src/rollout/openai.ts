/**
 * OpenAI-compatible inference servers as rollout backends, token ids in and out:
 *
 * - vLLM `POST /v1/completions` with a token-id prompt, `n`, `seed` (child i of a request gets
 *   seed + i), `logprobs`, `return_token_ids` and `return_tokens_as_token_ids` (token strings
 *   "token_id:17"); scoring with `prompt_logprobs` (entry 0 is null; dicts keyed by the id).
 *   vLLM's default `--logprobs-mode raw_logprobs` reports log-probs BEFORE temperature, so
 *   sampling at T != 1 or top-p < 1 needs the server started with
 *   `--logprobs-mode processed_logprobs` and `logprobs: "processed"` here (else refused).
 * - SGLang `POST /generate` with `input_ids`, `sampling_params` (`n`, `sampling_seed`),
 *   `return_logprob`; log-probs come as [logprob, id, text] triples AFTER temperature (before
 *   top-p). Scoring: `logprob_start_len: 0`, `input_token_logprobs` (first entry null).
 * - llama.cpp's `POST /completion` with a token-id prompt, `n_probs: 1` and
 *   `post_sampling_probs: true` (probabilities after the sampler chain; topK 0, minP 0 so only
 *   temperature and top-p act); one request per sample, each with its own seed. It cannot score
 *   a given sequence (no prompt log-probs).
 *
 * Every sample's log-probs are checked: a server that returns none (vLLM without `logprobs`,
 * llama.cpp with `n_probs` 0, a proxy that drops fields) is an error naming the server, never
 * silent zeros. Servers give no entropies: results carry an empty `entropies`.
 */
import type { Rng } from "../train/rng.js";
import { BackendError, checkRequests, countTokens, type BackendCapabilities, type SampleOptions, type SampleRequest, type SampleResult, type ScoreRequest, type RolloutBackend } from "./backend.js";
import { JsonPoster, type HttpOptions } from "./http.js";

export type ServerKind = "vllm" | "sglang" | "llamacpp";
export const SERVER_KINDS: readonly ServerKind[] = ["vllm", "sglang", "llamacpp"];

export interface ServerBackendOptions extends HttpOptions {
  /** Server root, e.g. http://127.0.0.1:8000 (a trailing /v1 is accepted). */
  url: string;
  server: ServerKind;
  /** The `model` field (vLLM serves one or more names; default "default"). */
  model?: string;
  /** Longest prompt + response the server takes (default 4096). */
  maxSeqLen?: number;
  /** vLLM only: what `--logprobs-mode` the server runs ("raw" is vLLM's default). */
  logprobs?: "raw" | "processed";
}

type Json = Record<string, unknown>;

function isObj(x: unknown): x is Json {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** A server's sampled response, parsed. */
interface Parsed {
  tokens: number[];
  logprobs: number[];
  finished: boolean;
}

/** A row of a batch that runs as one server request with `n` samples. */
interface Call {
  first: number;
  n: number;
  seed: number;
}

const TOKEN_ID = /^token_id:(\d+)$/;

export class ServerBackend implements RolloutBackend {
  readonly name: string;
  readonly capabilities: BackendCapabilities = { entropies: false, seeded: true, scoreAnyTemperature: false, adaptiveTemperature: false };
  sampledTokens = 0;
  readonly maxSeqLen: number;
  readonly http: JsonPoster;
  private readonly root: string;

  constructor(readonly opts: ServerBackendOptions) {
    this.name = opts.server;
    this.root = opts.url.replace(/\/+$/, "").replace(/\/v1$/, "");
    this.maxSeqLen = opts.maxSeqLen ?? 4096;
    this.http = new JsonPoster(opts);
  }

  private where(path: string): string {
    return `${this.opts.server} server ${this.root}${path}`;
  }

  private fail(path: string, what: string, body: unknown): never {
    throw new BackendError(`${this.where(path)}: ${what} (answer: ${JSON.stringify(body).slice(0, 300)})`);
  }

  private checkSampling(opts: SampleOptions): void {
    if (opts.adaptiveTemperature) throw new BackendError(`${this.name}: adaptive temperature needs the full distribution; use the builtin or gguf backend`);
    const tempered = opts.temperature > 0 && (opts.temperature !== 1 || opts.topP < 1);
    if (this.opts.server === "vllm" && (this.opts.logprobs ?? "raw") === "raw" && tempered) {
      throw new BackendError("vllm: with its default --logprobs-mode raw_logprobs vLLM reports log-probs before temperature and top-p, not those of the sampling distribution; start vLLM with --logprobs-mode processed_logprobs and pass logprobs \"processed\" (CLI: --server-logprobs processed), or sample at temperature 1 and top-p 1");
    }
  }

  async sample(requests: readonly SampleRequest[], opts: SampleOptions, rng: Rng): Promise<SampleResult[]> {
    checkRequests(this.name, requests, this.maxSeqLen, null);
    this.checkSampling(opts);
    // One generator per row in row order (as every backend); a row's seed is drawn from it.
    const seeds = requests.map(() => rng.fork().nextU32() & 0x7fffffff);
    // Adjacent identical requests (G samples of a prompt) become one request with n = G where
    // the server samples n at once; the seeds of the later rows then go unused.
    const calls: Call[] = [];
    const grouped = this.opts.server !== "llamacpp";
    requests.forEach((q, r) => {
      const last = calls[calls.length - 1];
      const p = last ? requests[last.first] : null;
      if (grouped && p && p.maxNew === q.maxNew && p.prefix.length === q.prefix.length && p.prefix.every((t, k) => t === q.prefix[k])) last.n++;
      else calls.push({ first: r, n: 1, seed: seeds[r] });
    });
    const results: SampleResult[] = new Array(requests.length);
    await Promise.all(calls.map(async (c) => {
      const q = requests[c.first];
      const parsed = q.maxNew <= 0 ? Array.from({ length: c.n }, () => ({ tokens: [], logprobs: [], finished: false })) : await this.sampleCall(q, c, opts);
      parsed.forEach((p, k) => {
        results[c.first + k] = { tokens: p.tokens, logprobs: p.logprobs, entropies: [], finished: p.finished };
      });
    }));
    this.sampledTokens += countTokens(results);
    return results;
  }

  private async sampleCall(q: SampleRequest, c: Call, opts: SampleOptions): Promise<Parsed[]> {
    const greedy = opts.temperature <= 0;
    const T = greedy ? 0 : opts.temperature;
    const topP = greedy ? 1 : opts.topP;
    switch (this.opts.server) {
      case "vllm": {
        const path = "/v1/completions";
        const body = await this.http.post(this.root + path, {
          model: this.opts.model ?? "default", prompt: q.prefix, max_tokens: q.maxNew, n: c.n, seed: c.seed,
          temperature: T, top_p: topP, top_k: -1, min_p: 0, logprobs: 1,
          return_token_ids: true, return_tokens_as_token_ids: true, skip_special_tokens: false,
        });
        return this.parseVllm(path, body, c.n, opts.eos);
      }
      case "sglang": {
        const path = "/generate";
        const body = await this.http.post(this.root + path, {
          input_ids: q.prefix,
          sampling_params: { temperature: T, top_p: topP, top_k: -1, min_p: 0, max_new_tokens: q.maxNew, n: c.n, sampling_seed: c.seed, skip_special_tokens: false, no_stop_trim: true },
          return_logprob: true, logprob_start_len: -1, top_logprobs_num: 0, stream: false,
        });
        const list = Array.isArray(body) ? body : [body];
        if (list.length !== c.n) this.fail(path, `expected ${c.n} samples, got ${list.length}`, body);
        return list.map((b) => this.parseSglang(path, b, opts.eos));
      }
      case "llamacpp": {
        const path = "/completion";
        const body = await this.http.post(this.root + path, {
          prompt: q.prefix, n_predict: q.maxNew, temperature: T, top_p: topP, top_k: 0, min_p: 0, typical_p: 1,
          repeat_penalty: 1, seed: c.seed, n_probs: 1, post_sampling_probs: !greedy, return_tokens: true, cache_prompt: true, stream: false,
        });
        return [this.parseLlamacpp(path, body, greedy, opts.eos)];
      }
    }
  }

  /** Checks a parsed sample: integer ids, one finite log-prob each. */
  private checked(path: string, p: Parsed, body: unknown): Parsed {
    if (p.tokens.length !== p.logprobs.length) this.fail(path, `${p.tokens.length} tokens but ${p.logprobs.length} log-probs`, body);
    p.tokens.forEach((t, k) => {
      if (!Number.isInteger(t) || t < 0) this.fail(path, `token ${k} is not a token id (${t})`, body);
      if (typeof p.logprobs[k] !== "number" || !Number.isFinite(p.logprobs[k])) this.fail(path, `log-prob ${k} is ${p.logprobs[k]}, not a finite number`, body);
    });
    return p;
  }

  private parseVllm(path: string, body: unknown, n: number, eos: number): Parsed[] {
    if (!isObj(body) || !Array.isArray(body.choices)) this.fail(path, "no choices", body);
    const choices = (body.choices as unknown[]).filter(isObj).sort((a, b) => Number(a.index) - Number(b.index));
    if (choices.length !== n) this.fail(path, `expected ${n} choices, got ${choices.length}`, body);
    return choices.map((ch, i) => {
      const lp = ch.logprobs;
      if (!isObj(lp) || !Array.isArray(lp.token_logprobs)) this.fail(path, `choice ${i} has no log-probs (was 'logprobs' dropped?)`, body);
      const logprobs = lp.token_logprobs as number[];
      let tokens: number[];
      if (Array.isArray(ch.token_ids)) tokens = ch.token_ids as number[];
      else {
        if (!Array.isArray(lp.tokens)) this.fail(path, `choice ${i} has neither token_ids nor logprobs.tokens`, body);
        tokens = (lp.tokens as unknown[]).map((s) => {
          const m = typeof s === "string" ? TOKEN_ID.exec(s) : null;
          if (!m) this.fail(path, `token ${JSON.stringify(s)} is text, not "token_id:N" (a vLLM without return_tokens_as_token_ids?)`, body);
          return Number(m[1]);
        });
      }
      // finish_reason "stop": eos or a stop token (the eos entry is in the arrays, with its log-prob).
      if (ch.finish_reason !== "stop" && ch.finish_reason !== "length") this.fail(path, `choice ${i} finished with ${JSON.stringify(ch.finish_reason)}`, body);
      return this.checked(path, { tokens, logprobs, finished: ch.finish_reason === "stop" || tokens[tokens.length - 1] === eos }, body);
    });
  }

  private parseSglang(path: string, b: unknown, eos: number): Parsed {
    if (!isObj(b) || !isObj(b.meta_info)) this.fail(path, "no meta_info", b);
    const meta = b.meta_info as Json;
    const triples = meta.output_token_logprobs;
    if (!Array.isArray(triples)) this.fail(path, "no meta_info.output_token_logprobs (was return_logprob dropped?)", b);
    const tokens: number[] = [], logprobs: number[] = [];
    for (const t of triples as unknown[]) {
      if (!Array.isArray(t) || t.length < 2) this.fail(path, "an output_token_logprobs entry is not [logprob, id, text]", b);
      logprobs.push(t[0] as number);
      tokens.push(t[1] as number);
    }
    // output_ids, when given, must be the same ids (or lack only a trailing eos).
    if (Array.isArray(b.output_ids)) {
      const ids = b.output_ids as number[];
      const same = ids.length <= tokens.length && ids.every((x, k) => x === tokens[k]) && (ids.length === tokens.length || (ids.length === tokens.length - 1 && tokens[tokens.length - 1] === eos));
      if (!same) this.fail(path, "output_ids and output_token_logprobs disagree", b);
    }
    const fr = meta.finish_reason;
    const type = isObj(fr) ? fr.type : fr;
    if (type !== "stop" && type !== "length") this.fail(path, `finish_reason ${JSON.stringify(fr)}`, b);
    return this.checked(path, { tokens, logprobs, finished: type === "stop" }, b);
  }

  private parseLlamacpp(path: string, b: unknown, greedy: boolean, eos: number): Parsed {
    if (!isObj(b)) this.fail(path, "not an object", b);
    const probs = b.completion_probabilities;
    if (!Array.isArray(probs)) this.fail(path, "no completion_probabilities (n_probs 0, or a server too old for token probabilities)", b);
    const tokens: number[] = [], logprobs: number[] = [];
    for (const e of probs as unknown[]) {
      if (!isObj(e) || typeof e.id !== "number") this.fail(path, "a completion_probabilities entry has no id", b);
      tokens.push(e.id as number);
      // post_sampling_probs gives `prob` (after temperature and top-p); greedy asks for raw `logprob`.
      const v = greedy ? e.logprob : typeof e.prob === "number" ? Math.log(e.prob) : undefined;
      logprobs.push(v as number);
    }
    const stop = b.stop_type;
    if (Array.isArray(b.tokens)) {
      const ids = b.tokens as number[];
      // An eos that ends generation may come without a probability entry: it is left out (finished says it ended).
      const same = ids.length >= tokens.length && tokens.every((x, k) => x === ids[k]) && (ids.length === tokens.length || (ids.length === tokens.length + 1 && ids[ids.length - 1] === eos));
      if (!same) this.fail(path, "tokens and completion_probabilities disagree", b);
    }
    if (stop !== "eos" && stop !== "limit" && stop !== "none" && stop !== undefined) this.fail(path, `stop_type ${JSON.stringify(stop)} (stop words are not used for rollouts)`, b);
    return this.checked(path, { tokens, logprobs, finished: stop === "eos" }, b);
  }

  async score(requests: readonly ScoreRequest[], temperature = 1): Promise<Float64Array[]> {
    if (temperature !== 1 && temperature > 0) throw new BackendError(`${this.name}: servers score at temperature 1 only (prompt log-probs are untempered)`);
    checkRequests(this.name, requests.map((q) => ({ prefix: [...q.prefix, ...q.tokens] })), this.maxSeqLen, null);
    return Promise.all(requests.map((q) => this.scoreOne(q)));
  }

  private async scoreOne(q: ScoreRequest): Promise<Float64Array> {
    const full = [...q.prefix, ...q.tokens];
    const out = new Float64Array(q.tokens.length);
    if (q.tokens.length === 0) return out;
    switch (this.opts.server) {
      case "vllm": {
        const path = "/v1/completions";
        const body = await this.http.post(this.root + path, { model: this.opts.model ?? "default", prompt: full, max_tokens: 1, temperature: 1, prompt_logprobs: 0, n: 1 });
        const ch = isObj(body) && Array.isArray(body.choices) ? (body.choices as unknown[])[0] : null;
        const pl = isObj(ch) ? ch.prompt_logprobs : null;
        if (!Array.isArray(pl) || pl.length !== full.length) this.fail(path, `no prompt_logprobs for the ${full.length} prompt tokens`, body);
        for (let j = 0; j < q.tokens.length; j++) {
          const entry = (pl as unknown[])[q.prefix.length + j];
          const hit = isObj(entry) ? entry[String(q.tokens[j])] : null;
          const v = isObj(hit) ? hit.logprob : undefined;
          if (typeof v !== "number" || !Number.isFinite(v)) this.fail(path, `no finite prompt log-prob for token ${q.prefix.length + j} (id ${q.tokens[j]})`, body);
          out[j] = v;
        }
        return out;
      }
      case "sglang": {
        const path = "/generate";
        const body = await this.http.post(this.root + path, { input_ids: full, sampling_params: { max_new_tokens: 1, temperature: 1 }, return_logprob: true, logprob_start_len: 0, stream: false });
        const b = Array.isArray(body) ? body[0] : body;
        const itl = isObj(b) && isObj(b.meta_info) ? b.meta_info.input_token_logprobs : null;
        if (!Array.isArray(itl) || itl.length !== full.length) this.fail(path, `no input_token_logprobs for the ${full.length} input tokens`, body);
        for (let j = 0; j < q.tokens.length; j++) {
          const t = (itl as unknown[])[q.prefix.length + j];
          if (!Array.isArray(t) || t[1] !== q.tokens[j] || typeof t[0] !== "number" || !Number.isFinite(t[0])) this.fail(path, `input token ${q.prefix.length + j}: expected [logprob, ${q.tokens[j]}, ...]`, body);
          out[j] = (t as number[])[0];
        }
        return out;
      }
      case "llamacpp":
        throw new BackendError("llamacpp: llama.cpp's server returns no prompt log-probs, so it cannot score a given sequence; use the gguf backend on the same file");
    }
  }

  async close(): Promise<void> {
    // Nothing held: HTTP connections are the runtime's.
  }
}
