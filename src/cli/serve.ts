/** `creditflow serve`: the credit-assignment HTTP service (docs/serve.md). */
import { availableParallelism } from "node:os";
import { DEFAULT_SERVE_OPTIONS, startServer } from "../serve/server.js";
import { choiceFlag, commandHelp, defineCommand, intFlag, numberFlag, parseCommand, UsageError } from "./args.js";

export const SERVE_COMMAND = defineCommand({
  name: "serve",
  description: `Serves credit assignment over HTTP: POST /v1/assign with JSON, NDJSON (streamed both ways)
or Arrow IPC; GET /v1/methods, /healthz, /readyz, /metrics (Prometheus). Methods run in worker
threads. The first line on stdout is {"listening": "http://HOST:PORT"}; logs are JSON lines on
stderr. SIGTERM or SIGINT: stop accepting, finish the requests in flight, exit 0.
The wire format and limits are in docs/serve.md.`,
  flags: {
    host: { type: "string", value: "HOST", doc: `address to listen on (default ${DEFAULT_SERVE_OPTIONS.host})` },
    port: { type: "string", value: "N", doc: `port (default ${DEFAULT_SERVE_OPTIONS.port}; 0 picks a free one)` },
    workers: { type: "string", value: "N", doc: "worker threads running the methods (default: the number of cores)" },
    "max-body-mb": { type: "string", value: "MB", doc: `largest request body, in MiB (default ${DEFAULT_SERVE_OPTIONS.maxBodyBytes / 2 ** 20}); larger: 413` },
    "timeout-s": { type: "string", value: "S", doc: `time limit per request, from arrival to answer (default ${DEFAULT_SERVE_OPTIONS.timeoutMs / 1000}); past it: 408` },
    "max-concurrent": { type: "string", value: "N", doc: `assign requests served at once (default ${DEFAULT_SERVE_OPTIONS.maxConcurrent}); more: 503 + Retry-After` },
    "inline-kb": { type: "string", value: "KB", doc: `JSON bodies up to this size (KiB) are computed on the event loop, larger ones (and Arrow) in a worker thread (default ${DEFAULT_SERVE_OPTIONS.inlineMaxBytes / 1024}; 0: always a thread)` },
    "log-level": { type: "string", value: "L", doc: "debug, info (default: one line per request), warn, error or silent" },
    help: { type: "boolean", short: "h", doc: "this help" },
  },
  footer: `Example:
  creditflow serve --port 0 --workers 2
  curl -s localhost:8421/v1/assign -H 'content-type: application/json' \\
    -d '{"method": "grpo", "rollouts": [{"id": "a", "group": "q", "tokens": [1, 2], "reward": 1}]}'

Exit status: 0 after a clean shutdown, 2 on invalid flags.`,
});

export const SERVE_HELP = commandHelp(SERVE_COMMAND);

const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;

export async function runServe(argv: string[]): Promise<number> {
  const { values } = parseCommand(SERVE_COMMAND, argv);
  if (values.help) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  const d = DEFAULT_SERVE_OPTIONS;
  const port = values.port === undefined ? d.port : intFlag("port", values.port, 0);
  if (port > 65535) throw new UsageError(`--port needs a port number <= 65535, got ${port}`);
  const server = await startServer({
    host: values.host ?? d.host,
    port,
    workers: values.workers === undefined ? availableParallelism() : intFlag("workers", values.workers, 1),
    maxBodyBytes: values["max-body-mb"] === undefined ? d.maxBodyBytes : Math.floor(numberFlag("max-body-mb", values["max-body-mb"], 0) * 2 ** 20),
    timeoutMs: values["timeout-s"] === undefined ? d.timeoutMs : Math.round(numberFlag("timeout-s", values["timeout-s"], 0) * 1000),
    maxConcurrent: values["max-concurrent"] === undefined ? d.maxConcurrent : intFlag("max-concurrent", values["max-concurrent"], 1),
    inlineMaxBytes: values["inline-kb"] === undefined ? d.inlineMaxBytes : intFlag("inline-kb", values["inline-kb"], 0) * 1024,
    logLevel: values["log-level"] === undefined ? d.logLevel : choiceFlag("log-level", values["log-level"], LOG_LEVELS),
  });
  process.stdout.write(JSON.stringify({ listening: server.url }) + "\n");
  server.app.log.info({ url: server.url, workers: server.pool.size }, "listening");
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      server.app.log.info({ signal }, "draining: finishing requests in flight");
      server.close().then(resolve, resolve);
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  server.app.log.info("stopped");
  return 0;
}
