/** `creditflow methods`: every registered method with its options, as a table or JSON. */
import { listMethods, type MethodSpec } from "../core/registry.js";
import { typeText, type OptionSpec } from "../core/schema.js";
import "../methods/index.js";
import { PREFERENCE_LOSSES } from "../preference/catalog.js";
import { commandHelp, defineCommand, parseCommand } from "./args.js";

export const METHODS_COMMAND = defineCommand({
  name: "methods",
  usage: "[--json] [NAME]",
  positionals: true,
  description: `Lists every credit-assignment method (or the one NAME): grounding, one-line summary, paper,
required inputs, signals it reads, whether assign can stream it group by group, and its options
with types and defaults.`,
  flags: {
    json: { type: "boolean", doc: "the same as JSON" },
    help: { type: "boolean", short: "h", doc: "this help" },
  },
});

export const METHODS_HELP = commandHelp(METHODS_COMMAND);

function label(spec: MethodSpec): string {
  switch (spec.status) {
    case "standard":
      return "verl";
    case "reference-code":
      return "ref-code";
    case "paper":
      return "paper";
    case "secondary":
      return "SECONDARY";
    case "not-found":
      return "NOT FOUND";
  }
}

function optionJson(spec: OptionSpec): Record<string, unknown> {
  const o: Record<string, unknown> = { type: typeText(spec), default: spec.default, doc: spec.doc };
  if (spec.type === "enum") o.values = spec.values;
  return o;
}

export function methodsJson(): unknown[] {
  return listMethods().map((m) => ({
    name: m.name,
    summary: m.summary,
    paper: m.paper,
    status: m.status,
    requires: m.requires ?? [],
    signals: m.signals ?? [],
    requiredSignals: m.requiredSignals ?? [],
    example: m.example ?? null,
    locality: m.locality ?? "batch",
    options: Object.fromEntries(Object.entries(m.options as Record<string, OptionSpec>).map(([k, s]) => [k, optionJson(s)])),
  }));
}

export function methodsTable(only?: string): string {
  const lines: string[] = [];
  const specs = listMethods().filter((m) => !only || m.name === only);
  const nameW = Math.max(...specs.map((m) => m.name.length), 6);
  for (const m of specs) {
    lines.push(`${m.name.padEnd(nameW)}  [${label(m)}]  ${m.summary}`);
    lines.push(`${"".padEnd(nameW)}  paper: ${m.paper}`);
    const required = new Set(m.requiredSignals ?? []);
    const needs = [...(m.requires ?? []), ...(m.signals ?? []).map((s) => `signals.${s}${required.has(s) ? "" : " (optional)"}`)];
    if (needs.length) lines.push(`${"".padEnd(nameW)}  inputs: ${needs.join(", ")}`);
    lines.push(`${"".padEnd(nameW)}  ${m.locality === "group" ? "group-local: assign streams it one group at a time" : "needs the whole batch"}`);
    const opts = Object.entries(m.options as Record<string, OptionSpec>);
    if (opts.length === 0) lines.push(`${"".padEnd(nameW)}  options: none`);
    for (const [k, s] of opts) {
      lines.push(`${"".padEnd(nameW)}    ${k} = ${JSON.stringify(s.default)}  (${typeText(s)})  ${s.doc}`);
    }
    lines.push("");
  }
  const losses = PREFERENCE_LOSSES.filter((l) => !only || l.name.split(", ").includes(only));
  if (losses.length > 0) lines.push("Preference and distillation losses (src/preference; docs/preference.md):", "");
  for (const l of losses) {
    const status = label({ status: l.status } as MethodSpec);
    lines.push(`${l.name}  [${status}]  ${l.summary}`, `  paper: ${l.paper}`, `  inputs: ${l.inputs}`, `  runs: ${l.runs}`, "");
  }
  return lines.join("\n");
}

export async function runMethods(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(METHODS_COMMAND, argv);
  const only = positionals[0];
  if (values.help) {
    process.stdout.write(METHODS_HELP);
    return 0;
  }
  if (only && !listMethods().some((m) => m.name === only) && !PREFERENCE_LOSSES.some((l) => l.name.split(", ").includes(only))) {
    process.stderr.write(`creditflow: unknown method '${only}'. Methods: ${listMethods().map((m) => m.name).join(", ")}\n`);
    return 2;
  }
  process.stdout.write(values.json ? JSON.stringify(methodsJson().filter((m) => !only || (m as { name: string }).name === only), null, 2) + "\n" : methodsTable(only));
  return 0;
}
