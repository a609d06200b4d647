import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tf, useBackend } from "../../src/train/policy/tf.js";
import { Policy, DEFAULT_MODEL, type ModelConfig } from "../../src/train/policy/model.js";
import { resolveTask } from "../../src/train/tasks.js";
import { sftWarmStart } from "../../src/train/sft.js";
import { writePolicyFile } from "../../src/train/checkpoint.js";
import { Adam, DEFAULT_OPTIM } from "../../src/train/policy/optim.js";
import { responseLogits, streamRng } from "../../src/train/prefer-pairs.js";
import { answerConditioned, INTRO_HINT, introAnswer, introGrads, introSample } from "../../src/train/prefer-intro.js";
import { entropyTiers, rmtCorpus, rmtGrads, rmtSelect, rmtSequenceLoss, type RmtItem } from "../../src/train/prefer-rmt.js";
import { runPrefer } from "../../src/train/prefer.js";
import { laserGrads, selfRewardAccuracy, selfRewards, selfRewardSetup } from "../../src/train/prefer-laser.js";
import { DEFAULT_PREFER, type PreferConfig, type PreferMethod } from "../../src/train/prefer-config.js";
import { logSoftmaxRows } from "../../src/preference/common.js";
import { introLoss, introWeights } from "../../src/preference/intro.js";
import { gtLetter, maxDigit } from "../../src/tasks/decisive.js";
import { Rng } from "../../src/train/rng.js";
import { cf } from "../cli/run.js";

test.before(async () => useBackend("wasm"));

const task = resolveTask("decisive");
const tinyModel: Omit<ModelConfig, "vocabSize"> = { ...DEFAULT_MODEL, dModel: 32, nLayers: 1, nHeads: 2, dFF: 64, maxSeqLen: 64 };
const model: ModelConfig = { ...tinyModel, vocabSize: task.vocab.size };
let warmCache: Map<string, Float32Array> | null = null;
/** A tiny warm start that gets some decisive prompts right when sampling (shared by the tests). */
const warm = () => (warmCache ??= sftWarmStart(task, model, { steps: 150, batch: 16, lr: 3e-3, warmupSteps: 5, seed: 0 }, 1));

/** Mean NLL of the responses of `seqs` under `policy`. */
function meanNll(policy: Policy, seqs: { prompt: number[]; response: number[] }[]): number {
  const V = policy.config.vocabSize;
  let s = 0, n = 0;
  responseLogits(policy, seqs, task.vocab.pad).forEach((z, i) => {
    const lp = logSoftmaxRows(z, V);
    seqs[i].response.forEach((y, t) => {
      s -= lp[t * V + y];
      n++;
    });
  });
  return s / n;
}

test("intro: the answer y and the answer-conditioned input x (+) y, as documented", () => {
  const rng = new Rng(4);
  for (let k = 0; k < 20; k++) {
    const p = task.samplePrompt(rng.fn());
    const key = (p.answer as { key: string }).key;
    // decisive: y is the demonstration's two decisive tokens, the max digit and the gt letter.
    assert.deepEqual(introAnswer(task, p), task.vocab.encode(maxDigit(key) + gtLetter(key)));
    const xy = answerConditioned(task, p);
    assert.deepEqual(xy.slice(0, p.tokens.length), [...p.tokens]);
    assert.equal(task.vocab.decode(xy), `^${key}:${INTRO_HINT.open}${maxDigit(key)}${gtLetter(key)}${INTRO_HINT.close}`);
  }
  // addition: y is the last step of the demonstration, the sum's digits.
  const add = resolveTask("addition");
  for (let k = 0; k < 20; k++) {
    const p = add.samplePrompt(rng.fn());
    const { a, b } = p.answer as { a: number; b: number };
    assert.equal(add.vocab.decode(introAnswer(add, p)), String(a + b));
  }
});

