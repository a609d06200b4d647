/** `creditflow train` argument handling: inline JSON or files, flags over config, clear errors. */
import test from "node:test";
import assert from "node:assert/strict";
import { parseTrainArgs, runTrainCommand } from "../../src/cli/train.js";
import { DEFAULT_TRAIN } from "../../src/train/config.js";

test("flags override --config, --method-config takes assign's options, unknown keys are errors", async () => {
  const a = parseTrainArgs(["--config", '{"steps": 7, "loss": {"aggMode": "seq-mean-token-mean"}}', "--steps", "9", "--method", "tempo", "--method-config", '{"tdWeight": 0.5}', "--group", "4"]);
  assert.equal(a.config.steps, 9);
  assert.equal(a.config.loss.aggMode, "seq-mean-token-mean");
  assert.equal(a.config.loss.epsLow, DEFAULT_TRAIN.loss.epsLow);
  assert.equal(a.config.method, "tempo");
  assert.deepEqual(a.config.methodOptions, { tdWeight: 0.5 });
  assert.equal(a.config.group, 4);
  assert.throws(() => parseTrainArgs(["--config", '{"lossx": 1}']), /config\.lossx: unknown key/);
  assert.throws(() => parseTrainArgs(["--config", '{"model": 3}']), /config\.model must be a JSON object/);
  assert.equal(await runTrainCommand(["--steps", "x"]), 2);
  assert.equal(await runTrainCommand(["--method", "rto"]), 2);
  assert.equal(await runTrainCommand(["--method", "pure", "--task", "addition"]), 2, "pure needs the step rewards of chain");
  assert.equal(await runTrainCommand(["--config", '{"loss": {"aggMode": "bogus"}}']), 2);
});
