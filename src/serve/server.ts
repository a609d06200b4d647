/**
 * `creditflow serve`: the credit-assignment HTTP service (docs/serve.md), on fastify.
 *
 * The event loop accepts connections, moves bytes and answers health checks; decoding,
 * validation, the methods and encoding run in a pool of worker threads. Limits: request size
 * (413), time per request from arrival to answer (408; a method still running is stopped by
 * ending its thread), concurrent assign requests (503 + Retry-After). Draining (SIGTERM) stops
 * accepting, lets in-flight requests finish, then closes.
 */
import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable, type Duplex, type Writable } from "node:stream";
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { methodsJson } from "../cli/methods.js";
import { checkMethodAndConfig, parseJson } from "./codec.js";
import { errorJson, RequestError, toRequestError } from "./errors.js";
import { ServiceMetrics } from "./metrics.js";
import { bodyLines, bodyTooLarge, ndjsonAnswer } from "./ndjson.js";
import { runSmallJsonJob } from "./jobs.js";
import { CancelledError, ownBuffer, WorkerPool } from "./pool.js";

export interface ServeOptions {
  readonly host: string;
  readonly port: number;
  readonly workers: number;
  readonly maxBodyBytes: number;
  /** From a request's arrival to the end of its answer. */
  readonly timeoutMs: number;
  /** POST /v1/assign requests served at once; more get 503. */
  readonly maxConcurrent: number;
  /**
   * JSON bodies up to this size are computed on the event loop: for them, handing the work to a
   * thread costs more latency than the work itself (docs/serve.md). 0: always a thread. Arrow
   * bodies always go to a thread: a small compressed one may decode to far more.
   */
  readonly inlineMaxBytes: number;
  readonly logLevel: "debug" | "info" | "warn" | "error" | "silent";
  /** Where the JSON log lines go (default: standard error). */
  readonly logStream?: Writable;
}

export const DEFAULT_SERVE_OPTIONS: ServeOptions = {
  host: "127.0.0.1",
  port: 8421,
  workers: 2,
  maxBodyBytes: 256 << 20,
  timeoutMs: 60_000,
  maxConcurrent: 64,
  inlineMaxBytes: 16 << 10,
  logLevel: "info",
};

const JSON_TYPE = "application/json";
const NDJSON_TYPE = "application/x-ndjson";
const ARROW_TYPE = "application/vnd.apache.arrow.stream";

/** Seconds a client is told to wait after a 503. */
const RETRY_AFTER_S = 1;

/** Answer bytes buffered for a client that is not reading yet, before the NDJSON stream stops reading input (see docs/serve.md). */
const NDJSON_OUT_BUFFER = 16 << 20;

/** What one request did, for its metrics line and log line. */
interface RequestInfo {
  readonly start: bigint;
  route: string;
  method: string;
  rollouts: number;
  tokens: number;
  /** Set when the service cut a streamed answer short itself (the status line had already said 200). */
  failedStatus?: number;
}

export interface RunningServer {
  /** http://host:port */
  readonly url: string;
  readonly app: FastifyInstance;
  readonly pool: WorkerPool;
  readonly metrics: ServiceMetrics;
  /** Stops accepting, finishes in-flight requests, stops the workers. */
  close(): Promise<void>;
}

function sendError(reply: FastifyReply, e: RequestError): FastifyReply {
  if (e.status === 503) reply.header("retry-after", String(RETRY_AFTER_S));
  return reply.code(e.status).type(JSON_TYPE).send(errorJson(e));
}

/** fastify's own errors (body limit, media type, ...) in the service's error shape. */
function frameworkError(err: { statusCode?: number; code?: string; message: string }): RequestError {
  switch (err.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new RequestError(413, "body", null, err.message);
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new RequestError(415, "content-type", null, `unsupported Content-Type: use ${JSON_TYPE}, ${NDJSON_TYPE} or ${ARROW_TYPE}`);
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return new RequestError(400, "content-length", null, err.message);
  }
  const status = err.statusCode ?? 500;
  return status >= 400 && status < 500 ? new RequestError(status, null, null, err.message) : new RequestError(500, null, null, "internal error (please report)");
}

/**
 * Errors Node raises before a request reaches a route: the time limit while headers or body
 * still arrive (slow clients), oversized headers, unparsable HTTP. Answered in the service's
 * error shape, then the connection is closed.
 */
