/**
 * Argument parsing shared by the commands: node's parseArgs in strict mode, with its errors
 * turned into usage errors (exit 2) that say which command's --help to read.
 */
import { parseArgs } from "node:util";
import { readFileSync } from "node:fs";
import { ConfigError, isUserError } from "../core/errors.js";

export class UsageError extends ConfigError {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export type OptionTable = Record<string, { type: "string" | "boolean"; short?: string }>;
export type OptionValues<S extends OptionTable> = { [K in keyof S]?: S[K]["type"] extends "string" ? string : boolean };

export function parse<S extends OptionTable>(command: string, argv: string[], options: S): { values: OptionValues<S> } {
  try {
    const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
    return { values: values as OptionValues<S> };
  } catch (e) {
    throw new UsageError(`${command}: ${(e as Error).message.replace(/\. To specify.*$/s, "")} (see 'creditflow ${command} --help')`);
  }
}

/** --config takes inline JSON or a path to a JSON file. */
export function parseConfigArg(value: string | undefined): unknown {
  if (value === undefined) return {};
  const trimmed = value.trim();
  let text = trimmed;
  let where = "--config";
  if (!trimmed.startsWith("{")) {
    try {
      text = readFileSync(value, "utf8");
      where = `--config ${value}`;
    } catch {
      throw new ConfigError(`--config: '${value}' is neither inline JSON nor a readable file`);
    }
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${where}: invalid JSON (${(e as Error).message})`);
  }
}

/**
 * The one place user errors become an exit code: bad input, options or usage print one line
 * `creditflow: ...` on stderr and give 2; anything else is a bug and propagates.
 */
export async function exitCodeOf(run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (e) {
    if (isUserError(e)) {
      process.stderr.write(`creditflow: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}
