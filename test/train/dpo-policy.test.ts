/**
 * `train --dpo-policy`: a frozen DPO-trained policy file fills signals.dpo_logprobs (rto,
 * dpo-token-reward, tgdpo). The log-probs handed to the method are the policy file's own, the
 * formula's invariant holds exactly, `prefer` -> `train` runs end to end and resumes exactly, and
 * bad inputs are one line with exit 2 before anything is written.
 */
import test from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { registerMethod, type Assignment } from "../../src/core/registry.js";
import type { RolloutBatch } from "../../src/core/batch.js";
import { tf, useBackend } from "../../src/train/policy/tf.js";
import { DEFAULT_TRAIN, mergeConfig, type TrainConfig } from "../../src/train/config.js";
import { Trainer, runTraining, type StepMetrics } from "../../src/train/trainer.js";
import { Policy, type ModelConfig } from "../../src/train/policy/model.js";
import { readPolicyFile, writePolicyFile, decodeMap } from "../../src/train/checkpoint.js";
import { resolveTask } from "../../src/train/tasks.js";
import { sftWarmStart } from "../../src/train/sft.js";
import type { Collected } from "../../src/train/collect.js";
import type { TaskPrompt } from "../../src/tasks/types.js";
import { runPrefer } from "../../src/train/prefer.js";
import { DEFAULT_PREFER, type PreferConfig } from "../../src/train/prefer-config.js";
import { cf, ERROR_LINE } from "../cli/run.js";

await useBackend("wasm");

const root = mkdtempSync(join(tmpdir(), "cf-dpo-policy-"));
test.after(() => rmSync(root, { recursive: true, force: true }));

const TINY_MODEL = { ...DEFAULT_TRAIN.model, dModel: 16, nHeads: 2, nLayers: 1, dFF: 32, maxSeqLen: 32 };

function tiny(task: string, method: string, over: unknown = {}): TrainConfig {
  const base = mergeConfig(structuredClone(DEFAULT_TRAIN), {
    task, method, steps: 2, group: 4, promptsPerStep: 2, checkpointEvery: 0, model: TINY_MODEL,
    sft: { steps: 3, batch: 4 }, eval: { n: 0 },
  });
  return mergeConfig(base, over);
}

/** Log-probs of `response` after `prompt` under `model`, one unbatched sequence, log-softmax in float64. */
function rescore(model: Policy, prompt: readonly number[], response: readonly number[], temperature: number): number[] {
  const seq = [...prompt, ...response].slice(0, -1);
  const logits = tf.tidy(() => model.forward(Int32Array.from(seq), 1, seq.length).dataSync() as Float32Array);
  const V = model.config.vocabSize;
  return response.map((tok, k) => {
    const row = logits.subarray((prompt.length - 1 + k) * V, (prompt.length + k) * V);
    let max = -Infinity;
    for (const x of row) max = Math.max(max, x / temperature);
    let sum = 0;
    for (const x of row) sum += Math.exp(x / temperature - max);
    return row[tok] / temperature - max - Math.log(sum);
  });
}

