/** `creditflow convert`: rollouts between JSONL and Parquet (validated on the way). */
import { knownSignals } from "../core/registry.js";
import "../methods/index.js";
import { readRollouts, writeRollouts } from "../io/rollouts.js";
import { checkOutputPath } from "../io/files.js";
import { commandHelp, defineCommand, parseCommand, UsageError } from "./args.js";

export const CONVERT_COMMAND = defineCommand({
  name: "convert",
  usage: "--in FILE --out FILE",
  description: `Validates a rollout file and writes it in the format its --out extension names
(.parquet = Parquet, otherwise JSONL).`,
  flags: {
    in: { type: "string", value: "FILE", doc: "rollout file (JSONL or .parquet); '-' or absent for stdin" },
    out: { type: "string", value: "FILE", doc: "where to write (required); written atomically, never over the input" },
    help: { type: "boolean", short: "h", doc: "this help" },
  },
  footer: `Example:
  creditflow convert --in examples/plain.jsonl --out plain.parquet`,
});

export const CONVERT_HELP = commandHelp(CONVERT_COMMAND);

export async function runConvert(argv: string[]): Promise<number> {
  const { values } = parseCommand(CONVERT_COMMAND, argv);
  if (values.help) {
    process.stdout.write(CONVERT_HELP);
    return 0;
  }
  if (!values.out) throw new UsageError("convert: --out is required");
  checkOutputPath(values.out, [values.in]);
  const batch = await readRollouts(values.in, { knownSignals: knownSignals() });
  await writeRollouts(values.out, batch);
  return 0;
}
