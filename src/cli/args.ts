/**
 * The one command-line layer: every command declares its flags once (CommandSpec); they parse
 * through node's parseArgs in strict mode, usage errors (exit 2) say which command's --help to
 * read, and --help is generated from the same declaration.
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

/** node's parseArgs message, without its multi-line advice (ours points at --help instead). */
function usageText(e: unknown): string {
  return (e as Error).message.replace(/\.?\s*(Did you forget|To specify).*$/s, "");
}

type OptionTable = Record<string, { type: "string" | "boolean"; short?: string }>;

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

/** One flag of a command: its type, the name of its value in the help, and one line of doc. */
export interface FlagSpec {
  readonly type: "string" | "boolean";
  readonly short?: string;
  /** The value's placeholder in --help (e.g. "N", "FILE"); string flags only. */
  readonly value?: string;
  /** Help text; may run over several lines (continuation lines are indented under it). */
  readonly doc: string;
}

/** A command of the CLI, declared once: flags parse through it and --help is generated from it. */
export interface CommandSpec<F extends Record<string, FlagSpec> = Record<string, FlagSpec>> {
  readonly name: string;
  /** The usage line after "creditflow NAME" (default "[options]"). */
  readonly usage?: string;
  /** Paragraphs between the usage line and the options. */
  readonly description: string;
  readonly flags: F;
  /** Paragraphs after the options (examples, files written, exit status). */
  readonly footer?: string;
  /** Words that are not flags (`methods NAME`). */
  readonly positionals?: boolean;
  /** What runs it, for the usage line (default "creditflow"; "npm run" for the benchmarks). */
  readonly program?: string;
}

export type FlagValues<F extends Record<string, FlagSpec>> = { [K in keyof F]?: F[K]["type"] extends "string" ? string : boolean };

/** The command's --help: usage, description, an aligned option table, footer. */
export function commandHelp(spec: CommandSpec): string {
  const left = (k: string, f: FlagSpec) => `${f.short ? `-${f.short}, ` : ""}--${k}${f.type === "string" ? ` ${f.value ?? "VALUE"}` : ""}`;
  const flags = Object.entries(spec.flags);
  const width = Math.max(...flags.map(([k, f]) => left(k, f).length)) + 2;
  const rows = flags.map(([k, f]) => {
    const [first, ...more] = f.doc.split("\n");
    return [`  ${left(k, f).padEnd(width)}${first}`, ...more.map((l) => `  ${"".padEnd(width)}${l.trim()}`)].join("\n");
  });
  return [`Usage: ${spec.program ?? "creditflow"} ${spec.name} ${spec.usage ?? "[options]"}`, "", spec.description.trim(), "", "Options:", ...rows, ...(spec.footer ? ["", spec.footer.trim()] : [])].join("\n") + "\n";
}

/** Parses argv against a command spec (node's parseArgs, strict); usage errors name the command. */
export function parseCommand<F extends Record<string, FlagSpec>>(spec: CommandSpec<F>, argv: string[]): { values: FlagValues<F>; positionals: string[] } {
  const options: OptionTable = {};
  for (const [k, f] of Object.entries(spec.flags)) options[k] = f.short ? { type: f.type, short: f.short } : { type: f.type };
  try {
    const { values, positionals } = parseArgs({ args: argv, options, strict: true, allowPositionals: spec.positionals ?? false });
    return { values: values as FlagValues<F>, positionals };
  } catch (e) {
    throw new UsageError(`${spec.name}: ${usageText(e)} (see 'creditflow ${spec.name} --help')`);
  }
}

/** An integer flag value >= min, or a usage error naming the flag. */
export function intFlag(flag: string, v: string, min = 0): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isInteger(n) || n < min) throw new UsageError(`--${flag} needs an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

/** A finite number flag value in (lo, hi], or a usage error naming the flag. */
export function numberFlag(flag: string, v: string, lo = -Infinity, hi = Infinity): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n <= lo || n > hi) throw new UsageError(`--${flag} needs a number${lo > -Infinity ? ` > ${lo}` : ""}${hi < Infinity ? ` and <= ${hi}` : ""}, got ${JSON.stringify(v)}`);
  return n;
}

/** One of a fixed set of words, or a usage error listing them. */
export function choiceFlag<T extends string>(flag: string, v: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(v)) throw new UsageError(`--${flag} must be one of ${choices.join(", ")}, got ${JSON.stringify(v)}`);
  return v as T;
}

/** The flag common to the commands that run the tfjs policy. */
export const BACKEND_FLAG = { type: "string", value: "B", doc: "tfjs backend: wasm (default) or cpu" } as const satisfies FlagSpec;
export const BACKENDS = ["wasm", "cpu"] as const;

/** Declares a command, keeping each flag's type for the parsed values. */
export function defineCommand<F extends Record<string, FlagSpec>>(spec: CommandSpec<F>): CommandSpec<F> {
  return spec;
}
