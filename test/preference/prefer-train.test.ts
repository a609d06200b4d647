import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tf, useBackend } from "../../src/train/policy/tf.js";
import { Policy, DEFAULT_MODEL, type ModelConfig } from "../../src/train/policy/model.js";
import { packPairs } from "../../src/train/policy/batching.js";
import { selectLogProbs } from "../../src/train/policy/ops.js";
import { resolveTask } from "../../src/train/tasks.js";
import { sftWarmStart } from "../../src/train/sft.js";
import { writePolicyFile } from "../../src/train/checkpoint.js";
import { pairData, preferGrads, preferLoss, runPrefer, type PairLossOptions } from "../../src/train/prefer.js";
import { DEFAULT_PREFER, type PreferConfig, type PreferMethod } from "../../src/train/prefer-config.js";
import type { Pair } from "../../src/train/prefer-pairs.js";
import { Rng } from "../../src/train/rng.js";
import { cf } from "../cli/run.js";

test.before(async () => useBackend("wasm"));

const task = resolveTask("decisive");
const tiny: ModelConfig = { ...DEFAULT_MODEL, dModel: 16, nLayers: 1, nHeads: 2, dFF: 32, maxSeqLen: 48, vocabSize: task.vocab.size };

/** Two hand-made pairs: the demonstration against a copy with one decisive token changed. */
function handPairs(): Pair[] {
  const rng = new Rng(3);
  return [0, 1].map(() => {
    const p = task.samplePrompt(rng.fn());
    const good = task.demonstration(p, rng.fn());
    const bad = [...good];
    bad[13] = (bad[13] + 1) % (task.vocab.size - 3);
    return { prompt: [...p.tokens], chosen: good, rejected: bad.slice(0, 20) };
  });
}

const opts = (method: PreferMethod): PairLossOptions => ({ method, beta: 0.5, alpha: 0.5, tvdScale: 10, aggregation: "position" });

test("prefer: the surrogate gradient equals tfjs autograd of DPO written in tf ops (tiny model)", () => {
  const policy = Policy.create(tiny, 1);
  const ref = Policy.create(tiny, 2);
  try {
    const pairs = handPairs();
    const data = pairData(pairs, tiny, ref.weights(), {}, "dpo", task.vocab);
    const ours = preferGrads(policy, data, opts("dpo"), task.vocab.pad);
    const seqs = [...pairs.map((p) => ({ prompt: p.prompt, response: p.chosen })), ...pairs.map((p) => ({ prompt: p.prompt, response: p.rejected }))];
    const pb = packPairs(seqs, task.vocab.pad);
    const refSum = data.map((d) => d.chosen.ref.reduce((a, b) => a + b, 0) - d.rejected.ref.reduce((a, b) => a + b, 0));
    const byName = new Map([...policy.params].map(([n, p]) => [p.name, n]));
    const { value, grads } = tf.variableGrads(() => {
      const lp = tf.mul(selectLogProbs(policy.forward(pb.tokens, pb.B, pb.T), pb.targets), tf.tensor1d(pb.mask));
      const perRow = tf.sum(tf.reshape(lp, [pb.B, pb.T]), 1);
      const [w, l] = tf.split(perRow, 2);
      const z = tf.mul(tf.sub(tf.sub(w, l), tf.tensor1d(refSum)), 0.5);
      return tf.mean(tf.log1p(tf.exp(tf.neg(z)))) as tf.Scalar; // -log sigmoid(z)
    });
    assert.ok(Math.abs(value.dataSync()[0] - ours.loss) < 1e-5, `loss ${value.dataSync()[0]} vs ${ours.loss}`);
    for (const [vn, g] of Object.entries(grads)) {
      const a = g.dataSync(), b = ours.grads.get(byName.get(vn)!)!.dataSync();
      let scale = 0;
      for (const x of a) scale = Math.max(scale, Math.abs(x));
      for (let k = 0; k < a.length; k++) assert.ok(Math.abs(a[k] - b[k]) <= 1e-4 * scale + 1e-7, `${vn}[${k}]: ${b[k]} vs autograd ${a[k]}`);
    }
    tf.dispose([value, ...Object.values(grads), ...ours.grads.values()]);
  } finally {
    policy.dispose();
    ref.dispose();
  }
});

