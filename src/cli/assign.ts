/** `creditflow assign`: rollouts in, per-token advantages out (rollouts.md section 3). */
import { getMethod, knownSignals, runMethod } from "../core/registry.js";
import { resolveOptions } from "../core/schema.js";
import type { ValidateOptions } from "../core/rows.js";
import "../methods/index.js";
import { DATA_FORMATS, formatOfPath, readRollouts, writeAdvantages, type DataFormat } from "../io/rollouts.js";
import { advantagesJsonl } from "../io/jsonl.js";
import { groupsOfJsonl, NotContiguousError } from "../io/stream.js";
import { atomicFileSink, checkOutputPath, isStdio } from "../io/files.js";
import { choiceFlag, defineCommand, commandHelp, parseCommand, parseConfigArg, UsageError } from "./args.js";

export const ASSIGN_COMMAND = defineCommand({
  name: "assign",
  usage: "--method NAME [--config JSON_OR_FILE] [--in FILE|-] [--out FILE|-] [--format jsonl|parquet|arrow]",
  description: `Turns rollouts into per-token advantages with any registered method.
Reads stdin and writes stdout by default. A path ending in .parquet is read/written as Parquet,
one ending in .arrow, .arrows or .feather as Arrow IPC, anything else as JSONL; standard input
in Parquet or Arrow is recognised by its first bytes.`,
  flags: {
    method: { type: "string", value: "NAME", doc: "credit-assignment method (see 'creditflow methods')" },
    config: { type: "string", value: "VALUE", doc: "method options as inline JSON or a path to a JSON file" },
    in: { type: "string", value: "FILE", doc: "rollout file (JSONL or .parquet); '-' for stdin (default)" },
    out: { type: "string", value: "FILE", doc: `advantage file (JSONL or .parquet); '-' for stdout (default).
Written atomically: nothing appears unless the whole run succeeds.
With a JSONL --in and --out and a group-local method (see 'creditflow
methods'), assign streams one group at a time: memory is bounded by the
largest group when the rows of each group are adjacent.` },
    format: { type: "string", value: "FMT", doc: `format of the output: jsonl, parquet or arrow (default: by --out's
extension; JSONL on stdout). Arrow is the IPC file format in a file,
the IPC stream format on stdout.` },
    help: { type: "boolean", short: "h", doc: "this help" },
  },
  footer: `Example:
  creditflow assign --method grpo --config '{"eps":1e-6}' --in examples/plain.jsonl --out adv.jsonl
  cat rollouts.jsonl | creditflow assign --method tempo > advantages.jsonl

Exit status: 0 success, 2 invalid input or options (one line on stderr naming file, line and field).`,
});

export const ASSIGN_HELP = commandHelp(ASSIGN_COMMAND);

export async function runAssign(argv: string[]): Promise<number> {
  const { values } = parseCommand(ASSIGN_COMMAND, argv);
  if (values.help) {
    process.stdout.write(ASSIGN_HELP);
    return 0;
  }
  if (!values.method) throw new UsageError("assign: --method is required (see 'creditflow methods')");
  const outFormat = values.format === undefined ? formatOfPath(values.out) : choiceFlag("format", values.format, DATA_FORMATS);
  const config = parseConfigArg(values.config);
  const spec = getMethod(values.method);
  resolveOptions(spec.name, spec.options, config); // option errors before any input is read
  checkOutputPath(values.out, [values.in]);
  const validate = { knownSignals: knownSignals() };
  if (canStream(spec.locality, values.in, values.out, outFormat) && (await streamAssign(values.method, config, values.in as string, values.out as string, validate))) return 0;
  const batch = await readRollouts(values.in, validate);
  const out = runMethod(values.method, batch, config);
  await writeAdvantages(values.out, batch, out, outFormat);
  return 0;
}

/**
 * Group-local methods stream from a JSONL file to a JSONL file, one group in memory at a time.
 * Standard input and output keep the whole-batch path: a late input error must not follow
 * output already written to a terminal or pipe.
 */
function canStream(locality: "group" | "batch" | undefined, input: string | undefined, output: string | undefined, outFormat: DataFormat): boolean {
  return locality === "group" && !isStdio(input) && !isStdio(output) && formatOfPath(input) === "jsonl" && outFormat === "jsonl";
}

/**
 * Runs the method group by group into an atomic output. Returns false, having written nothing,
 * when a group's rows turn out not to be adjacent: the caller then reads the whole batch.
 */
async function streamAssign(method: string, config: unknown, input: string, output: string, validate: ValidateOptions): Promise<boolean> {
  const sink = atomicFileSink(output);
  try {
    for await (const group of groupsOfJsonl(input, validate)) {
      const out = runMethod(method, group, config);
      for (const chunk of advantagesJsonl(group, out)) await sink.write(chunk);
    }
    await sink.commit();
    return true;
  } catch (e) {
    sink.abort();
    if (e instanceof NotContiguousError) return false;
    throw e;
  }
}
