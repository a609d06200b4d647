/**
 * Load on `creditflow serve` over loopback: requests/s and p50/p99 latency of grpo requests of
 * 1k tokens (8 rollouts x 128) and 1M tokens (4096 x 256, groups of 8) at concurrency 1, 8 and
 * 64, against two references measured in the same run: the CLI's in-process time for the same
 * 1M-token batch (parse, validate, pack, run, write the answer: what `assign` does between
 * reading and writing its files) and the bare transfer of the same bytes through a Node echo
 * server. Then a soak mixing both sizes, sampling the server's resident memory to show it does
 * not grow. Bounded in requests and seconds (about 4 minutes in all).
 *
 * The load comes from a lean keep-alive client over raw sockets (./http-load.ts, as wrk is), so
 * the latencies are the service's, not the client's; one row repeats the 1k-token phase at
 * concurrency 8 with Node's http client, whose own overhead shows in its tail.
 *
 *   npm run bench:serve [-- --soak-s 120 --workers 2 --inline-kb 16]
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { availableParallelism } from "node:os";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { mulberry32 } from "../src/core/random.js";
import { runMethod } from "../src/core/registry.js";
import type { RolloutRow } from "../src/core/rows.js";
import "../src/methods/index.js";
import { rolloutsArrow } from "../src/io/arrow.js";
import { load, postRequest, type LoadResult } from "./http-load.js";
import { collectGarbage } from "./timing.js";
import { parseRolloutsJsonl, advantagesJsonl } from "../src/io/jsonl.js";
import { jsonAnswer } from "../src/serve/codec.js";

const { values } = parseArgs({ options: { "soak-s": { type: "string", default: "120" }, workers: { type: "string" }, "inline-kb": { type: "string" } } });
const soakSeconds = Number(values["soak-s"]);
const workers = values.workers ?? String(availableParallelism());

function rollouts(groups: number, size: number, tokens: number, seed: number): RolloutRow[] {
  const rng = mulberry32(seed);
  const rows: RolloutRow[] = [];
  for (let g = 0; g < groups; g++) {
    for (let j = 0; j < size; j++) {
      rows.push({ id: `q${g}-${j}`, group: `q${g}`, tokens: Array.from({ length: tokens }, () => Math.floor(rng() * 50000)), reward: rng() < 0.5 ? 1 : 0 });
    }
  }
  return rows;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

// Only bytes stay alive past this block: the load client's heap stays small, so its own garbage
// collection does not add to the latencies it measures.
const { bodies, inProcessMs, answerBytes, expectedLarge, smallAnswerBytes } = (() => {
  const small = rollouts(1, 8, 128, 1);
  const large = rollouts(512, 8, 256, 2);
  const jsonBody = (rows: RolloutRow[]): Buffer => Buffer.from(JSON.stringify({ method: "grpo", rollouts: rows }));
  const ndjsonBody = (rows: RolloutRow[]): Buffer => Buffer.from([JSON.stringify({ method: "grpo" }), ...rows.map((r) => JSON.stringify(r))].join("\n") + "\n");
  const bodies = {
    small: jsonBody(small),
    large: jsonBody(large),
    largeNdjson: ndjsonBody(large),
    largeArrow: Buffer.from(rolloutsArrow(large, "stream")),
  };
  // The reference: assign's in-process work on the same 1M-token batch, JSONL text in, JSONL
  // bytes out (what its file sink receives), without the file system.
  const largeJsonl = large.map((r) => JSON.stringify(r)).join("\n") + "\n";
  let answerBytes = 0;
  const inProcess: number[] = [];
  for (let k = 0; k < 5; k++) {
    const t0 = performance.now();
    const batch = parseRolloutsJsonl(largeJsonl, "bench.jsonl");
    const out = runMethod("grpo", batch, {});
    let bytes = 0;
    for (const chunk of advantagesJsonl(batch, out)) bytes += chunk.byteLength;
    inProcess.push(performance.now() - t0);
    answerBytes = bytes;
  }
  const answerOf = (rows: RolloutRow[]): Buffer => {
    const batch = parseRolloutsJsonl(rows.map((r) => JSON.stringify(r)).join("\n"), "x");
    return Buffer.from(jsonAnswer("grpo", batch, runMethod("grpo", batch, {})));
  };
  return { bodies, inProcessMs: median(inProcess), answerBytes, expectedLarge: answerOf(large), smallAnswerBytes: answerOf(small).byteLength };
})();

/** Starts a child that prints {"listening": URL} first; resolves with the URL. */
async function startChild(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`server exited with ${code}`)));
  });
  return { child, url: (JSON.parse(line) as { listening: string }).listening };
}

