/**
 * `creditflow demo`: assigns credit to a bundled example file with a few methods and prints a
 * short per-rollout table (mean advantage over trainable tokens), to show what the methods do.
 */
import { fileURLToPath } from "node:url";
import { getMethod, knownSignals, runMethod } from "../core/registry.js";
import "../methods/index.js";
import { readRollouts } from "../io/rollouts.js";
import { commandHelp, defineCommand, parseCommand } from "./args.js";

export const DEMO_COMMAND = defineCommand({
  name: "demo",
  description: `Assigns credit to a rollout file (default: the bundled examples/plain.jsonl) with several
methods and prints, per rollout, its reward, length and mean advantage under each method.`,
  flags: {
    in: { type: "string", value: "FILE", doc: "rollout file (default: examples/plain.jsonl)" },
    methods: { type: "string", value: "A,B", doc: "methods to compare (default grpo,rloo,reinforce++,tempo)" },
    help: { type: "boolean", short: "h", doc: "this help" },
  },
});

export const DEMO_HELP = commandHelp(DEMO_COMMAND);

export function exampleFile(name: string): string {
  return fileURLToPath(new URL(`../../../examples/${name}`, import.meta.url));
}

export async function runDemo(argv: string[]): Promise<number> {
  const { values } = parseCommand(DEMO_COMMAND, argv);
  if (values.help) {
    process.stdout.write(DEMO_HELP);
    return 0;
  }
  const path = values.in ?? exampleFile("plain.jsonl");
  const methods = (values.methods ?? "grpo,rloo,reinforce++,tempo").split(",").map((s) => s.trim()).filter(Boolean);
  for (const m of methods) getMethod(m);
  const batch = await readRollouts(path, { knownSignals: knownSignals() });
  const results = methods.map((m) => runMethod(m, batch));
  const header = ["id", "group", "reward", "tokens", ...methods.map((m) => `mean A (${m})`)];
  const rows: string[][] = [];
  for (let i = 0; i < batch.n; i++) {
    const a = batch.offsets[i], b = batch.offsets[i + 1];
    let n = 0;
    for (let k = a; k < b; k++) n += batch.mask[k];
    const cells = [batch.ids[i], batch.groupNames[batch.group[i]], String(batch.reward[i]), `${n}/${b - a}`];
    for (const r of results) {
      let s = 0;
      for (let k = a; k < b; k++) if (batch.mask[k]) s += r.advantages[k];
      cells.push(n ? (s / n).toFixed(4) : "-");
    }
    rows.push(cells);
  }
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const fmt = (cells: string[]) => cells.map((x, c) => (c < 2 ? x.padEnd(widths[c]) : x.padStart(widths[c]))).join("  ");
  process.stdout.write(`creditflow demo: ${batch.n} rollouts in ${batch.groupNames.length} groups from ${path}\n\n`);
  process.stdout.write(fmt(header) + "\n" + widths.map((w) => "-".repeat(w)).join("  ") + "\n");
  for (const r of rows) process.stdout.write(fmt(r) + "\n");
  process.stdout.write(`\n(trainable/total tokens; advantages of every token: creditflow assign --method NAME --in ${path})\n`);
  return 0;
}
