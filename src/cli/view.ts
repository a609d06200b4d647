/** `creditflow view`: the web viewer of token credit, prefix trees, runs and CreditBench results. */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { ConfigError } from "../core/errors.js";
import { loadViewFile } from "../view/load.js";
import { checkSiteBuilt, dataScript } from "../view/site.js";
import { startViewServer } from "../view/server.js";
import { exportSite } from "../view/export.js";
import { taskVocab, tokenizerVocab } from "../view/vocab.js";
import type { ViewData, ViewFile } from "../view/types.js";
import { commandHelp, defineCommand, intFlag, parseCommand, UsageError } from "./args.js";

export const VIEW_COMMAND = defineCommand({
  name: "view",
  usage: "[FILES...] [options]",
  description: `Starts a local web page showing per-token credit: rollouts coloured by advantage x weight
under any registered method (computed in the browser, options from the method's schema), advantage
files, the group's prefix tree, learning curves from metrics.jsonl and CreditBench results.json.
Each FILE is classified by its content: Parquet (PAR1) or JSON lines whose first line has 'tokens'
(rollouts), 'advantages' (an assign output) or 'step' (trainer metrics), or one JSON object with
format "creditbench-results". Every file is validated before the server starts.`,
  positionals: true,
  flags: {
    port: { type: "string", value: "P", doc: "port to listen on (default 5178; 0 = any free port)" },
    host: { type: "string", value: "H", doc: "address to listen on (default 127.0.0.1)" },
    export: { type: "string", value: "DIR", doc: "write a static copy (page + data) that opens from disk, instead of serving" },
    vocab: { type: "string", value: "TASK", doc: "show token texts through a task's vocabulary (addition, countdown, ...)" },
    tokenizer: { type: "string", value: "FILE", doc: "show token texts through a tokenizer file (tokenizer.json,\n{token: id} JSON, a JSON array or one token per line)" },
    help: { type: "boolean", short: "h", doc: "this help" },
  },
  footer: `The page is printed as a URL; no browser is opened. Ctrl-C stops the server.

Examples:
  creditflow view examples/tree.jsonl --vocab addition
  creditflow view runs/a/metrics.jsonl runs/b/metrics.jsonl runs/creditbench/results.json
  creditflow view rollouts.parquet adv.jsonl --export site/   # then open site/index.html`,
});

export const VIEW_HELP = commandHelp(VIEW_COMMAND);

export async function runView(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(VIEW_COMMAND, argv);
  if (values.help) {
    process.stdout.write(VIEW_HELP);
    return 0;
  }
  if (values.vocab !== undefined && values.tokenizer !== undefined) throw new UsageError("view: give --vocab or --tokenizer, not both");
  const port = values.port === undefined ? 5178 : intFlag("port", values.port, 0);
  if (port > 65535) throw new UsageError(`--port needs an integer <= 65535, got ${port}`);
  const host = values.host ?? "127.0.0.1";
  checkSiteBuilt();
  const vocab = values.vocab !== undefined ? taskVocab(values.vocab) : values.tokenizer !== undefined ? tokenizerVocab(values.tokenizer) : null;
  const files: ViewFile[] = [];
  for (const f of positionals) files.push(await loadViewFile(f));
  const data: ViewData = { version: 1, files, vocab };
  const js = dataScript(data);
  const summary = files.map((f) => `${f.name} (${f.kind})`).join(", ") || "no files";
  if (values.export !== undefined) {
    exportSite(values.export, js);
    process.stdout.write(`creditflow view: wrote ${pathToFileURL(resolve(values.export, "index.html")).href} (${summary})\n`);
    return 0;
  }
  let server;
  try {
    server = await startViewServer(js, port, host);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ConfigError(`view: cannot listen on ${host}:${port} (${err.code ?? err.message})`);
  }
  process.stdout.write(`creditflow view: ${server.url} (${summary}); Ctrl-C to stop\n`);
  await new Promise<void>((done) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      server.close().then(done, done);
      // Keep-alive connections from an open tab would hold close() open.
      server.server.closeAllConnections();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  return 0;
}