test("intro: the trainer's correction factors equal the pure function's on the same inputs, and its loss is introLoss's mean", () => {
  const policy = new Policy(model, warm());
  try {
    const prompts = Array.from({ length: 24 }, ((r) => () => task.samplePrompt(r.fn()))(new Rng(9)));
    const b = introSample(policy, task, prompts, 4, 1, streamRng(1, 2));
    assert.ok(b.rationales.length >= 2, `only ${b.rationales.length} correct samples`);
    assert.equal(b.sampled, 96);
    for (const r of b.rationales) {
      const p = prompts.find((q) => q.tokens.join() === r.prompt.join())!;
      assert.ok(task.verify(p, Array.from(r.tokens)).correct, "kept rationales are correct");
      assert.deepEqual(r.conditioned, answerConditioned(task, p));
    }
    const batch = b.rationales.slice(0, 4);
    const n = 5;
    const g = introGrads(policy, batch, n, 200, streamRng(3, 4).fn(), task.vocab.pad);
    tf.dispose([...g.grads.values()]);
    // Independently: log-probs under x and under x (+) y from separate forward passes.
    const V = model.vocabSize;
    const pol = responseLogits(policy, batch.map((r) => ({ prompt: r.prompt, response: Array.from(r.tokens) })), task.vocab.pad);
    const post = responseLogits(policy, batch.map((r) => ({ prompt: r.conditioned, response: Array.from(r.tokens) })), task.vocab.pad);
    let loss = 0;
    batch.forEach((r, i) => {
      const T = r.tokens.length;
      const cand = g.candidates[i];
      assert.equal(cand.length, T * n);
      for (let t = 0; t < T; t++) assert.equal(cand[t * n], r.tokens[t], "candidate 0 is the rationale's own token");
      const lpP = logSoftmaxRows(pol[i], V), lpQ = logSoftmaxRows(post[i], V);
      const lpPol = Float64Array.from(cand, (c, k) => lpP[Math.floor(k / n) * V + c]);
      const lpPost = Float64Array.from(cand, (c, k) => lpQ[Math.floor(k / n) * V + c]);
      const w = introWeights(lpPol, lpPost, 200);
      w.forEach((x, k) => assert.ok(Math.abs(x - g.factors[i][k]) <= 1e-4 * Math.max(1, x), `rationale ${i} factor ${k}: trainer ${g.factors[i][k]} vs ${x}`));
      loss += introLoss(lpPol, lpPost, n).loss / batch.length;
    });
    assert.ok(Math.abs(loss - g.loss) <= 1e-4 * Math.max(1, Math.abs(loss)), `loss ${g.loss} vs ${loss}`);
    // The conditioning changes the distribution: not every factor is 1.
    assert.ok(g.factors.some((f) => f.some((x) => Math.abs(x - 1) > 1e-3)));
  } finally {
    policy.dispose();
  }
});

test("intro: three updates on a fixed batch of correct rationales raise their likelihood", () => {
  const policy = new Policy(model, warm());
  const opt = new Adam({ ...DEFAULT_OPTIM, lr: 5e-4, warmupSteps: 0, schedule: "constant" }, policy.params);
  try {
    const prompts = Array.from({ length: 24 }, ((r) => () => task.samplePrompt(r.fn()))(new Rng(11)));
    const batch = introSample(policy, task, prompts, 4, 1, streamRng(5, 6)).rationales.slice(0, 8);
    assert.ok(batch.length > 0);
    const seqs = batch.map((r) => ({ prompt: r.prompt, response: Array.from(r.tokens) }));
    const before = meanNll(policy, seqs);
    for (let s = 0; s < 3; s++) {
      const g = introGrads(policy, batch, 5, 200, streamRng(7, 8, s).fn(), task.vocab.pad);
      opt.step(g.grads, 5e-4);
      tf.dispose([...g.grads.values()]);
    }
    const after = meanNll(policy, seqs);
    assert.ok(after < before, `NLL ${before} -> ${after}`);
  } finally {
    opt.dispose();
    policy.dispose();
  }
});