test("the dpo_logprobs the trainer hands the method are the policy file's log-probs of the sampled tokens (a model of another size)", async () => {
  const seen: RolloutBatch[] = [];
  registerMethod<Record<string, never>>({
    name: "test-dpo-probe", summary: "test", paper: "test", status: "paper", options: {},
    requires: ["ref_logprobs"], signals: ["dpo_logprobs"], requiredSignals: ["dpo_logprobs"],
    assign: (batch: RolloutBatch): Assignment => {
      seen.push(batch);
      return { advantages: new Float64Array(batch.nTokens) };
    },
  });
  const task = resolveTask("addition-1d");
  // Wider, deeper and longer than the run's model: only the vocabulary must match.
  const dpoModel: ModelConfig = { ...TINY_MODEL, dModel: 24, nLayers: 2, dFF: 48, maxSeqLen: 40, vocabSize: task.vocab.size };
  const dpo = Policy.create(dpoModel, 11);
  const dpoPath = join(root, "probe-dpo.json");
  writePolicyFile(dpoPath, dpoModel, dpo.weights(), { task: task.name });
  const config = tiny(task.name, "test-dpo-probe", { dpoPolicy: dpoPath, sampling: { temperature: 0.7 } });
  const init = (() => {
    const p = Policy.create({ ...config.model, vocabSize: task.vocab.size }, 5);
    const w = p.weights();
    p.dispose();
    return w;
  })();
  const t = new Trainer(config, task, init, init, null);
  // The step's rollouts, in the batch's row order (the prompts are not part of a row).
  let collected: Collected | null = null;
  const inner = t as unknown as { collect(p: TaskPrompt[]): Promise<Collected> };
  const collect = inner.collect.bind(t);
  inner.collect = async (p) => (collected = await collect(p));
  try {
    await t.trainStep();
  } finally {
    await t.close();
    t.dispose();
  }
  const rollouts = (collected as Collected | null)?.rollouts ?? [];
  const b = seen[0];
  assert.equal(b.n, rollouts.length);
  let checked = 0, differs = 0;
  try {
    for (let i = 0; i < b.n; i++) {
      const r = rollouts[i];
      assert.deepEqual(Array.from(b.tokens.subarray(b.offsets[i], b.offsets[i + 1])), r.tokens);
      const got = (b.signals[i] as { dpo_logprobs: number[] }).dpo_logprobs;
      const want = rescore(dpo, r.prompt.tokens, r.tokens, 0.7);
      assert.equal(got.length, want.length);
      want.forEach((w, k) => {
        assert.ok(Math.abs(got[k] - w) <= 1e-5, `rollout ${i} token ${k}: ${got[k]} vs ${w}`);
        if (Math.abs(got[k] - b.refLogprobs!.data[b.offsets[i] + k]) > 1e-3) differs++;
        checked++;
      });
    }
  } finally {
    dpo.dispose();
  }
  assert.ok(checked > 10, `${checked} tokens checked`);
  assert.ok(differs > checked / 2, "the DPO model is not the reference: its log-probs differ from ref_logprobs");
});

test("a DPO policy identical to the reference gives dpo-token-reward advantages of exactly 0 (beta (lp - ref) = 0), with no KL coefficient", async () => {
  const task = resolveTask("addition-1d");
  const model: ModelConfig = { ...TINY_MODEL, vocabSize: task.vocab.size };
  const warm = join(root, "same.json");
  writePolicyFile(warm, model, sftWarmStart(task, model, { steps: 20, batch: 8, lr: 3e-3, warmupSteps: 2, seed: 0 }, 1), { task: task.name });
  const dir = join(root, "same-run");
  await runTraining(tiny(task.name, "dpo-token-reward", { warmStart: warm, dpoPolicy: warm, methodOptions: { beta: 5 } }), { outDir: dir, resume: false });
  const m = readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as StepMetrics);
  assert.equal(m.length, 2);
  for (const x of m) {
    assert.equal(x.adv_abs_mean, 0);
    assert.ok(x.step_sampled_tokens > 0);
    assert.equal(x.kl_ref, undefined, "klCoef 0: the reference only feeds the method, no KL term");
  }
});

function tinyPrefer(warmStart: string): PreferConfig {
  return {
    ...structuredClone(DEFAULT_PREFER),
    task: "decisive", method: "dpo", warmStart, steps: 2, batch: 4,
    model: { ...DEFAULT_PREFER.model, dModel: 32, nLayers: 1, nHeads: 2, dFF: 64, maxSeqLen: 48 },
    pairs: { prompts: 24, heldout: 8, samples: 8, temperature: 1 },
    eval: { every: 2, n: 8, seed: 1 },
    checkpointEvery: 1,
    optim: { ...DEFAULT_PREFER.optim, lr: 1e-3 },
  };
}

const strip = (path: string) => readFileSync(path, "utf8").trim().split("\n").map((l) => {
  const { time_s: _t, tokens_per_s: _r, ...rest } = JSON.parse(l) as StepMetrics;
  return rest;
});

