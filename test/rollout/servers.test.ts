/**
 * The server backends against a local HTTP server (127.0.0.1, started here) that answers in
 * vLLM's, SGLang's and llama.cpp's documented JSON: token-id strings "token_id:N", an eos entry
 * with its log-prob, a null first prompt log-prob, n > 1 choices; and faults: 500 then 200, 429
 * with Retry-After, a hang (time limit), an answer without log-probs.
 *
 * The fake model: sample k of a request with seed s answers tokens [10 + (s + k) % 7, 11, eos]
 * (or up to max tokens), token j with log-prob -(j + 1) / 10 - k / 100, so every expected value
 * is known here.
 */
import test from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Rng } from "../../src/train/rng.js";
import { ServerBackend, type ServerKind } from "../../src/rollout/openai.js";
import { retryAfterMs } from "../../src/rollout/http.js";

const EOS = 2;
type Fault = "500" | "429" | "hang" | "nologprobs";

interface Fake {
  server: Server;
  url: string;
  faults: Fault[];
  bodies: Record<string, unknown>[];
  times: number[];
}

function fakeSample(seed: number, k: number, maxNew: number): { ids: number[]; lps: number[] } {
  const ids = [10 + ((seed + k) % 7), 11, EOS].slice(0, maxNew);
  return { ids, lps: ids.map((_, j) => -(j + 1) / 10 - k / 100) };
}

function answer(kind: ServerKind, body: Record<string, unknown>, fault: Fault | undefined): unknown {
  const noLp = fault === "nologprobs";
  if (kind === "vllm") {
    const prompt = body.prompt as number[];
    if (body.prompt_logprobs !== undefined) {
      // scoring: entry 0 null; each dict holds the prompt token (and a top-1 other token)
      const pl = prompt.map((t, j) => (j === 0 ? null : { [String(t)]: { logprob: -j / 8, rank: 3, decoded_token: null }, "5": { logprob: -0.01, rank: 1, decoded_token: null } }));
      return { id: "cmpl-s", object: "text_completion", choices: [{ index: 0, text: "", logprobs: null, finish_reason: "length", stop_reason: null, prompt_logprobs: pl }], usage: { prompt_tokens: prompt.length, completion_tokens: 1, total_tokens: prompt.length + 1 } };
    }
    const n = body.n as number;
    const choices = Array.from({ length: n }, (_, k) => {
      // vLLM seeds child k with seed + k
      const { ids, lps } = fakeSample((body.seed as number) + k, 0, body.max_tokens as number);
      const lpsK = lps.map((x) => x - k / 100);
      return {
        index: k, text: "xy", finish_reason: ids[ids.length - 1] === EOS ? "stop" : "length", stop_reason: null,
        logprobs: noLp ? null : {
          text_offset: ids.map((_, j) => j * 11),
          token_logprobs: lpsK,
          tokens: ids.map((t) => `token_id:${t}`),
          top_logprobs: ids.map((t, j) => ({ [`token_id:${t}`]: lpsK[j], "token_id:5": -0.01 })),
        },
        // token_ids left out on odd choices: the ids must then come from the "token_id:N" strings
        ...(k % 2 === 0 ? { token_ids: ids, prompt_token_ids: prompt } : {}),
      };
    }).reverse(); // choices may arrive in any order; index says which is which
    return { id: "cmpl-1", object: "text_completion", created: 1, model: "m", choices, usage: { prompt_tokens: prompt.length, completion_tokens: 6, total_tokens: 9 } };
  }
  if (kind === "sglang") {
    const input = body.input_ids as number[];
    if (body.logprob_start_len === 0) {
      return { text: "", output_ids: [7], meta_info: { id: "x", finish_reason: { type: "length", length: 1 }, prompt_tokens: input.length, completion_tokens: 1, input_token_logprobs: input.map((t, j) => [j === 0 ? null : -j / 8, t, null]), output_token_logprobs: [[-0.5, 7, null]] } };
    }
    const sp = body.sampling_params as Record<string, number>;
    const list = Array.from({ length: sp.n }, (_, k) => {
      const { ids, lps } = fakeSample(sp.sampling_seed, k, sp.max_new_tokens);
      const fin = ids[ids.length - 1] === EOS;
      return {
        text: "xy", output_ids: fin ? ids.slice(0, -1) : ids, // output_ids without the eos, as SGLang trims it
        meta_info: { id: `r${k}`, finish_reason: fin ? { type: "stop", matched: EOS } : { type: "length", length: ids.length }, prompt_tokens: input.length, completion_tokens: ids.length, cached_tokens: 0, ...(noLp ? {} : { output_token_logprobs: ids.map((t, j) => [lps[j], t, null]) }) },
      };
    });
    return sp.n === 1 ? list[0] : list;
  }
  const { ids, lps } = fakeSample(body.seed as number, 0, body.n_predict as number);
  const fin = ids[ids.length - 1] === EOS;
  return {
    content: "xy", tokens: ids, stop: true, stop_type: fin ? "eos" : "limit", stopping_word: "", tokens_predicted: ids.length, tokens_evaluated: 3,
    // with post_sampling_probs: `prob`; greedy requests get raw `logprob`
    ...(noLp ? {} : { completion_probabilities: ids.map((t, j) => (body.post_sampling_probs ? { id: t, token: "x", bytes: [120], prob: Math.exp(lps[j]), top_probs: [{ id: t, token: "x", bytes: [120], prob: Math.exp(lps[j]) }] } : { id: t, token: "x", bytes: [120], logprob: lps[j], top_logprobs: [] })) }),
  };
}

