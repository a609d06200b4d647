import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JudgeClient, JudgeError } from "../../src/judge/client.js";
import { CRITIQUE_SYSTEM_PROMPT } from "../../src/judge/prompt.js";
import { remapCritiques, stepEndsFromPieces } from "../../src/rewards/steps.js";
import { runMethod } from "../../src/core/registry.js";
import { makeBatch } from "../helpers.js";

interface Seen {
  url: string;
  method: string;
  headers: IncomingMessage["headers"];
  body: Record<string, unknown>;
}

/** What the scripted server does for its n-th request (0-based). */
type Script = (n: number, req: Seen, res: ServerResponse) => void;

/** A chat.completion body in the OpenAI format. */
function completion(content: string | null, model = "judge-model"): string {
  return JSON.stringify({
    id: "chatcmpl-test",
    object: "chat.completion",
    created: 1767225600,
    model,
    choices: [{ index: 0, message: { role: "assistant", content, refusal: null }, logprobs: null, finish_reason: "stop" }],
    usage: { prompt_tokens: 120, completion_tokens: 12, total_tokens: 132 },
  });
}

function reply(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(body);
}

/** A local OpenAI-compatible server on 127.0.0.1, port 0; every request is recorded. */
async function withServer(script: Script, fn: (baseUrl: string, seen: Seen[]) => Promise<void>): Promise<void> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const s: Seen = { url: req.url ?? "", method: req.method ?? "", headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown> };
      seen.push(s);
      script(seen.length - 1, s, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  try {
    await fn(`http://127.0.0.1:${port}`, seen);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const STEPS = ["Add 2 and 3 to get 5.", "Multiply by 2 to get 11.", "The answer is 11."];
const fast = { baseDelayMs: 1, maxDelayMs: 5 };

test("critique: K requests in the OpenAI format, answers parsed to 0-based wrong steps", async () => {
  const answers = ["Step 2 doubles 5 wrongly.\nWRONG_STEPS: [2, 3]", "WRONG_STEPS: [2]", '{"wrong_steps": []}'];
  await withServer(
    (_n, req, res) => reply(res, 200, completion(answers[(req.body.seed as number) - 10])),
    async (baseUrl, seen) => {
      const client = new JudgeClient({ baseUrl: `${baseUrl}/v1/`, model: "judge-model", apiKey: "sk-test", k: 3, seed: 10, temperature: 0.5, maxTokens: 256, ...fast });
      const r = await client.critique("Compute (2+3)*2.", STEPS);
      assert.deepEqual(r.critiques, [[1, 2], [1], []]);
      assert.equal(r.malformed, 0);
      assert.deepEqual(r.answers, answers);
      assert.equal(seen.length, 3);
      for (const s of seen) {
        assert.equal(s.method, "POST");
        assert.equal(s.url, "/v1/chat/completions");
        assert.equal(s.headers.authorization, "Bearer sk-test");
        assert.equal(s.headers["content-type"], "application/json");
        assert.equal(s.body.model, "judge-model");
        assert.equal(s.body.temperature, 0.5);
        assert.equal(s.body.max_tokens, 256);
        assert.equal(s.body.n, 1);
        const msgs = s.body.messages as { role: string; content: string }[];
        assert.equal(msgs[0].content, CRITIQUE_SYSTEM_PROMPT);
        assert.match(msgs[1].content, /Step 2: Multiply by 2 to get 11\./);
      }
      assert.deepEqual(seen.map((s) => s.body.seed).sort(), [10, 11, 12]);
      // Each answer reports usage 120 + 12 tokens (see completion()).
      assert.deepEqual(client.stats, { requests: 3, retries: 0, cacheHits: 0, promptTokens: 360, completionTokens: 36, unreportedUsage: 0 });
    },
  );
});

test("503 then 200: the request is retried and succeeds", async () => {
  await withServer(
    (n, _req, res) => (n === 0 ? reply(res, 503, '{"error": {"message": "overloaded"}}') : reply(res, 200, completion("WRONG_STEPS: [1]"))),
    async (baseUrl, seen) => {
      const client = new JudgeClient({ baseUrl, model: "m", k: 1, ...fast });
      const r = await client.critique("p", STEPS);
      assert.deepEqual(r.critiques, [[0]]);
      assert.equal(seen.length, 2);
      assert.deepEqual(seen[0].body, seen[1].body);
      assert.equal(client.stats.retries, 1);
    },
  );
});

test("429 with Retry-After, a reset connection and a timeout are retried too", async () => {
  await withServer(
    (n, _req, res) => {
      if (n === 0) reply(res, 429, '{"error": "rate limited"}', { "retry-after": "0" });
      else if (n === 1) res.socket?.destroy();
      else if (n === 2) setTimeout(() => reply(res, 200, completion("WRONG_STEPS: [3]")), 400);
      else reply(res, 200, completion("WRONG_STEPS: [3]"));
    },
    async (baseUrl, seen) => {
      const client = new JudgeClient({ baseUrl, model: "m", k: 1, timeoutMs: 100, ...fast });
      const r = await client.critique("p", STEPS);
      assert.deepEqual(r.critiques, [[2]]);
      assert.equal(seen.length, 4);
      assert.equal(client.stats.retries, 3);
    },
  );
});

test("a client error (400) fails at once; retries run out on a server that keeps failing", async () => {
  await withServer(
    (_n, _req, res) => reply(res, 400, '{"error": {"message": "bad model"}}'),
    async (baseUrl, seen) => {
      const client = new JudgeClient({ baseUrl, model: "m", k: 1, ...fast });
      await assert.rejects(client.critique("p", STEPS), (e: unknown) => e instanceof JudgeError && e.status === 400 && /bad model/.test(e.message));
      assert.equal(seen.length, 1);
    },
  );
  await withServer(
    (_n, _req, res) => reply(res, 500, "boom"),
    async (baseUrl, seen) => {
      const client = new JudgeClient({ baseUrl, model: "m", k: 1, maxRetries: 2, ...fast });
      await assert.rejects(client.critique("p", STEPS), (e: unknown) => e instanceof JudgeError && e.status === 500 && e.attempts === 3);
      assert.equal(seen.length, 3);
    },
  );
});

test("malformed answers are left out of the critiques and counted; a malformed body is an error", async () => {
  const answers = ["I cannot tell without more context.", "WRONG_STEPS: [2]", ""];
  await withServer(
    (_n, req, res) => reply(res, 200, completion(answers[req.body.seed as number])),
    async (baseUrl) => {
      const client = new JudgeClient({ baseUrl, model: "m", k: 3, seed: 0, ...fast });
      const r = await client.critique("p", STEPS);
      assert.deepEqual(r.critiques, [[1]]);
      assert.equal(r.malformed, 2);
    },
  );
  await withServer(
    (n, _req, res) => reply(res, 200, n === 0 ? "<html>proxy error</html>" : JSON.stringify({ object: "chat.completion", choices: [] })),
    async (baseUrl, seen) => {
      const client = new JudgeClient({ baseUrl, model: "m", k: 1, ...fast });
      await assert.rejects(client.critique("p", STEPS), (e: unknown) => e instanceof JudgeError && /not JSON/.test(e.message));
      await assert.rejects(client.critique("p2", STEPS), (e: unknown) => e instanceof JudgeError && /choices/.test(e.message));
      assert.equal(seen.length, 2);
    },
  );
});

test("cache: a repeated critique does not reach the server; the disk cache survives a new client", async () => {
  const dir = await mkdtemp(join(tmpdir(), "cf-judge-"));
  try {
    await withServer(
      (_n, _req, res) => reply(res, 200, completion("WRONG_STEPS: [2]")),
      async (baseUrl, seen) => {
        const client = new JudgeClient({ baseUrl, model: "m", k: 2, cacheDir: join(dir, "cache"), ...fast });
        const first = await client.critique("p", STEPS);
        const again = await client.critique("p", STEPS);
        assert.deepEqual(again, first);
        assert.equal(seen.length, 2);
        assert.equal(client.stats.cacheHits, 2);
        assert.equal((await readdir(join(dir, "cache"))).filter((f) => f.endsWith(".json")).length, 2);

        const fresh = new JudgeClient({ baseUrl, model: "m", k: 2, cacheDir: join(dir, "cache"), ...fast });
        assert.deepEqual(await fresh.critique("p", STEPS), first);
        assert.equal(seen.length, 2);
        // different content, a different model or another sample index is a miss
        await fresh.critique("another problem", STEPS);
        assert.equal(seen.length, 4);
        await new JudgeClient({ baseUrl, model: "m2", k: 1, ...fast }).critique("p", STEPS);
        assert.equal(seen.length, 5);
        await fresh.critique("p", STEPS, { k: 3 });
        assert.equal(seen.length, 6);
      },
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("cacheKey is a sha256 hex digest of the request content", () => {
  const a = new JudgeClient({ baseUrl: "http://127.0.0.1:1", model: "m" });
  const b = new JudgeClient({ baseUrl: "http://127.0.0.1:2/v1", model: "m" });
  const msgs = [{ role: "user" as const, content: "x" }];
  assert.match(a.cacheKey(msgs, 0), /^[0-9a-f]{64}$/);
  assert.equal(a.cacheKey(msgs, 0), b.cacheKey(msgs, 0));
  assert.notEqual(a.cacheKey(msgs, 0), a.cacheKey(msgs, 1));
  assert.notEqual(a.cacheKey(msgs, 0), a.cacheKey([{ role: "user", content: "y" }], 0));
});

test("concurrency caps requests in flight; concurrent identical requests share one call", async () => {
  let inFlight = 0;
  let maxInFlight = 0;
  await withServer(
    (_n, _req, res) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      setTimeout(() => {
        inFlight--;
        reply(res, 200, completion("WRONG_STEPS: [1]"));
      }, 100);
    },
    async (baseUrl, seen) => {
      const client = new JudgeClient({ baseUrl, model: "m", k: 3, concurrency: 2, ...fast });
      const [a, b] = await Promise.all([client.critique("p", STEPS), client.critique("p", STEPS)]);
      assert.deepEqual(a.critiques, [[0], [0], [0]]);
      assert.deepEqual(b, a);
      assert.equal(seen.length, 3);
      assert.equal(maxInFlight, 2);
      assert.equal(client.stats.cacheHits, 3);
    },
  );
});

test("end to end: token texts -> steps -> judge -> a capo rollout", async () => {
  const pieces = ["2", "+3", "=5", ".\n\n", "5", "*2", "=11", ".\n\n", "So", " 11", ""];
  await withServer(
    (_n, req, res) => {
      const user = (req.body.messages as { content: string }[])[1].content;
      assert.match(user, /Step 1: 2\+3=5\.\nStep 2: 5\*2=11\.\nStep 3: So 11/);
      reply(res, 200, completion("Step 2 multiplies wrongly, and so step 3 is wrong too.\nWRONG_STEPS: [2, 3]"));
    },
    async (baseUrl) => {
      const client = new JudgeClient({ baseUrl, model: "m", k: 2, seed: 1, ...fast });
      const { steps, stepEnds, stepOf } = stepEndsFromPieces(pieces);
      const { critiques } = await client.critique("(2+3)*2?", steps.map((s) => s.text));
      const row = { tokens: pieces.map((_, k) => k), reward: 0, step_ends: stepEnds, signals: { critiques: remapCritiques(critiques, stepOf) } };
      assert.deepEqual(row.step_ends, [3, 7, 10]);
      assert.deepEqual(row.signals.critiques, [[1, 2], [1, 2]]);
      const batch = makeBatch([row, { tokens: [0, 1], reward: 1, step_ends: [1] }]);
      const tr = runMethod("capo", batch).diag!.tokens!.tokenReward;
      assert.deepEqual(Array.from(tr), [0, 0, 0, 0, -1, -1, -1, -1, -1, -1, -1, 2, 2]);
    },
  );
});
