/** The one command-line layer (issue 10, section 4): every command parses through it and its --help is generated from it. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { commandHelp, type CommandSpec } from "../../src/cli/args.js";
import { ANNOTATE_COMMAND } from "../../src/cli/annotate.js";
import { ASSIGN_COMMAND, ASSIGN_HELP } from "../../src/cli/assign.js";
import { BENCH_COMMAND, BENCH_HELP } from "../../src/cli/bench.js";
import { CONVERT_COMMAND, CONVERT_HELP } from "../../src/cli/convert.js";
import { DEMO_COMMAND, DEMO_HELP } from "../../src/cli/demo.js";
import { METHODS_COMMAND, METHODS_HELP } from "../../src/cli/methods.js";
import { SFT_COMMAND, SFT_HELP } from "../../src/cli/sft.js";
import { TRAIN_COMMAND, TRAIN_HELP } from "../../src/cli/train.js";
import { cf, ERROR_LINE } from "./run.js";

const commands: [CommandSpec, string][] = [
  [ASSIGN_COMMAND, ASSIGN_HELP], [METHODS_COMMAND, METHODS_HELP], [DEMO_COMMAND, DEMO_HELP], [CONVERT_COMMAND, CONVERT_HELP],
  [TRAIN_COMMAND, TRAIN_HELP], [SFT_COMMAND, SFT_HELP], [BENCH_COMMAND, BENCH_HELP], [ANNOTATE_COMMAND, commandHelp(ANNOTATE_COMMAND)],
];

test("each command's --help is generated from its declaration and documents every flag", () => {
  for (const [spec, help] of commands) {
    assert.equal(help, commandHelp(spec));
    assert.ok(help.startsWith(`Usage: creditflow ${spec.name} `), spec.name);
    for (const [flag, f] of Object.entries(spec.flags)) {
      assert.match(help, new RegExp(`--${flag}${f.type === "string" ? ` ${(f.value ?? "VALUE").replace(/[|]/g, "\\|")}` : ""}\\s+\\S`), `${spec.name} --${flag}`);
    }
  }
});

test("every command: --help exits 0 with the generated text; an unknown flag is one line and exit 2", () => {
  for (const [spec, help] of commands) {
    const h = cf([spec.name, "--help"]);
    assert.equal(h.code, 0, spec.name);
    assert.equal(h.stdout, help);
    const r = cf([spec.name, "--no-such-flag"]);
    assert.equal(r.code, 2, spec.name);
    assert.match(r.stderr, ERROR_LINE);
    assert.match(r.stderr, new RegExp(`${spec.name}: Unknown option '--no-such-flag' \\(see 'creditflow ${spec.name} --help'\\)`));
  }
});
