/**
 * docs/training.md, generated from the trainer's configuration schema and DEFAULT_TRAIN:
 * `npm run docs:training` writes it, and a test fails when the committed file is out of date.
 */
import type * as v from "valibot";
import { DEFAULT_TRAIN } from "./config.js";
import { TRAIN_SCHEMA } from "./schema.js";
import { EPISODES_SECTION } from "./training-doc-episodes.js";
import { DPO_SECTION } from "./training-doc-dpo.js";

type Node = v.GenericSchema & { pipe?: readonly { type: string; requirement?: unknown; description?: string }[]; entries?: Record<string, Node>; options?: readonly string[]; wrapped?: Node; item?: Node };

function description(s: Node): string {
  return s.pipe?.find((a) => a.type === "description")?.description ?? "";
}

function requirement(s: Node, type: string): number | undefined {
  return s.pipe?.find((a) => a.type === type)?.requirement as number | undefined;
}

function typeText(s: Node): string {
  const base = s.pipe ? (s.pipe[0] as unknown as Node) : s;
  switch (base.type) {
    case "number": {
      const int = s.pipe?.some((a) => a.type === "integer");
      const lo = requirement(s, "min_value");
      const hi = requirement(s, "max_value");
      const range = hi === undefined || hi >= Number.MAX_SAFE_INTEGER ? (lo === undefined ? "" : ` >= ${lo}`) : ` in [${lo}, ${hi}]`;
      return `${int ? "integer" : "number"}${range}`;
    }
    case "picklist":
      return (base.options ?? []).map((o) => `"${o}"`).join(" \\| ");
    case "nullable":
      return `${typeText(base.wrapped as Node)} or null`;
    case "array":
      return `array of ${typeText(base.item as Node)}`;
    case "record":
      return "object";
    default:
      return base.type;
  }
}

function valueAt(path: readonly string[]): unknown {
  let x: unknown = DEFAULT_TRAIN;
  for (const k of path) x = (x as Record<string, unknown>)[k];
  return x;
}

function rows(entries: Record<string, Node>, path: string[]): string[] {
  const out: string[] = [];
  for (const [k, s] of Object.entries(entries)) {
    const p = [...path, k];
    out.push(`| \`${p.join(".")}\` | ${typeText(s)} | \`${JSON.stringify(valueAt(p))}\` | ${description(s).replace(/\|/g, "\\|")} |`);
  }
  return out;
}

export function renderTrainingDoc(): string {
  const top = TRAIN_SCHEMA.entries as unknown as Record<string, Node>;
  const lines = [
    "# Training configuration",
    "",
    "Every key of the trainer's configuration (`creditflow train --config`, `bench --train-config`, and",
    "`config.json` of every run), with its type, default and meaning. Generated from the schema in",
    "`src/train/schema.ts` by `npm run docs:training`; a test fails when this file is out of date.",
    "An unknown key, a wrong type or an out-of-range value is refused with its key path, for example",
    "`creditflow: config.loss.clipLow: unknown key`.",
    "",
    "## Run",
    "",
    "| key | type | default | meaning |",
    "|---|---|---|---|",
  ];
  const plain: Record<string, Node> = {};
  const sections: [string, Node][] = [];
  for (const [k, s] of Object.entries(top)) {
    const base = s.pipe ? (s.pipe[0] as unknown as Node) : s;
    if (base.type === "strict_object") sections.push([k, base]);
    else plain[k] = s;
  }
  lines.push(...rows(plain, []));
  for (const [k, base] of sections) {
    lines.push("", `## \`${k}\`: ${description(top[k])}`, "", "| key | type | default | meaning |", "|---|---|---|---|");
    lines.push(...rows(base.entries as Record<string, Node>, [k]));
  }
  lines.push("", ...EPISODES_SECTION, "", ...DPO_SECTION);
  return lines.join("\n") + "\n";
}
