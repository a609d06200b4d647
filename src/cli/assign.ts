/** `creditflow assign`: rollouts in, per-token advantages out (rollouts.md section 3). */
import { knownSignals, runMethod } from "../core/registry.js";
import "../methods/index.js";
import { readRollouts, writeAdvantages } from "../io/rollouts.js";
import { checkOutputPath } from "../io/files.js";
import { parse, parseConfigArg, UsageError } from "./args.js";

export const ASSIGN_HELP = `Usage: creditflow assign --method NAME [--config JSON_OR_FILE] [--in FILE|-] [--out FILE|-]

Turns rollouts into per-token advantages with any registered method.
Reads stdin and writes stdout by default; a path ending in .parquet is read/written as Parquet.

Options:
  --method NAME     credit-assignment method (see 'creditflow methods')
  --config VALUE    method options as inline JSON or a path to a JSON file
  --in FILE         rollout file (JSONL or .parquet); '-' for stdin (default)
  --out FILE        advantage file (JSONL or .parquet); '-' for stdout (default).
                    Written atomically: nothing appears unless the whole run succeeds.
  -h, --help        this help

Example:
  creditflow assign --method grpo --config '{"eps":1e-6}' --in examples/plain.jsonl --out adv.jsonl
  cat rollouts.jsonl | creditflow assign --method tempo > advantages.jsonl

Exit status: 0 success, 2 invalid input or options (one line on stderr naming file, line and field).`;

export async function runAssign(argv: string[]): Promise<number> {
  const { values } = parse("assign", argv, {
    method: { type: "string" },
    config: { type: "string" },
    in: { type: "string" },
    out: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    process.stdout.write(ASSIGN_HELP + "\n");
    return 0;
  }
  if (!values.method) throw new UsageError("assign: --method is required (see 'creditflow methods')");
  const config = parseConfigArg(values.config);
  checkOutputPath(values.out, [values.in]);
  const batch = await readRollouts(values.in, { knownSignals: knownSignals() });
  const out = runMethod(values.method, batch, config);
  await writeAdvantages(values.out, batch, out);
  return 0;
}
