import { test } from "node:test";
import assert from "node:assert/strict";
import { useBackend } from "../../src/train/policy/tf.js";
import { Policy, DEFAULT_MODEL, type ModelConfig } from "../../src/train/policy/model.js";
import { packPairs } from "../../src/train/policy/batching.js";
import { resolveTask } from "../../src/train/tasks.js";
import { ssTokenSelector } from "../../src/train/prefer-sft.js";
import { Rng } from "../../src/train/rng.js";
import { cf } from "../cli/run.js";

test.before(async () => useBackend("wasm"));

const task = resolveTask("decisive");
const tiny: ModelConfig = { ...DEFAULT_MODEL, dModel: 16, nLayers: 1, nHeads: 2, dFF: 32, maxSeqLen: 48, vocabSize: task.vocab.size };

function batch() {
  const rng = new Rng(9);
  const pairs = [0, 1, 2].map(() => {
    const p = task.samplePrompt(rng.fn());
    return { prompt: [...p.tokens], response: task.demonstration(p, rng.fn()).slice(0, 12 + Math.floor(rng.next() * 20)) };
  });
  return packPairs(pairs, task.vocab.pad);
}

test("sft --method sstoken: ceil(R rho) response tokens per row are selected, never a prompt or pad position", () => {
  const policy = Policy.create(tiny, 1);
  try {
    const pb = batch();
    const mask = ssTokenSelector({ gamma: 0.5, rho: 0.6, warmupSamples: 0, batch: 3 })(policy)(policy, pb, 0);
    for (let i = 0; i < pb.B; i++) {
      let kept = 0;
      for (let j = 0; j < pb.T; j++) {
        if (mask[i * pb.T + j]) assert.equal(pb.mask[i * pb.T + j], 1, "selection within the response");
        kept += mask[i * pb.T + j];
      }
      assert.equal(kept, Math.ceil(pb.len[i] * 0.6 - 1e-12), `row ${i}`);
    }
  } finally {
    policy.dispose();
  }
});

test("sft --method sstoken: with the policy still equal to its history, REL is 0 everywhere and gamma 1 keeps the first k tokens (stable ties)", () => {
  const policy = Policy.create(tiny, 2);
  try {
    const pb = batch();
    const mask = ssTokenSelector({ gamma: 1, rho: 0.5, warmupSamples: 0, batch: 3 })(policy)(policy, pb, 0);
    for (let i = 0; i < pb.B; i++) {
      const k = Math.ceil(pb.len[i] * 0.5 - 1e-12);
      for (let t = 0; t < pb.len[i]; t++) assert.equal(mask[i * pb.T + pb.start[i] + t], t < k ? 1 : 0, `row ${i} token ${t}`);
    }
  } finally {
    policy.dispose();
  }
});

test("sft --method int: --init is required, and a bad option is one line, exit 2", () => {
  let r = cf(["sft", "--task", "decisive", "--method", "int", "--out", "/tmp/never-written.json"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^creditflow: sft --method int needs --init FILE/);
  r = cf(["sft", "--method", "sstoken", "--method-config", '{"rho": 2}', "--out", "/tmp/never-written.json"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^creditflow: --method-config\.rho: expected a number in \[0, 1\], got 2\n$/);
});