function clientError(err: NodeJS.ErrnoException, socket: Duplex, timeoutMs: number): void {
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  const timeout = err.code === "ERR_HTTP_REQUEST_TIMEOUT" || err.code === "ERR_HTTP_HEADERS_TIMEOUT";
  const e = timeout
    ? new RequestError(408, null, null, `request not received within ${timeoutMs / 1000} s (--timeout-s)`)
    : err.code === "HPE_HEADER_OVERFLOW"
      ? new RequestError(431, null, null, "request headers too large")
      : new RequestError(400, null, null, `malformed HTTP request (${err.code ?? err.message})`);
  const body = errorJson(e);
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${e.status} ${STATUS_CODES[e.status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}

/** The encoding of a request by its Content-Type (parameters such as charset ignored). */
function encodingOf(contentType: string | undefined): "json" | "ndjson" | "arrow" {
  const type = (contentType ?? "").split(";")[0].trim().toLowerCase();
  return type === NDJSON_TYPE ? "ndjson" : type === ARROW_TYPE ? "arrow" : "json";
}

export async function startServer(options: Partial<ServeOptions> = {}): Promise<RunningServer> {
  const opts: ServeOptions = { ...DEFAULT_SERVE_OPTIONS, ...options };
  const pool = new WorkerPool(opts.workers);
  const metrics = new ServiceMetrics();
  const infos = new WeakMap<IncomingMessage, RequestInfo>();
  let inFlight = 0;
  let ready = false;

  const app = Fastify({
    clientErrorHandler: (err: NodeJS.ErrnoException, socket) => clientError(err, socket, opts.timeoutMs),
    logger: opts.logLevel === "silent" ? false : { level: opts.logLevel, stream: opts.logStream ?? process.stderr },
    // One line per request is written by the onRequest hook below, with the credit method and tokens.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.maxBodyBytes,
    // Node's own clock on the request: a client that sends too slowly (slow loris) gets 408 and is cut off.
    serverFactory: (handler) =>
      createServer(
        {
          requestTimeout: opts.timeoutMs,
          headersTimeout: Math.min(opts.timeoutMs, 60_000),
          connectionsCheckingInterval: Math.max(100, Math.min(1000, opts.timeoutMs / 4)),
        },
        handler,
      ),
  });

  app.removeAllContentTypeParsers();
  for (const type of [JSON_TYPE, ARROW_TYPE]) {
    app.addContentTypeParser(type, { parseAs: "buffer", bodyLimit: opts.maxBodyBytes }, (_req, body, done) => done(null, body));
  }
  // NDJSON is read as it arrives by the handler, which counts its bytes against the limit.
  app.addContentTypeParser(NDJSON_TYPE, (_req, payload, done) => done(null, payload));

  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, req, reply) => {
    const e = err instanceof RequestError ? err : frameworkError(err);
    if (e.status >= 500) req.log.error({ err }, "request failed");
    return sendError(reply, e);
  });
  app.setNotFoundHandler((req, reply) => sendError(reply, new RequestError(404, null, null, `no route ${req.method} ${req.url.split("?")[0]} (routes: POST /v1/assign, GET /v1/methods, /healthz, /readyz, /metrics)`)));

  // One metrics sample and one log line per request, whatever way it ended.
  app.addHook("onRequest", (req, reply, done) => {
    const info: RequestInfo = { start: process.hrtime.bigint(), route: req.routeOptions.url ?? "unmatched", method: "", rollouts: 0, tokens: 0 };
    infos.set(req.raw, info);
    const res = reply.raw;
    res.once("close", () => {
      const seconds = Number(process.hrtime.bigint() - info.start) / 1e9;
      const status = info.failedStatus !== undefined ? String(info.failedStatus) : res.writableFinished ? String(res.statusCode) : "aborted";
      metrics.request(info.route, info.method, status, seconds);
      req.log.info({ route: info.route, http: req.method, method: info.method || undefined, status, ms: Math.round(seconds * 1e4) / 10, rollouts: info.rollouts || undefined, tokens: info.tokens || undefined }, "request");
    });
    done();
  });

  // Concurrency limit, checked before the body is read: an over-limit request costs nothing.
  const admit = (req: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    if (inFlight >= opts.maxConcurrent) {
      reply.header("connection", "close");
      sendError(reply, new RequestError(503, null, null, `over the limit of ${opts.maxConcurrent} concurrent requests (--max-concurrent); retry after ${RETRY_AFTER_S} s`));
      return;
    }
    inFlight++;
    reply.raw.once("close", () => inFlight--);
    done();
  };

  const preAdmit = (req: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    // An NDJSON body announced over the limit is refused before a byte is read.
    if (encodingOf(req.headers["content-type"]) === "ndjson" && Number(req.headers["content-length"] ?? 0) > opts.maxBodyBytes) {
      reply.header("connection", "close");
      sendError(reply, bodyTooLarge(opts.maxBodyBytes));
      return;
    }
    admit(req, reply, done);
  };

  app.post("/v1/assign", { onRequest: preAdmit }, async (req, reply) => {
    const info = infos.get(req.raw) as RequestInfo;
    // Aborted when the request's time is up or the client leaves: stops its worker job.
    const abort = new AbortController();
    let timedOut = false;
    const elapsedMs = Number(process.hrtime.bigint() - info.start) / 1e6;
    const timer = setTimeout(
      () => {
        timedOut = true;
        abort.abort(new RequestError(408, null, null, `request took longer than ${opts.timeoutMs / 1000} s (--timeout-s)`));
      },
      Math.max(0, opts.timeoutMs - elapsedMs),
    );
    reply.raw.once("close", () => {
      clearTimeout(timer);
      if (!reply.raw.writableFinished) abort.abort(new Error("client closed the connection"));
    });
    const encoding = encodingOf(req.headers["content-type"]);
    try {
      if (encoding === "ndjson") return await serveNdjson(req, reply, info, abort.signal);
      let method: string | undefined;
      let config: unknown;
      if (encoding === "arrow") {
        const q = req.query as Record<string, string | undefined>;
        ({ method, config } = checkMethodAndConfig(q.method, q.config === undefined ? undefined : parseJson(q.config, "config", null)));
        info.method = method;
      }
      // No Content-Type and no body: fastify hands over nothing at all.
      if (!Buffer.isBuffer(req.body)) throw new RequestError(400, "body", null, `empty request: send rollouts as ${JSON_TYPE}, ${NDJSON_TYPE} or ${ARROW_TYPE}`);
      reply.type(encoding === "arrow" ? ARROW_TYPE : JSON_TYPE);
      const served = (r: { method: string; rollouts: number; tokens: number }): void => {
        info.method = r.method;
        info.rollouts = r.rollouts;
        info.tokens = r.tokens;
        metrics.processed(r.method, r.rollouts, r.tokens);
      };
      if (encoding === "json" && req.body.byteLength <= opts.inlineMaxBytes) {
        const small = runSmallJsonJob(req.body);
        served(small);
        return reply.send(small.answer);
      }
      const body = ownBuffer(req.body);
      const result = await pool.run({ kind: "encoded", encoding, body, method, config, maxDecodedBytes: opts.maxBodyBytes }, [body.buffer as ArrayBuffer], abort.signal);
      if (result.kind !== "encoded") throw new Error("worker answered an encoded job with a packed result");
      served(result);
      if (result.body.length === 1) return reply.send(Buffer.from(result.body[0].buffer, result.body[0].byteOffset, result.body[0].byteLength));
      // Tens of megabytes of JSON: sent chunk by chunk, as the worker wrote them, not joined first.
      let length = 0;
      for (const c of result.body) length += c.byteLength;
      return reply.header("content-length", String(length)).send(Readable.from(result.body, { objectMode: false }));
    } catch (e) {
      if (e instanceof CancelledError) {
        if (timedOut) return sendError(reply.header("connection", "close"), e.reason as RequestError);
        return reply; // the client is gone: nobody to answer
      }
      const re = toRequestError(e);
      if (re.status >= 500) req.log.error({ err: e }, "assign failed");
      return sendError(reply, re);
    } finally {
      clearTimeout(timer);
    }
  });

  /**
   * Streams the NDJSON answer. An error before the first line is an ordinary error answer; after
   * it, the stream gets a last line `{"error": {...}}` and is cut off without the chunked
   * terminator, so no HTTP client can mistake it for a complete answer.
   */
  async function serveNdjson(req: FastifyRequest, reply: FastifyReply, info: RequestInfo, signal: AbortSignal): Promise<FastifyReply> {
    const res: ServerResponse = reply.raw;
    const answer = ndjsonAnswer(bodyLines(req.body as AsyncIterable<Buffer>, opts.maxBodyBytes), {
      pool,
      signal,
      onMethod: (m) => (info.method = m),
      onProcessed: (rollouts, tokens) => {
        info.rollouts += rollouts;
        info.tokens += tokens;
        metrics.processed(info.method, rollouts, tokens);
      },
    });
    const failed = (e: unknown): RequestError => (e instanceof CancelledError ? (e.reason instanceof RequestError ? e.reason : new RequestError(499, null, null, "client closed the connection")) : toRequestError(e));
    let first: IteratorResult<Uint8Array>;
    try {
      first = await answer.next();
    } catch (e) {
      const re = failed(e);
      if (re.status >= 500) req.log.error({ err: e }, "assign failed");
      // The rest of the body is not wanted: close the connection rather than read it.
      reply.header("connection", "close");
      return sendError(reply, re);
    }
    reply.hijack();
    res.writeHead(200, { "content-type": NDJSON_TYPE });
    const write = async (chunk: Uint8Array): Promise<void> => {
      // Buffer a bounded amount for a client that sends everything before reading; beyond it, wait.
      if (!res.write(chunk) && res.writableLength > NDJSON_OUT_BUFFER) {
        await new Promise<void>((resolve) => {
          const go = (): void => {
            res.off("drain", go);
            res.off("close", go);
            resolve();
          };
          res.on("drain", go);
          res.on("close", go);
        });
      }
      if (res.destroyed) throw new CancelledError("client closed the connection");
    };
    try {
      if (!first.done) await write(first.value);
      for (let next = await answer.next(); !next.done; next = await answer.next()) await write(next.value);
      res.end();
    } catch (e) {
      const re = failed(e);
      if (re.status !== 499) info.failedStatus = re.status;
      if (re.status >= 500) req.log.error({ err: e }, "assign failed mid-stream");
      // The status line said 200 already: the error line carries the status the request ended with.
      if (!res.destroyed) res.write(JSON.stringify({ error: { ...re.wire(), status: re.status } }) + "\n", () => res.destroy());
      await answer.return(undefined);
    }
    return reply;
  }

  const methodsText = JSON.stringify(methodsJson(), null, 2) + "\n";
  app.get("/v1/methods", (_req, reply) => reply.type(JSON_TYPE).send(methodsText));
  app.get("/healthz", (_req, reply) => reply.type(JSON_TYPE).send('{"status":"ok"}'));
  app.get("/readyz", (_req, reply) => (ready ? reply.type(JSON_TYPE).send('{"ready":true}') : reply.code(503).type(JSON_TYPE).send('{"ready":false}')));
  app.get("/metrics", (_req, reply) =>
    reply.type("text/plain; version=0.0.4; charset=utf-8").send(
      metrics.render({ inFlight, workers: pool.size, workersBusy: pool.busy, queued: pool.queued, workersReplaced: pool.replaced }),
    ),
  );
  // A known path with the wrong verb is a 405 naming the right one, not a 404.
  const allowed: Record<string, string> = { "/v1/assign": "POST", "/v1/methods": "GET, HEAD", "/healthz": "GET, HEAD", "/readyz": "GET, HEAD", "/metrics": "GET, HEAD" };
  for (const [url, allow] of Object.entries(allowed)) {
    const others = (["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] as const).filter((m) => !allow.includes(m));
    app.route({ method: [...others], url, handler: (req, reply) => sendError(reply.header("allow", allow), new RequestError(405, null, null, `${req.method} is not allowed on ${url} (allowed: ${allow})`)) });
  }

  await pool.ready();
  await app.listen({ host: opts.host, port: opts.port });
  ready = true;
  const addr = app.server.address() as AddressInfo;
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  let closing: Promise<void> | null = null;
  return {
    url: `http://${host}:${addr.port}`,
    app,
    pool,
    metrics,
    close: () => {
      closing ??= (async () => {
        ready = false;
        await app.close();
        await pool.close();
      })();
      return closing;
    },
  };
}
