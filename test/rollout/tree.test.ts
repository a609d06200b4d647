/**
 * Tree sampling on a backend: the segments plan is a drop-in for the trainer's sampleTrees (same
 * tree for the same generator); every sampled token is counted once (owned tokens = sampled);
 * fork plans branch where they say.
 */
import test from "node:test";
import assert from "node:assert/strict";
import { useBackend } from "../../src/train/policy/tf.js";
import { DEFAULT_MODEL, initialWeights } from "../../src/train/policy/model.js";
import { Rng } from "../../src/train/rng.js";
import { sampleTrees } from "../../src/train/rollouts.js";
import { getTask } from "../../src/tasks/index.js";
import { mulberry32 } from "../../src/core/random.js";
import { BuiltinBackend } from "../../src/rollout/builtin.js";
import { sampleTree } from "../../src/rollout/tree.js";

const task = getTask("addition");
const model = { ...DEFAULT_MODEL, vocabSize: task.vocab.size };
const weights = initialWeights(model, 4);
for (const [n, a] of weights) if (!n.includes("norm")) for (let k = 0; k < a.length; k++) a[k] *= 6;
let backend: BuiltinBackend;
const rand = mulberry32(1);
const prompts = Array.from({ length: 3 }, () => task.samplePrompt(rand));
const opts = { temperature: 1, topP: 1, eos: task.vocab.eos };

test.before(async () => {
  await useBackend("wasm");
  backend = new BuiltinBackend(model, weights);
});
test.after(() => backend.close());

test("segments plan = the trainer's sampleTrees for the same generator; every token counted once", async () => {
  const mine = await sampleTree(backend, prompts.map((p) => p.tokens), { kind: "segments", branching: [2, 2, 2], segmentTokens: 3 }, task.maxResponseTokens, opts, new Rng(9));
  const ref = await sampleTrees(task, backend, prompts, [2, 2, 2], 3, opts, new Rng(9), 0);
  assert.deepEqual(mine.paths.map((p) => p.tokens), ref.rollouts.map((r) => r.tokens));
  assert.deepEqual(mine.paths.map((p) => p.segmentEnds), ref.rollouts.map((r) => r.segmentEnds));
  assert.deepEqual(mine.paths.map((p) => p.owned), ref.rollouts.map((r) => r.trainMask));
  assert.equal(mine.sampledTokens, ref.sampledTokens);
  assert.equal(mine.sampledTokens, mine.paths.reduce((s, p) => s + p.owned.reduce((a, b) => a + b, 0), 0));
});

test("cutpoints and entropy plans: continuations start at the fork positions; owned tokens = sampled tokens", async () => {
  for (const plan of [{ kind: "cutpoints", trunks: 2, every: 3, branches: 2 } as const, { kind: "entropy", trunks: 2, forks: 2, branches: 1 } as const]) {
    const before = backend.sampledTokens;
    const t = await sampleTree(backend, prompts.map((p) => p.tokens), plan, task.maxResponseTokens, opts, new Rng(4));
    assert.equal(backend.sampledTokens - before, t.sampledTokens, plan.kind);
    assert.equal(t.sampledTokens, t.paths.reduce((s, p) => s + p.owned.reduce((a, b) => a + b, 0), 0), plan.kind);
    for (let pi = 0; pi < prompts.length; pi++) {
      const paths = t.paths.filter((p) => p.prompt === pi);
      const trunks = paths.filter((p) => p.owned[0] === 1);
      assert.equal(trunks.length, 2, `${plan.kind}: two trunks per prompt`);
      for (const trunk of trunks) {
        const T = trunk.tokens.length;
        const cuts = plan.kind === "cutpoints"
          ? Array.from({ length: Math.ceil(T / 3) - 1 }, (_, k) => 3 * (k + 1))
          : Array.from({ length: T - 1 }, (_, k) => k + 1).sort((a, b) => trunk.entropies[b] - trunk.entropies[a] || a - b).slice(0, 2).sort((a, b) => a - b);
        // the trunk's node boundaries are its cuts
        assert.deepEqual(trunk.segmentEnds, [...cuts.map((c) => c - 1), T - 1].filter((e) => e >= 0));
        for (const c of cuts) {
          // continuations from this cut: share exactly the trunk's first c tokens and own the rest
          const conts = paths.filter((p) => p !== trunk && p.owned.indexOf(1) === c && p.tokens.slice(0, c).join() === trunk.tokens.slice(0, c).join());
          assert.ok(conts.length >= plan.branches, `${plan.kind}: ${conts.length} continuations at ${c}`);
        }
      }
    }
  }
});