test("rmt: the corpus is correct text by the task's verifier; tiers are entropy tertiles; C follows the tier draw", () => {
  const corpus = rmtCorpus(task, 40, 3);
  assert.equal(corpus.length, 40);
  const rng = streamRng(3, 0x4d70);
  for (const q of corpus) {
    const p = task.samplePrompt(rng.fn());
    rng.fn(); // the demonstration's draw
    assert.deepEqual(q.prompt, [...p.tokens]);
    assert.ok(task.verify(p, q.response).correct, `corpus text ${task.vocab.decode(q.response)} is correct`);
    assert.equal(q.response[q.response.length - 1], task.vocab.eos);
  }
  assert.deepEqual(rmtCorpus(task, 40, 3), corpus, "deterministic for the seed");
  const ref = new Policy(model, warm(), false);
  try {
    const tiers = entropyTiers(ref, corpus, task.vocab.pad);
    // Recompute the entropies and check the tertile split: every easy token is at most as uncertain as every medium one, etc.
    const V = model.vocabSize;
    const ent = responseLogits(ref, corpus, task.vocab.pad).map((z) => {
      const lp = logSoftmaxRows(z, V);
      return Array.from({ length: z.length / V }, (_, t) => {
        let h = 0;
        for (let v = 0; v < V; v++) h -= Math.exp(lp[t * V + v]) * lp[t * V + v];
        return h;
      });
    });
    const byTier: number[][] = [[], [], []];
    tiers.forEach((ts, s) => ts.forEach((d, t) => byTier[d].push(ent[s][t])));
    const N = byTier.reduce((a, x) => a + x.length, 0);
    for (const x of byTier) assert.ok(Math.abs(x.length - N / 3) <= 1, `tier sizes ${byTier.map((y) => y.length)}`);
    assert.ok(Math.max(...byTier[0]) <= Math.min(...byTier[1]) + 1e-9 && Math.max(...byTier[1]) <= Math.min(...byTier[2]) + 1e-9);
    // C: distinct positions, never of a tier with probability 0; a tier that runs out leaves the mass to the others.
    for (const [s, ts] of tiers.entries()) {
      const count = (d: number) => ts.filter((x) => x === d).length;
      const onlyHard = rmtSelect(ts, count(2) + 2, [0, 0, 1], streamRng(s, 1));
      assert.deepEqual(onlyHard, Array.from(ts.keys()).filter((t) => ts[t] === 2), "p = (0, 0, 1): every hard position and nothing else");
      const c = rmtSelect(ts, count(0) + 3, [0.9, 0.1, 0], streamRng(s, 2));
      assert.equal(new Set(c).size, c.length);
      assert.equal(c.length, Math.min(count(0) + 3, count(0) + count(1)));
      assert.ok(c.every((pos) => ts[pos] !== 2));
    }
  } finally {
    ref.dispose();
  }
});

test("rmt: the sequence loss's logit gradient matches finite differences (draws fixed), and updates on a fixed batch lower the corpus NLL", () => {
  const V = model.vocabSize;
  const rng = new Rng(21);
  const T = 6;
  const z = Float64Array.from({ length: T * V }, () => rng.normal());
  const item: RmtItem = { prompt: [1], tokens: Int32Array.from({ length: T }, () => 3 + rng.int(20)), selected: [1, 4] };
  const o = { G: 8, budget: 160, lambda: 0.1, w: 0.2 };
  const uni = () => {
    const r = new Rng(5);
    return () => r.next();
  };
  const base = rmtSequenceLoss(z, item, V, o, uni());
  assert.equal(base.rollouts, 16);
  for (const k of [1 * V + item.tokens[1], 4 * V + 7, 2 * V + item.tokens[2], 0]) {
    const eps = 1e-5;
    const zp = Float64Array.from(z), zm = Float64Array.from(z);
    zp[k] += eps;
    zm[k] -= eps;
    const fd = (rmtSequenceLoss(zp, item, V, o, uni()).loss - rmtSequenceLoss(zm, item, V, o, uni()).loss) / (2 * eps);
    assert.ok(Math.abs(fd - base.grad[k]) < 1e-6, `d/dz[${k}]: analytic ${base.grad[k]}, fd ${fd}`);
  }
  const policy = new Policy(model, warm());
  const opt = new Adam({ ...DEFAULT_OPTIM, lr: 5e-4, warmupSteps: 0, schedule: "constant" }, policy.params);
  try {
    const corpus = rmtCorpus(task, 8, 1);
    const items = corpus.map((q, i) => ({ prompt: q.prompt, tokens: Int32Array.from(q.response), selected: [i % 10, 13] }));
    const before = meanNll(policy, corpus);
    for (let s = 0; s < 3; s++) {
      const g = rmtGrads(policy, items, o, streamRng(9, 9, s).fn(), task.vocab.pad);
      assert.ok(g.matchRate >= 0 && g.matchRate <= 1);
      opt.step(g.grads, 5e-4);
      tf.dispose([...g.grads.values()]);
    }
    const after = meanNll(policy, corpus);
    assert.ok(after < before, `corpus NLL ${before} -> ${after}`);
  } finally {
    opt.dispose();
    policy.dispose();
  }
});