// Transfer alone: an echo server that reads the body and answers with as many bytes as the service would.
const ECHO = `
import { createServer } from "node:http";
const answer = Buffer.alloc(Number(process.argv[1]), 0x20);
const s = createServer((req, res) => { req.resume(); req.on("end", () => res.end(answer)); });
s.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ listening: "http://127.0.0.1:" + s.address().port })));
`;

interface Sample {
  ms: number;
  status: number;
  body: Buffer | null;
}

function send(agent: Agent, url: string, body: Buffer, contentType: string, keep: boolean): Promise<Sample> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", agent, headers: { "content-type": contentType, "content-length": body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => keep && chunks.push(c));
      res.on("end", () => resolve({ ms: performance.now() - t0, status: res.statusCode as number, body: keep ? Buffer.concat(chunks) : null }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

interface Phase {
  rps: number;
  p50: number;
  p99: number;
  n: number;
  non200: number;
}

function summary({ latencies, seconds, non200 }: LoadResult): Phase {
  return { rps: latencies.length / seconds, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), n: latencies.length, non200 };
}

/** A closed-loop phase: `concurrency` connections, one request in flight on each, `total` requests. */
async function phase(url: string, body: Buffer, contentType: string, concurrency: number, total: number): Promise<Phase> {
  // The client's own garbage (the setup's 1M-token batches above all) is collected before, not during, the phase.
  collectGarbage();
  const target = new URL(url);
  return summary(await load(target, postRequest(target, body, contentType), concurrency, total));
}

/** The same with Node's http client: NDJSON answers are chunked, which the lean client does not read. */
async function nodeClientPhase(url: string, body: Buffer, contentType: string, concurrency: number, total: number): Promise<Phase> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  let next = 0;
  let non200 = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next++;
        const s = await send(agent, url, body, contentType, false);
        if (s.status !== 200) non200++;
        latencies.push(s.ms);
      }
    }),
  );
  agent.destroy();
  return summary({ latencies, seconds: (performance.now() - t0) / 1000, non200 });
}

/** Resident and peak resident memory of a process, in MB (Linux /proc). */
function rss(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  return { rss: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 };
}

const echo = await startChild(["--input-type=module", "-e", ECHO, String(answerBytes + 40)]);
const transfer = (await load(new URL(echo.url), postRequest(new URL(echo.url), bodies.large, "application/json"), 1, 5)).latencies;
echo.child.kill();
const transferMs = median(transfer);

// The floor of the 1k-token latencies: the same client, request bytes and answer size against an
// echo server that does no work, so the table's p99 can be read against what HTTP alone costs here.
const smallEcho = await startChild(["--input-type=module", "-e", ECHO, String(smallAnswerBytes)]);
await phase(smallEcho.url, bodies.small, "application/json", 8, 400);
const smallFloor = await phase(smallEcho.url, bodies.small, "application/json", 8, 2000);
smallEcho.child.kill();