test("prefer --method dpo writes policy.json; train --method rto --dpo-policy runs from it end to end and resumes exactly", async () => {
  const task = resolveTask("decisive");
  const prefer = tinyPrefer("");
  const model: ModelConfig = { ...prefer.model, vocabSize: task.vocab.size };
  const warm = join(root, "decisive-warm.json");
  writePolicyFile(warm, model, sftWarmStart(task, model, { steps: 150, batch: 16, lr: 3e-3, warmupSteps: 5, seed: 0 }, 1), { task: "decisive" });
  const pdir = join(root, "prefer");
  const s = await runPrefer(tinyPrefer(warm), { outDir: pdir, resume: false });
  assert.ok(s.pairs > 0);
  const policyPath = join(pdir, "policy.json");
  const pf = readPolicyFile(policyPath);
  // The final policy: the checkpoint's weights, with the task recorded.
  const ck = JSON.parse(readFileSync(join(pdir, "checkpoint.json"), "utf8")) as { weights: Record<string, string> };
  for (const [k, w] of decodeMap(ck.weights)) assert.deepEqual(pf.weights.get(k), w, k);
  assert.equal(pf.info.task, "decisive");
  assert.deepEqual(pf.model, model);

  const cfg = JSON.stringify({ steps: 2, group: 4, promptsPerStep: 2, checkpointEvery: 1, model: prefer.model, eval: { n: 8, every: 2 } });
  const full = join(root, "rto-full");
  const args = ["--method", "rto", "--task", "decisive", "--dpo-policy", policyPath, "--warm-start", join(pdir, "warm-start.json"), "--config", cfg, "--quiet"];
  const r = cf(["train", ...args, "--out", full]);
  assert.equal(r.code, 0, r.stderr);
  const m = strip(join(full, "metrics.jsonl"));
  assert.deepEqual(m.map((x) => x.step), [1, 2]);
  assert.ok(m.every((x) => x.adv_abs_mean > 0 && x.vf_loss !== undefined), "rto: DPO token rewards and a critic");
  assert.equal((JSON.parse(readFileSync(join(full, "config.json"), "utf8")) as TrainConfig).dpoPolicy, policyPath);

  // tgdpo trains from the same file: TGDPO's token weights on GRPO advantages.
  const tg = join(root, "tgdpo");
  const logs: string[] = [];
  await runTraining(mergeConfig(structuredClone(DEFAULT_TRAIN), { ...JSON.parse(cfg), steps: 1, method: "tgdpo", task: "decisive", dpoPolicy: policyPath, warmStart: join(pdir, "warm-start.json") }), { outDir: tg, resume: false, onLog: (l) => logs.push(l) });
  assert.deepEqual(strip(join(tg, "metrics.jsonl")).map((x) => x.step), [1]);
  assert.ok(!logs.some((l) => /another reference/.test(l)), "the warm start is the DPO policy's reference: no note");
  // Without prefer's reference as the warm start (a fresh SFT), the run says the token reward is not the DPO model's.
  const other: string[] = [];
  await runTraining(mergeConfig(structuredClone(DEFAULT_TRAIN), { ...JSON.parse(cfg), method: "dpo-token-reward", task: "decisive", dpoPolicy: policyPath, sft: { steps: 2, batch: 2 }, eval: { n: 0 } }),
    { outDir: join(root, "other-ref"), resume: false, stopAfter: 0, onLog: (l) => other.push(l) });
  assert.ok(other.some((l) => l.startsWith(`note: ${policyPath} (--dpo-policy) was trained against another reference than this run's warm start`)), other.join("\n"));

  // Cut after one step, then --resume: the DPO policy is read again from the path in the run's configuration.
  const cut = join(root, "rto-cut");
  const c = mergeConfig(structuredClone(DEFAULT_TRAIN), { ...JSON.parse(cfg), method: "rto", task: "decisive", dpoPolicy: policyPath, warmStart: join(pdir, "warm-start.json") });
  await runTraining(c, { outDir: cut, resume: false, stopAfter: 1 });
  const res = cf(["train", "--resume", "--out", cut, "--quiet"]);
  assert.equal(res.code, 0, res.stderr);
  assert.deepEqual(strip(join(cut, "metrics.jsonl")), m);

  // A resume whose DPO policy has gone is refused with one line, before anything is written.
  const moved = join(root, "moved.json");
  writeFileSync(moved, readFileSync(policyPath));
  rmSync(policyPath);
  const gone = cf(["train", "--resume", "--out", cut, "--quiet"]);
  writeFileSync(policyPath, readFileSync(moved));
  assert.equal(gone.code, 2);
  assert.match(gone.stderr, ERROR_LINE);
  assert.match(gone.stderr, /policy\.json: --dpo-policy policy \(a creditflow policy file\) not found/);
});