test("prefer: one step's parameter gradient matches finite differences for the logit and log-prob methods", () => {
  const policy = Policy.create(tiny, 5);
  const ref = Policy.create(tiny, 6), other = Policy.create(tiny, 7), third = Policy.create(tiny, 8);
  try {
    const pairs = handPairs();
    const aux = { dpo: other.weights(), rdpo: third.weights(), pos: other.weights(), neg: third.weights() };
    // (TDPO2 stops the gradient of the chosen KL, so its gradient is not the loss's: tdpo1 here.)
    for (const method of ["tdpo1", "aligndistil", "cdpo", "t-reg", "tgdpo", "ipo"] as const) {
      const data = pairData(pairs, tiny, ref.weights(), aux, method, task.vocab);
      const g = preferGrads(policy, data, opts(method), task.vocab.pad);
      const name = "output_norm.weight";
      const analytic = g.grads.get(name)!.dataSync();
      const w = policy.weights();
      const base = w.get(name)!;
      // The entries with the largest gradient, probed with central differences in float32.
      const order = Array.from(analytic.keys()).sort((a, b) => Math.abs(analytic[b]) - Math.abs(analytic[a])).slice(0, 3);
      for (const k of order) {
        const eps = 2e-3;
        const probe = (d: number) => {
          const copy = new Map(w);
          const arr = Float32Array.from(base);
          arr[k] += d;
          copy.set(name, arr);
          policy.setWeights(copy);
          return preferLoss(policy, data, opts(method), task.vocab.pad);
        };
        const fd = (probe(eps) - probe(-eps)) / (2 * eps);
        policy.setWeights(w);
        assert.ok(Math.abs(fd - analytic[k]) <= 2e-3 + 0.05 * Math.abs(analytic[k]), `${method} ${name}[${k}]: analytic ${analytic[k]}, finite differences ${fd}`);
      }
      tf.dispose([...g.grads.values()]);
    }
  } finally {
    for (const p of [policy, ref, other, third]) p.dispose();
  }
});

function tinyConfig(method: PreferMethod, warmStart: string): PreferConfig {
  return {
    ...structuredClone(DEFAULT_PREFER),
    task: "decisive", method, warmStart, steps: 4, batch: 4,
    model: { ...DEFAULT_MODEL, dModel: 32, nLayers: 1, nHeads: 2, dFF: 64, maxSeqLen: 48 },
    pairs: { prompts: 24, heldout: 8, samples: 8, temperature: 1 },
    aux: { steps: 2, lr: 1e-3 },
    eval: { every: 2, n: 16, seed: 12345 },
    checkpointEvery: 1,
    optim: { ...DEFAULT_PREFER.optim, lr: 1e-3 },
  };
}

test("prefer: end to end on decisive with a tiny model, and a run cut short then resumed equals the uninterrupted run", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cf-prefer-"));
  try {
    const model = { ...tinyConfig("dpo", "").model, vocabSize: task.vocab.size };
    const warm = join(dir, "warm.json");
    writePolicyFile(warm, model, sftWarmStart(task, model, { steps: 150, batch: 16, lr: 3e-3, warmupSteps: 5, seed: 0 }, 1), { task: "decisive" });
    const logs: string[] = [];
    const full = await runPrefer(tinyConfig("aligndistil", warm), { outDir: join(dir, "full"), resume: false, onLog: (l) => logs.push(l) });
    assert.equal(full.steps, 4);
    assert.ok(full.pairs > 0, "pairs were built");
    assert.ok(logs.some((l) => /^model dpo: 2 updates on \d+ pair tokens \(0 sampled\), [\d.]+ s$/.test(l)), logs.join("\n"));
    assert.ok(logs.some((l) => /^model rdpo: /.test(l)));
    assert.ok(logs.some((l) => /^pairs: \d+ training and \d+ held-out .* \d+ sampled tokens/.test(l)));
    for (const f of ["config.json", "metrics.jsonl", "checkpoint.json", "warm-start.json", "pairs.json", "aux-dpo.json", "aux-rdpo.json", "summary.json"]) assert.ok(existsSync(join(dir, "full", f)), f);
    const strip = (p: string) => readFileSync(p, "utf8").trim().split("\n").map((l) => {
      const o = JSON.parse(l) as Record<string, unknown>;
      delete o.time_s;
      return o;
    });
    const m = strip(join(dir, "full", "metrics.jsonl"));
    assert.deepEqual(m.map((x) => x.step), [1, 2, 3, 4]);
    assert.ok("heldout_pair_accuracy" in m[1] && "eval_accuracy" in m[3] && !("eval_accuracy" in m[0]));
    await runPrefer(tinyConfig("aligndistil", warm), { outDir: join(dir, "cut"), resume: false, stopAfter: 2 });
    const r = cf(["prefer", "--resume", "--out", join(dir, "cut"), "--quiet"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(strip(join(dir, "cut", "metrics.jsonl")), m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("prefer: bad usage and bad configuration are one line, exit 2, nothing written", () => {
  const dir = mkdtempSync(join(tmpdir(), "cf-prefer-bad-"));
  try {
    let r = cf(["prefer", "--method", "kto", "--out", join(dir, "a")]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^creditflow: --method must be one of dpo, ipo, tdpo1, tdpo2, tgdpo, cdpo, t-reg, aligndistil, intro, rmt, laser-loss, got "kto"\n$/);
    r = cf(["prefer", "--config", '{"beta": -1}', "--out", join(dir, "b")]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^creditflow: config: field 'beta': .*\n$/);
    r = cf(["prefer", "--config", '{"pairs": {"samplez": 3}}', "--out", join(dir, "c")]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /config\.pairs\.samplez: unknown key/);
    r = cf(["prefer", "--resume", "--out", join(dir, "none")]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--resume: no such run directory/);
    for (const d of ["a", "b", "c"]) assert.ok(!existsSync(join(dir, d)), `${d} was not created`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
