/** The warm start: cross-entropy falls under teacher forcing, and `creditflow sft` writes a loadable policy. */
import test from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tf, useBackend } from "../../src/train/policy/tf.js";
import { Policy } from "../../src/train/policy/model.js";
import { runSft, sftLoss } from "../../src/train/sft.js";
import { readPolicyFile } from "../../src/train/checkpoint.js";
import { runSftCommand } from "../../src/cli/sft.js";
import { resolveTask } from "../../src/train/tasks.js";
import { Rng } from "../../src/train/rng.js";

test("SFT lowers the demonstration cross-entropy and is deterministic", async () => {
  await useBackend("wasm");
  const task = resolveTask("addition-1d");
  const cfg = { vocabSize: task.vocab.size, dModel: 16, nLayers: 1, nHeads: 2, dFF: 32, maxSeqLen: 32, tieEmbeddings: true, normEps: 1e-5, ropeTheta: 10000 };
  const rng = new Rng(11);
  const held = Array.from({ length: 16 }, () => {
    const p = task.samplePrompt(rng.fn());
    return { prompt: p.tokens, response: task.demonstration(p, rng.fn()) };
  });
  const lossOf = (p: Policy) => tf.tidy(() => sftLoss(p, held, task.vocab.pad).dataSync()[0]);
  const a = Policy.create(cfg, 3), b = Policy.create(cfg, 3);
  const before = lossOf(a);
  runSft(task, a, { steps: 30, batch: 8, lr: 1e-2, warmupSteps: 3, seed: 1 });
  runSft(task, b, { steps: 30, batch: 8, lr: 1e-2, warmupSteps: 3, seed: 1 });
  const after = lossOf(a);
  assert.ok(after < before * 0.7, `loss ${before} -> ${after}`);
  assert.deepEqual(a.weights(), b.weights());
  a.dispose();
  b.dispose();
});

test("creditflow sft writes a policy file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cf-sft-"));
  try {
    const model = join(dir, "model.json");
    writeFileSync(model, JSON.stringify({ dModel: 16, nHeads: 2, nLayers: 1, dFF: 32, maxSeqLen: 32 }));
    const out = join(dir, "p.json");
    const code = await runSftCommand(["--task", "addition-1d", "--steps", "3", "--batch", "4", "--model", model, "--eval", "8", "--out", out, "--quiet"]);
    assert.equal(code, 0);
    const pf = readPolicyFile(out);
    assert.equal(pf.model.dModel, 16);
    assert.equal(typeof pf.info.eval_accuracy, "number");
    assert.equal(await runSftCommand(["--bogus"]), 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