test("bad --dpo-policy inputs: one line naming the file or the flag, exit 2, nothing written", () => {
  const task = resolveTask("addition-1d");
  const model: ModelConfig = { ...TINY_MODEL, vocabSize: task.vocab.size };
  const p = Policy.create(model, 3);
  const w = p.weights();
  p.dispose();
  const good = join(root, "bad-good.json");
  writePolicyFile(good, model, w, { task: task.name });
  const otherTask = join(root, "bad-task.json");
  writePolicyFile(otherTask, model, w, { task: "addition" });
  const otherVocab = join(root, "bad-vocab.json");
  writePolicyFile(otherVocab, { ...model, vocabSize: model.vocabSize + 1 }, w, {});
  const short = join(root, "bad-short.json");
  writePolicyFile(short, { ...model, maxSeqLen: 16 }, w, { task: task.name });
  const torn = join(root, "bad-torn.json");
  writeFileSync(torn, readFileSync(good, "utf8").slice(0, 100));
  const ckpt = join(root, "bad-ckpt.json");
  writeFileSync(ckpt, JSON.stringify({ format: "creditflow-prefer", version: 1 }));
  const misfit = join(root, "bad-misfit.json");
  writePolicyFile(misfit, { ...model, dModel: 32 }, w, { task: task.name });
  const cfg = JSON.stringify({ steps: 1, group: 2, promptsPerStep: 1, model: TINY_MODEL, sft: { steps: 1, batch: 2 }, eval: { n: 0 } });
  const cases: [string[], RegExp][] = [
    [["--method", "rto"], /method 'rto' reads signals\.dpo_logprobs, .* give its policy file with --dpo-policy FILE/],
    [["--method", "dpo-token-reward"], /--dpo-policy FILE/],
    [["--method", "grpo", "--dpo-policy", good], /--dpo-policy \(config\.dpoPolicy\): method 'grpo' does not read signals\.dpo_logprobs; only .*rto/],
    [["--method", "rto", "--dpo-policy", join(root, "none.json")], /none\.json: --dpo-policy policy \(a creditflow policy file\) not found/],
    [["--method", "rto", "--dpo-policy", torn], /bad-torn\.json: .* is not valid JSON/],
    [["--method", "rto", "--dpo-policy", ckpt], /bad-ckpt\.json: this is a preference-training checkpoint, not a policy file: give the policy\.json/],
    [["--method", "rto", "--dpo-policy", otherTask], /bad-task\.json: --dpo-policy: a policy trained on task 'addition', the run's task is 'addition-1d'/],
    [["--method", "tgdpo", "--dpo-policy", otherVocab], /bad-vocab\.json: --dpo-policy: model\.vocabSize is \d+, task 'addition-1d' has \d+ tokens/],
    [["--method", "rto", "--dpo-policy", short], /bad-short\.json: --dpo-policy: model\.maxSeqLen is 16, shorter than the run's 32/],
    [["--method", "rto", "--dpo-policy", misfit], /bad-misfit\.json: --dpo-policy: the weights do not fit the file's model/],
  ];
  for (const [k, [args, want]] of cases.entries()) {
    const out = join(root, `bad-out-${k}`);
    const r = cf(["train", "--task", "addition-1d", ...args, "--config", cfg, "--out", out, "--quiet"]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, ERROR_LINE, args.join(" "));
    assert.match(r.stderr, want);
    assert.ok(!existsSync(out), `${args.join(" ")}: nothing written`);
  }
});

test("a checkpoint written before config.dpoPolicy existed resumes (as null)", async () => {
  const dir = join(root, "old-ckpt");
  await runTraining(tiny("addition-1d", "grpo", { checkpointEvery: 1 }), { outDir: dir, resume: false, stopAfter: 1 });
  const path = join(dir, "checkpoint.json");
  const ck = JSON.parse(readFileSync(path, "utf8")) as { config: Partial<TrainConfig> };
  delete ck.config.dpoPolicy;
  writeFileSync(path, JSON.stringify(ck));
  const r = cf(["train", "--resume", "--out", dir, "--quiet"]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(strip(join(dir, "metrics.jsonl")).map((x) => x.step), [1, 2]);
});