async function startFake(kind: ServerKind): Promise<Fake> {
  const fake: Fake = { server: createServer(), url: "", faults: [], bodies: [], times: [] };
  fake.server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    let data = "";
    req.on("data", (c) => (data += c));
    req.on("end", () => {
      fake.times.push(Date.now());
      const fault = fake.faults.shift();
      const body = JSON.parse(data) as Record<string, unknown>;
      fake.bodies.push(body);
      const path = kind === "vllm" ? "/v1/completions" : kind === "sglang" ? "/generate" : "/completion";
      if (req.url !== path) {
        res.writeHead(404).end("not found");
        return;
      }
      if (fault === "500") return void res.writeHead(500).end("internal");
      if (fault === "429") return void res.writeHead(429, { "retry-after": "1" }).end("slow down");
      if (fault === "hang") return; // never answers
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer(kind, body, fault)));
    });
  });
  await new Promise<void>((resolve) => fake.server.listen(0, "127.0.0.1", resolve));
  fake.url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
  return fake;
}

async function stop(f: Fake): Promise<void> {
  f.server.closeAllConnections();
  await new Promise<void>((resolve) => f.server.close(() => resolve()));
}

const fast = { baseDelayMs: 5, maxDelayMs: 2000, timeoutMs: 2000 };
const opts = { temperature: 1, topP: 1, eos: EOS };
const seedsOf = (seed: number, n: number) => {
  const r = new Rng(seed);
  return Array.from({ length: n }, () => r.fork().nextU32() & 0x7fffffff);
};

test("vLLM: n > 1 in one request, ids from token_ids or 'token_id:N' strings, eos entry kept, seeds from the generator", async () => {
  const f = await startFake("vllm");
  try {
    const b = new ServerBackend({ url: f.url + "/v1", server: "vllm", ...fast });
    const prompt = [1, 4, 5];
    const res = await b.sample([...Array(3)].map(() => ({ prefix: prompt, maxNew: 8 })), opts, new Rng(7));
    assert.equal(f.bodies.length, 1, "three identical requests go as one with n = 3");
    const sent = f.bodies[0];
    assert.equal(sent.n, 3);
    assert.deepEqual(sent.prompt, prompt);
    assert.equal(sent.return_tokens_as_token_ids, true);
    const seed = seedsOf(7, 3)[0];
    assert.equal(sent.seed, seed);
    res.forEach((r, k) => {
      assert.deepEqual(r.tokens, [10 + ((seed + k) % 7), 11, EOS]);
      assert.deepEqual(r.logprobs, [-0.1 - k / 100, -0.2 - k / 100, -0.3 - k / 100]);
      assert.equal(r.finished, true);
      assert.deepEqual(r.entropies, []);
    });
    assert.equal(b.sampledTokens, 9);
    // cut off by max_tokens: finish_reason "length"
    const cut = await b.sample([{ prefix: prompt, maxNew: 2 }], opts, new Rng(1));
    assert.equal(cut[0].finished, false);
    assert.equal(cut[0].tokens.length, 2);
    // scoring: prompt_logprobs, entry 0 null, dicts keyed by the id
    const sc = await b.score([{ prefix: [1, 4], tokens: [9, 8, 7] }]);
    assert.deepEqual([...sc[0]], [-2 / 8, -3 / 8, -4 / 8]);
    await assert.rejects(b.score([{ prefix: [1], tokens: [3] }], 0.7), /temperature 1 only/);
  } finally {
    await stop(f);
  }
});

test("vLLM: raw log-probs (its default) are refused for tempered sampling; processed mode is accepted", async () => {
  const f = await startFake("vllm");
  try {
    const raw = new ServerBackend({ url: f.url, server: "vllm", ...fast });
    await assert.rejects(raw.sample([{ prefix: [1], maxNew: 3 }], { ...opts, temperature: 0.7 }, new Rng(0)), /processed_logprobs/);
    assert.equal(f.bodies.length, 0, "refused before any request");
    const processed = new ServerBackend({ url: f.url, server: "vllm", logprobs: "processed", ...fast });
    const r = await processed.sample([{ prefix: [1], maxNew: 3 }], { ...opts, temperature: 0.7 }, new Rng(0));
    assert.equal(r[0].tokens.length, 3);
    assert.equal(f.bodies[0].temperature, 0.7);
  } finally {
    await stop(f);
  }
});