// A long time limit: at concurrency 64, 1M-token requests queue behind the workers for longer than the default 60 s on a busy machine.
const server = await startChild(["bin/creditflow.js", "serve", "--port", "0", "--workers", workers, "--log-level", "warn", "--timeout-s", "600", ...(values["inline-kb"] === undefined ? [] : ["--inline-kb", values["inline-kb"]])]);
const pid = server.child.pid as number;
const base = server.url + "/v1/assign";
try {
  // A check that the service answers what the library computes, and a warm-up of every worker (each compiles its own code).
  const check = await send(new Agent(), base, bodies.large, "application/json", true);
  if (check.status !== 200 || !(check.body as Buffer).equals(expectedLarge)) throw new Error("the service's answer differs from runMethod's");
  // Steady state: every worker has compiled the large-batch path (small requests run on the event loop and warm no worker).
  await phase(base, bodies.large, "application/json", Number(workers), 6 * Number(workers));
  await phase(base + "?method=grpo", bodies.largeArrow, "application/vnd.apache.arrow.stream", Number(workers), 2 * Number(workers));
  await phase(base, bodies.small, "application/json", 8, 400);
  const rssStart = rss(pid).rss;

  const rows: string[] = [];
  const row = (what: string, c: number, p: Phase): void => {
    rows.push(`| ${what} | ${c} | ${p.n} | ${p.rps.toFixed(p.rps < 10 ? 2 : 0)} | ${p.p50.toFixed(p.p50 < 10 ? 2 : 0)} | ${p.p99.toFixed(p.p99 < 10 ? 2 : 0)} | ${p.non200} | ${rss(pid).rss.toFixed(0)} |`);
  };
  const nodeClient8 = await nodeClientPhase(base, bodies.small, "application/json", 8, 2000);
  let small8: Phase | null = null;
  for (const [c, n] of [[1, 500], [8, 2000], [64, 4000]] as const) {
    const p = await phase(base, bodies.small, "application/json", c, n);
    if (c === 8) small8 = p;
    row("1k tokens, JSON", c, p);
  }
  row("1k tokens, JSON, Node's http client", 8, nodeClient8);
  const largeC1 = await phase(base, bodies.large, "application/json", 1, 9);
  row("1M tokens, JSON", 1, largeC1);
  for (const [c, n] of [[8, 16], [64, 64]] as const) row("1M tokens, JSON", c, await phase(base, bodies.large, "application/json", c, n));
  const ndjson = await nodeClientPhase(base, bodies.largeNdjson, "application/x-ndjson", 1, 5);
  row("1M tokens, NDJSON (streamed)", 1, ndjson);
  const arrow = await phase(base + "?method=grpo", bodies.largeArrow, "application/vnd.apache.arrow.stream", 1, 5);
  row("1M tokens, Arrow IPC", 1, arrow);

  // Soak: both sizes at concurrency 8 for soakSeconds, memory sampled every 250 ms.
  const samples: number[] = [];
  const sampler = setInterval(() => samples.push(rss(pid).rss), 250);
  collectGarbage();
  const soakEnd = performance.now() + soakSeconds * 1000;
  const soak = await Promise.all([
    load(new URL(base), postRequest(new URL(base), bodies.large, "application/json"), 1, Infinity, soakEnd),
    load(new URL(base), postRequest(new URL(base), bodies.small, "application/json"), 7, Infinity, soakEnd),
  ]);
  const soakRequests = soak[0].latencies.length + soak[1].latencies.length;
  const soakFailed = soak[0].non200 + soak[1].non200;
  clearInterval(sampler);
  const tenth = Math.max(1, Math.floor(samples.length / 10));
  const early = median(samples.slice(0, tenth));
  const late = median(samples.slice(-tenth));
  const { peak } = rss(pid);

  const target = 1.5 * inProcessMs + transferMs;
  process.stdout.write(`
#### creditflow serve over loopback (grpo; ${workers} worker threads; server and client on the same machine)

In-process reference (assign's parse + validate + pack + run + write, same 1M-token batch, median of 5): ${inProcessMs.toFixed(0)} ms.
Transfer alone (same request bytes in, same answer size out, Node echo server, median of 5): ${transferMs.toFixed(0)} ms.
1k-token JSON requests at concurrency 8: p99 ${(small8 as Phase).p99.toFixed(2)} ms; target under 10 ms: ${(small8 as Phase).p99 < 10 ? "met" : "MISSED"}. The same requests against the echo server (the HTTP floor on this machine): p50 ${smallFloor.p50.toFixed(2)} ms, p99 ${smallFloor.p99.toFixed(2)} ms.
1M-token JSON request at concurrency 1 (median of 9): p50 ${largeC1.p50.toFixed(0)} ms = ${(largeC1.p50 / inProcessMs).toFixed(2)}x in-process; target 1.5x in-process + transfer = ${target.toFixed(0)} ms: ${largeC1.p50 < target ? "met" : "MISSED"}.

| request | concurrency | requests | req/s | p50 ms | p99 ms | non-200 | server RSS MB after |
|---|---:|---:|---:|---:|---:|---:|---:|
${rows.join("\n")}

Soak (${soakSeconds} s, ${soakRequests} requests mixing 1M- and 1k-token requests at concurrency 8, ${soakFailed} not 200): server RSS ${rssStart.toFixed(0)} MB after warm-up, median ${early.toFixed(0)} MB over the first tenth of the soak and ${late.toFixed(0)} MB over the last tenth; peak RSS over the whole run ${peak.toFixed(0)} MB.
`);
} finally {
  server.child.kill("SIGTERM");
}