function tinyConfig(method: PreferMethod, warmStart: string): PreferConfig {
  return {
    ...structuredClone(DEFAULT_PREFER),
    task: "decisive", method, warmStart, steps: 4, batch: 8,
    model: tinyModel,
    methodOptions: { ...DEFAULT_PREFER.methodOptions, corpus: 32, rlTokens: 2 },
    pairs: { prompts: 16, heldout: 8, samples: 8, temperature: 1 },
    eval: { every: 2, n: 16, seed: 12345 },
    checkpointEvery: 1,
    optim: { ...DEFAULT_PREFER.optim, lr: 1e-3 },
  };
}

const strip = (p: string) => readFileSync(p, "utf8").trim().split("\n").map((l) => {
  const o = JSON.parse(l) as Record<string, unknown>;
  delete o.time_s;
  return o;
});

test("prefer --method intro|rmt: end to end from a tiny warm start; a run cut short then resumed equals the unbroken run", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cf-prefer-ir-"));
  try {
    const warmFile = join(dir, "warm.json");
    writePolicyFile(warmFile, model, warm(), { task: "decisive" });
    // InTRO through the CLI.
    const cfg = JSON.stringify(tinyConfig("intro", warmFile));
    let r = cf(["prefer", "--method", "intro", "--config", cfg, "--out", join(dir, "intro")]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /InTRO: each update samples 4 rationales for each of 8 prompts from the policy, keeps the correct ones, 5 candidates per position; answer-conditioned input e\.g\. "\^\d{4}: answer \d[yn] "/);
    assert.match(r.stderr, /done: 4 steps on its own correct samples/);
    const m = strip(join(dir, "intro", "metrics.jsonl"));
    assert.deepEqual(m.map((x) => x.step), [1, 2, 3, 4]);
    for (const x of m) {
      assert.ok(typeof x.sample_accuracy === "number" && x.sample_accuracy >= 0 && x.sample_accuracy <= 1);
      assert.ok(typeof x.sampled_tokens === "number" && x.sampled_tokens > 0 && !("pair_accuracy" in x));
      assert.ok(Number.isFinite(x.loss as number));
    }
    assert.ok("heldout_pair_accuracy" in m[1] && "eval_accuracy" in m[3]);
    for (const f of ["config.json", "checkpoint.json", "warm-start.json", "pairs.json", "summary.json"]) assert.ok(existsSync(join(dir, "intro", f)), f);
    await runPrefer(tinyConfig("intro", warmFile), { outDir: join(dir, "intro-cut2"), resume: false, stopAfter: 2 });
    r = cf(["prefer", "--resume", "--out", join(dir, "intro-cut2"), "--quiet"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(strip(join(dir, "intro-cut2", "metrics.jsonl")), m);
    // RMT in process.
    const logs: string[] = [];
    await runPrefer(tinyConfig("rmt", warmFile), { outDir: join(dir, "rmt"), resume: false, onLog: (l) => logs.push(l) });
    assert.ok(logs.some((l) => /^RMT: corpus of 32 task demonstrations \(\d+ tokens, 0 sampled\), entropy tiers under the reference/.test(l)), logs.join("\n"));
    const mr = strip(join(dir, "rmt", "metrics.jsonl"));
    assert.deepEqual(mr.map((x) => x.sampled_tokens), [128, 128, 128, 128], "8 sequences x 2 RL tokens x 8 rollouts");
    await runPrefer(tinyConfig("rmt", warmFile), { outDir: join(dir, "rmt-cut"), resume: false, stopAfter: 3 });
    await runPrefer(tinyConfig("rmt", warmFile), { outDir: join(dir, "rmt-cut"), resume: true });
    assert.deepEqual(strip(join(dir, "rmt-cut", "metrics.jsonl")), mr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("laser-loss: the self-rewards, the balanced accuracy, the parameter gradient (finite differences) and three updates lowering L_SR on a fixed batch", () => {
  const s = selfRewardSetup(task);
  assert.equal(task.vocab.decode([s.token]), "z");
  assert.equal(s.c, -23);
  // Balanced accuracy: 2 of 3 correct items and 1 of 1 incorrect item predicted right -> (2/3 + 1) / 2.
  const its = [1, 1, 1, 0].map((verifier) => ({ prompt: [1], response: [2], verifier }));
  assert.ok(Math.abs(selfRewardAccuracy([0.9, 0.6, 0.2, 0.1], its) - (2 / 3 + 1) / 2) < 1e-12);
  assert.equal(selfRewardAccuracy([0.1, 0.1, 0.1], its.slice(0, 3)), 0);
  const policy = new Policy(model, warm());
  const opt = new Adam({ ...DEFAULT_OPTIM, lr: 1e-3, warmupSteps: 0, schedule: "constant" }, policy.params);
  try {
    const rng = new Rng(17);
    const items = Array.from({ length: 6 }, (_, k) => {
      const p = task.samplePrompt(rng.fn());
      const demo = task.demonstration(p, rng.fn());
      const response = k % 2 === 0 ? demo : [...demo.slice(0, 13), (demo[13] + 1) % 10 + 3, ...demo.slice(14)];
      return { prompt: [...p.tokens], response, verifier: task.verify(p, response).correct ? 1 : 0 };
    });
    assert.deepEqual(items.map((x) => x.verifier), [1, 0, 1, 0, 1, 0]);
    // r_s from an independent pass: the last row of (prompt, response + z_c).
    const V = model.vocabSize;
    const z = responseLogits(policy, items.map((x) => ({ prompt: x.prompt, response: [...x.response, s.token] })), task.vocab.pad);
    const manual = z.map((rows) => {
      const lp = logSoftmaxRows(rows, V);
      return s.betaV * (lp[lp.length - V + s.token] - s.c);
    });
    const g = laserGrads(policy, items, s, task.vocab.pad);
    const scores = selfRewards(policy, items, s, task.vocab.pad);
    manual.forEach((x, i) => {
      assert.ok(Math.abs(g.selfReward[i] - x) < 1e-5 && Math.abs(scores[i] - x) < 1e-5, `r_s[${i}]: ${g.selfReward[i]}, ${scores[i]} vs ${x}`);
    });
    // Finite differences of L_SR on the entries of the output norm with the largest gradient.
    const name = "output_norm.weight";
    const analytic = g.grads.get(name)!.dataSync();
    const w = policy.weights();
    const order = Array.from(analytic.keys()).sort((a, b) => Math.abs(analytic[b]) - Math.abs(analytic[a])).slice(0, 3);
    for (const k of order) {
      const probe = (d: number) => {
        const copy = new Map(w);
        const arr = Float32Array.from(w.get(name)!);
        arr[k] += d;
        copy.set(name, arr);
        policy.setWeights(copy);
        const r = laserGrads(policy, items, s, task.vocab.pad);
        tf.dispose([...r.grads.values()]);
        return r.loss;
      };
      const fd = (probe(2e-3) - probe(-2e-3)) / 4e-3;
      policy.setWeights(w);
      assert.ok(Math.abs(fd - analytic[k]) <= 2e-3 + 0.05 * Math.abs(analytic[k]), `${name}[${k}]: analytic ${analytic[k]}, finite differences ${fd}`);
    }
    tf.dispose([...g.grads.values()]);
    const losses: number[] = [];
    for (let k = 0; k < 4; k++) {
      const r = laserGrads(policy, items, s, task.vocab.pad);
      losses.push(r.loss);
      opt.step(r.grads, 1e-3);
      tf.dispose([...r.grads.values()]);
    }
    assert.ok(losses[3] < losses[0], `L_SR ${losses.join(", ")}`);
  } finally {
    opt.dispose();
    policy.dispose();
  }
});

test("prefer --method laser-loss: end to end, held-out self-verification in metrics and summary, exact resume", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cf-prefer-laser-"));
  try {
    const warmFile = join(dir, "warm.json");
    writePolicyFile(warmFile, model, warm(), { task: "decisive" });
    const cfg = { ...tinyConfig("laser-loss", warmFile), steps: 3 };
    const logs: string[] = [];
    await runPrefer(cfg, { outDir: join(dir, "full"), resume: false, onLog: (l) => logs.push(l) });
    assert.ok(logs.some((l) => /^LaSeR self-reward loss: each update samples 8 responses for each of 8 prompts from the policy and trains log pi\("z" \| x, y, EOS\)/.test(l)), logs.join("\n"));
    const m = strip(join(dir, "full", "metrics.jsonl"));
    assert.deepEqual(m.map((x) => x.step), [1, 2, 3]);
    for (const x of m) assert.ok(typeof x.sample_accuracy === "number" && typeof x.sampled_tokens === "number" && !("pair_accuracy" in x));
    assert.ok(typeof m[1].heldout_self_reward_balanced_accuracy === "number" && typeof m[2].heldout_self_reward_balanced_accuracy === "number");
    const summary = JSON.parse(readFileSync(join(dir, "full", "summary.json"), "utf8")) as Record<string, unknown>;
    assert.equal(typeof summary.warm_start_heldout_self_reward_balanced_accuracy, "number");
    assert.equal(summary.final_heldout_self_reward_balanced_accuracy, m[2].heldout_self_reward_balanced_accuracy);
    await runPrefer(cfg, { outDir: join(dir, "cut"), resume: false, stopAfter: 1 });
    await runPrefer(cfg, { outDir: join(dir, "cut"), resume: true });
    assert.deepEqual(strip(join(dir, "cut", "metrics.jsonl")), m);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, "cut", "summary.json"), "utf8")).warm_start_heldout_self_reward_balanced_accuracy, summary.warm_start_heldout_self_reward_balanced_accuracy);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("prefer: bad options of intro, rmt and laser-loss are one line, exit 2, nothing written", () => {
  const dir = mkdtempSync(join(tmpdir(), "cf-prefer-ir-bad-"));
  try {
    let r = cf(["prefer", "--method", "rmt", "--config", '{"methodOptions": {"curriculumStart": [0.5, 0.5, 0.5]}}', "--out", join(dir, "a")]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^creditflow: config\.methodOptions\.curriculumStart: the tier probabilities sum to 1\.5, not 1\n$/);
    r = cf(["prefer", "--method", "intro", "--config", '{"methodOptions": {"candidates": 0}}', "--out", join(dir, "b")]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^creditflow: config: field 'methodOptions\.candidates': .*\n$/);
    r = cf(["prefer", "--method", "laser-loss", "--config", '{"methodOptions": {"rollouts": 1.5}}', "--out", join(dir, "c")]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /methodOptions\.rollouts/);
    r = cf(["prefer", "--method", "intro", "--config", '{"model": {"maxSeqLen": 40}}', "--out", join(dir, "d")]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^creditflow: intro: x \(\+\) y and a 33-token response take 49 positions, beyond model\.maxSeqLen 40 \(raise model\.maxSeqLen\)\n$/);
    for (const d of ["a", "b", "c", "d"]) assert.ok(!existsSync(join(dir, d)), `${d} was not created`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