test("SGLang /generate: a list for n > 1, [logprob, id, text] triples, eos trimmed from output_ids; scoring skips the null first entry", async () => {
  const f = await startFake("sglang");
  try {
    const b = new ServerBackend({ url: f.url, server: "sglang", ...fast });
    const res = await b.sample([{ prefix: [1, 3], maxNew: 5 }, { prefix: [1, 3], maxNew: 5 }, { prefix: [1, 6], maxNew: 5 }], opts, new Rng(3));
    assert.equal(f.bodies.length, 2);
    assert.equal((f.bodies[0].sampling_params as Record<string, number>).n, 2);
    const seeds = seedsOf(3, 3);
    assert.deepEqual(res.map((r) => r.tokens), [[10 + (seeds[0] % 7), 11, EOS], [10 + ((seeds[0] + 1) % 7), 11, EOS], [10 + (seeds[2] % 7), 11, EOS]]);
    assert.deepEqual(res[1].logprobs, [-0.1 - 0.01, -0.2 - 0.01, -0.3 - 0.01]);
    assert.ok(res.every((r) => r.finished));
    const sc = await b.score([{ prefix: [1, 4], tokens: [9, 8] }]);
    assert.deepEqual([...sc[0]], [-2 / 8, -3 / 8]);
  } finally {
    await stop(f);
  }
});

test("llama.cpp /completion: one request per sample with its own seed, probabilities after sampling as log-probs; no scoring", async () => {
  const f = await startFake("llamacpp");
  try {
    const b = new ServerBackend({ url: f.url, server: "llamacpp", ...fast });
    const res = await b.sample([{ prefix: [1, 3], maxNew: 5 }, { prefix: [1, 3], maxNew: 5 }], { ...opts, temperature: 0.8 }, new Rng(11));
    assert.equal(f.bodies.length, 2);
    const seeds = seedsOf(11, 2);
    assert.deepEqual(f.bodies.map((x) => x.seed).sort(), [...seeds].sort());
    for (const x of f.bodies) {
      assert.equal(x.n_probs, 1);
      assert.equal(x.post_sampling_probs, true);
      assert.equal(x.top_k, 0);
      assert.equal(x.min_p, 0);
    }
    res.forEach((r, k) => {
      assert.deepEqual(r.tokens, [10 + (seeds[k] % 7), 11, EOS]);
      assert.ok(Math.abs(r.logprobs[2] + 0.3) < 1e-12);
      assert.equal(r.finished, true);
    });
    await assert.rejects(b.score([{ prefix: [1], tokens: [3] }]), /cannot score/);
  } finally {
    await stop(f);
  }
});

test("faults: 500 then 200 is retried; 429 waits for Retry-After; a hang hits the time limit; no log-probs is an error", async () => {
  for (const kind of ["vllm", "sglang", "llamacpp"] as const) {
    const f = await startFake(kind);
    try {
      const b = new ServerBackend({ url: f.url, server: kind, ...fast, maxRetries: 2 });
      f.faults.push("500");
      const r = await b.sample([{ prefix: [1], maxNew: 3 }], opts, new Rng(0));
      assert.equal(r[0].tokens.length, 3, kind);
      assert.equal(b.http.stats.retries, 1);
      f.faults.push("429");
      f.times.length = 0;
      await b.sample([{ prefix: [1], maxNew: 3 }], opts, new Rng(0));
      assert.ok(f.times[1] - f.times[0] >= 950, `${kind}: the retry came ${f.times[1] - f.times[0]} ms after a Retry-After of 1 s`);
      f.faults.push("nologprobs");
      await assert.rejects(b.sample([{ prefix: [1], maxNew: 3 }], opts, new Rng(0)), (e: Error) => /log-prob|logprob|completion_probabilities/.test(e.message) && e.message.includes(kind));
      const hangs = new ServerBackend({ url: f.url, server: kind, ...fast, timeoutMs: 150, maxRetries: 1 });
      f.faults.push("hang", "hang");
      await assert.rejects(hangs.sample([{ prefix: [1], maxNew: 3 }], opts, new Rng(0)), /after 2 attempts: no answer within 150 ms/);
    } finally {
      await stop(f);
    }
  }
});

test("concurrency limit: never more requests in flight than allowed", async () => {
  const f = await startFake("llamacpp");
  let inflight = 0, peak = 0;
  f.server.prependListener("request", (req: IncomingMessage) => {
    peak = Math.max(peak, ++inflight);
    req.on("end", () => setTimeout(() => inflight--, 0));
  });
  try {
    const b = new ServerBackend({ url: f.url, server: "llamacpp", ...fast, concurrency: 2 });
    await b.sample([...Array(8)].map(() => ({ prefix: [1], maxNew: 3 })), opts, new Rng(0));
    assert.equal(f.bodies.length, 8);
    assert.ok(peak <= 2, `peak ${peak}`);
  } finally {
    await stop(f);
  }
});

test("Retry-After: seconds or an HTTP date", () => {
  assert.equal(retryAfterMs("2"), 2000);
  assert.equal(retryAfterMs(new Date(10_000).toUTCString(), 4_000), 6000);
  assert.equal(retryAfterMs(null), null);
  assert.equal(retryAfterMs("soon"), null);
});
