/**
 * The `creditflow` process boundary: dispatches a command and is the only place that turns
 * errors into exit codes. User errors (bad input, bad options, bad usage) print one line
 * `creditflow: ...` and exit 2; anything else is a bug: its stack, exit 1.
 */
import { exitCodeOf } from "./args.js";

const HELP = `creditflow: fine-grained credit assignment for RL on language models

Usage: creditflow <command> [options]

Commands:
  assign    rollouts in, per-token advantages out, with any method
  methods   list every method with its options (--json for JSON)
  demo      assign credit to a bundled example with a few methods and print a summary table
  convert   convert rollouts between JSONL and Parquet
  train     train a small transformer policy with RL on a verifiable task
  sft       supervised warm start on task demonstrations
  bench     CreditBench: each method's credit against the true advantage, and its learning efficiency
  rollout   sample rollouts (groups or trees) from the built-in policy, a GGUF model or a server
  annotate  add the signals a method needs from an LLM judge (capo) or sandboxed generated code (lare)
  prefer    preference training (DPO, IPO, TDPO, TGDPO, cDPO, T-REG, AlignDistil) of the small policy on verifier-built pairs
  view      a local web page of token credit, prefix trees, runs and CreditBench results
  serve     the credit-assignment HTTP service (JSON, NDJSON, Arrow), methods in worker threads

'creditflow <command> --help' for a command's options.`;

type Command = (argv: string[]) => Promise<number>;

// Commands load lazily: `assign` never pays for loading the trainer's tfjs.
const COMMANDS: Record<string, () => Promise<Command>> = {
  assign: async () => (await import("./assign.js")).runAssign,
  methods: async () => (await import("./methods.js")).runMethods,
  demo: async () => (await import("./demo.js")).runDemo,
  convert: async () => (await import("./convert.js")).runConvert,
  train: async () => (await import("./train.js")).runTrainCommand,
  sft: async () => (await import("./sft.js")).runSftCommand,
  bench: async () => (await import("./bench.js")).runBenchCommand,
  annotate: async () => (await import("./annotate.js")).runAnnotate,
  prefer: async () => (await import("./prefer.js")).runPreferCommand,
  view: async () => (await import("./view.js")).runView,
  rollout: async () => (await import("./rollout.js")).runRollout,
  serve: async () => (await import("./serve.js")).runServe,
};

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === "--help" || cmd === "-h" || cmd === "help") {
    process.stdout.write(HELP + "\n");
    return cmd === undefined ? 2 : 0;
  }
  if (cmd === "--version" || cmd === "-v") {
    process.stdout.write("creditflow 0.1.0\n");
    return 0;
  }
  const load = COMMANDS[cmd];
  if (!load) {
    process.stderr.write(`creditflow: unknown command '${cmd}' (commands: ${Object.keys(COMMANDS).join(", ")}; see 'creditflow --help')\n`);
    return 2;
  }
  return exitCodeOf(async () => (await load())(rest));
}

// A closed pipe (`creditflow assign ... | head`) is not an error.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(0);
  throw e;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`creditflow: internal error (please report): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
