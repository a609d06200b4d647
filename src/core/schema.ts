/**
 * A small schema language for method options: each option has a type, a default and a doc line.
 * It validates `--config` (unknown key or wrong type is an error), fills defaults, and renders
 * the tables of `creditflow methods`. No runtime dependency, so the core stays browser-usable.
 */
import { ConfigError } from "./errors.js";

interface OptionBase {
  /** One line for `creditflow methods`. */
  readonly doc: string;
}
export interface NumberOption extends OptionBase {
  readonly type: "number";
  readonly default: number | null;
  readonly min?: number;
  readonly max?: number;
  /** min is exclusive (x > min) rather than inclusive. */
  readonly exclusiveMin?: boolean;
  readonly integer?: boolean;
  /** null is accepted (and means "off"; the doc says what it disables). */
  readonly nullable?: boolean;
}
export interface BooleanOption extends OptionBase {
  readonly type: "boolean";
  readonly default: boolean;
}
export interface EnumOption extends OptionBase {
  readonly type: "enum";
  readonly values: readonly string[];
  readonly default: string;
}
/** Anything JSON with a custom check; `check` returns an error text or null. */
export interface JsonOption extends OptionBase {
  readonly type: "json";
  /** Human type text for the methods table, e.g. "number | {init, final}". */
  readonly typeText: string;
  readonly default: unknown;
  readonly check: (v: unknown) => string | null;
}
export type OptionSpec = NumberOption | BooleanOption | EnumOption | JsonOption;

/** The options schema of a method whose config type is C. */
export type OptionsSchema<C> = { readonly [K in keyof C]-?: OptionSpec };

export function typeText(spec: OptionSpec): string {
  switch (spec.type) {
    case "number": {
      let t = spec.integer ? "integer" : "number";
      const lo = spec.min === undefined ? "" : `${spec.exclusiveMin ? ">" : ">="} ${spec.min}`;
      const hi = spec.max === undefined ? "" : `<= ${spec.max}`;
      const range = [lo, hi].filter(Boolean).join(", ");
      if (range) t += ` (${range})`;
      return spec.nullable ? `${t} | null` : t;
    }
    case "boolean":
      return "boolean";
    case "enum":
      return spec.values.map((v) => JSON.stringify(v)).join(" | ");
    case "json":
      return spec.typeText;
  }
}

function checkOption(method: string, key: string, spec: OptionSpec, v: unknown): void {
  const bad: (what: string) => never = (what) => {
    throw new ConfigError(`--config: method '${method}' option '${key}': ${what} (expected ${typeText(spec)})`);
  };
  switch (spec.type) {
    case "number":
      if (v === null) {
        if (!spec.nullable) bad("null is not allowed");
        return;
      }
      if (typeof v !== "number" || !Number.isFinite(v)) bad(`got ${JSON.stringify(v)}`);
      if (spec.integer && !Number.isInteger(v)) bad(`${v} is not an integer`);
      if (spec.min !== undefined && (spec.exclusiveMin ? !(v > spec.min) : !(v >= spec.min))) bad(`${v} is out of range`);
      if (spec.max !== undefined && !(v <= spec.max)) bad(`${v} is out of range`);
      return;
    case "boolean":
      if (typeof v !== "boolean") bad(`got ${JSON.stringify(v)}`);
      return;
    case "enum":
      if (typeof v !== "string" || !spec.values.includes(v)) bad(`got ${JSON.stringify(v)}`);
      return;
    case "json": {
      const err = spec.check(v);
      if (err !== null) bad(err);
      return;
    }
  }
}

/** Validates a raw config object against a schema and fills defaults. */
export function resolveOptions<C>(method: string, schema: OptionsSchema<C>, raw: unknown): C {
  if (raw === undefined || raw === null) raw = {};
  if (typeof raw !== "object" || Array.isArray(raw)) throw new ConfigError(`--config: expected a JSON object for method '${method}'`);
  const given = raw as Record<string, unknown>;
  const keys = Object.keys(schema) as (keyof C & string)[];
  for (const k of Object.keys(given)) {
    if (!(keys as string[]).includes(k)) {
      throw new ConfigError(`--config: method '${method}' has no option '${k}' (options: ${keys.length ? keys.join(", ") : "none"})`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const spec = schema[k];
    if (k in given) {
      checkOption(method, k, spec, given[k]);
      out[k] = given[k];
    } else {
      out[k] = spec.default;
    }
  }
  return out as C;
}
