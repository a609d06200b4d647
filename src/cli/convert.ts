/** `creditflow convert`: rollouts between JSONL and Parquet (validated on the way). */
import { knownSignals } from "../core/registry.js";
import "../methods/index.js";
import { readRollouts, writeRollouts } from "../io/rollouts.js";
import { checkOutputPath } from "../io/files.js";
import { parse, UsageError } from "./args.js";

export const CONVERT_HELP = `Usage: creditflow convert --in FILE --out FILE

Validates a rollout file and writes it in the format its --out extension names
(.parquet = Parquet, otherwise JSONL). Example:
  creditflow convert --in examples/plain.jsonl --out plain.parquet`;

export async function runConvert(argv: string[]): Promise<number> {
  const { values } = parse("convert", argv, { in: { type: "string" }, out: { type: "string" }, help: { type: "boolean", short: "h" } });
  if (values.help) {
    process.stdout.write(CONVERT_HELP + "\n");
    return 0;
  }
  if (!values.out) throw new UsageError("convert: --out is required");
  checkOutputPath(values.out, [values.in]);
  const batch = await readRollouts(values.in, { knownSignals: knownSignals() });
  await writeRollouts(values.out, batch);
  return 0;
}
