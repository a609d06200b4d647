/**
 * creditbench: the oracle's invariants on a real (tiny) policy, the fidelity scores on known
 * credit, and a smoke run of `creditflow bench` (both parts, three tasks, tiny model) that
 * writes the three reports.
 */
import test from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { useBackend } from "../../src/train/policy/tf.js";
import { Policy, type ModelConfig } from "../../src/train/policy/model.js";
import { Rng } from "../../src/train/rng.js";
import { sample, samplerWeights, disposeSamplerWeights } from "../../src/train/policy/sampler.js";
import { sampleGroups, type BatchSampler } from "../../src/train/rollouts.js";
import { getTask } from "../../src/tasks/index.js";
import { computeOracle, exactDecisiveValues } from "../../src/creditbench/oracle.js";
import { scoreCredit } from "../../src/creditbench/fidelity.js";
import { runBenchCommand } from "../../src/cli/bench.js";
import type { BenchResults } from "../../src/creditbench/report.js";

const root = mkdtempSync(join(tmpdir(), "cf-bench-"));
test.after(() => rmSync(root, { recursive: true, force: true }));
test.before(async () => useBackend("wasm"));

const TINY = { dModel: 16, nHeads: 2, nLayers: 1, dFF: 32, maxSeqLen: 48 };

test("oracle: A* telescopes to reward - V(s_0), exact values are probabilities, intervals are non-negative", async () => {
  const task = getTask("decisive");
  const config: ModelConfig = { ...TINY, tieEmbeddings: false, normEps: 1e-5, ropeTheta: 10000, vocabSize: task.vocab.size };
  const policy = Policy.create(config, 3);
  const sw = samplerWeights(config, policy.weights());
  const sampler: BatchSampler = { maxSeqLen: config.maxSeqLen, sample: async (r, o, g) => sample(sw, r, o, g) };
  try {
    const rng = new Rng(5);
    const opts = { temperature: 1, topP: 1, eos: task.vocab.eos };
    const gen = await sampleGroups(task, sampler, [task.samplePrompt(rng.fn())], 3, opts, rng, 0);
    const exact = exactDecisiveValues(task, policy, gen.rollouts, 1);
    const o = await computeOracle(task, sampler, gen.rollouts, 4, opts, rng, exact);
    assert.ok(o.sampledTokens > 0);
    gen.rollouts.forEach((r, i) => {
      const row = o.rows[i];
      assert.equal(row.advantages.length, r.tokens.length);
      assert.equal(row.values[r.tokens.length], r.verdict.reward);
      const sum = row.advantages.reduce((s, a) => s + a, 0);
      assert.ok(Math.abs(sum - (r.verdict.reward - row.values[0])) < 1e-9);
      for (const c of row.ci) assert.ok(c >= 0);
      const e = exact[i];
      if (e !== null) assert.ok(e >= 0 && e <= 1);
    });
  } finally {
    disposeSamplerWeights(sw);
    policy.dispose();
  }
});

test("fidelity scores: the oracle scores 1, a constant scores NaN, credit mass on decisive tokens", () => {
  const task = getTask("decisive");
  const prompt = task.samplePrompt(new Rng(1).fn());
  const mk = (id: string, decisive: number[]) => ({
    id, group: "g", prompt, tokens: [1, 2, 3, 4], logprobs: [0, 0, 0, 0], entropies: [0, 0, 0, 0], finished: true,
    verdict: { reward: 1, correct: true, decisive },
  });
  const rollouts = [mk("a", [1]), mk("b", [2])];
  const adv = [[0, 0.5, 0.1, 0], [0, -0.2, -0.6, 0.05]];
  const oracle = {
    rows: adv.map((a) => ({ values: [0, 0, 0, 0, 0], valueSe: [0, 0, 0, 0, 0], advantages: a, ci: [0, 0, 0, 0], exact: [] })),
    sampledTokens: 0, states: 0, K: 2, exactAudit: null, reliability: 1,
  };
  const self = scoreCredit("oracle", rollouts, oracle, adv, 0, "");
  assert.ok(Math.abs(self.spearman - 1) < 1e-12 && Math.abs(self.pearson - 1) < 1e-12);
  assert.equal(self.signAgreement, 1);
  assert.ok(Math.abs((self.massShare as number) - (0.5 + 0.6) / (0.5 + 0.1 + 0.2 + 0.6 + 0.05)) < 1e-12);
  const flat = scoreCredit("flat", rollouts, oracle, [[1, 1, 1, 1], [1, 1, 1, 1]], 0, "");
  assert.ok(Number.isNaN(flat.spearman));
  assert.equal(flat.groupsDefined, 0);
  assert.equal(flat.signAgreement, 0.5); // +1 agrees with 0.5 on rollout a, not with -0.6 on b
  assert.equal(flat.massShare, 0.25);
});

test("creditflow bench --help and a bad option", async () => {
  assert.equal(await runBenchCommand(["--help"]), 0);
  assert.equal(await runBenchCommand(["--part", "nope"]), 2);
  assert.equal(await runBenchCommand(["--methods", "no-such-method", "--quiet", "--out", join(root, "bad")]), 2);
});

test("creditflow bench smoke: both parts on three tasks, tiny model, writes results.json, report.md and a self-contained report.html", async () => {
  const modelFile = join(root, "model.json");
  writeFileSync(modelFile, JSON.stringify(TINY));
  const out = join(root, "bench");
  const code = await runBenchCommand([
    "--tasks", "addition,countdown,decisive", "--methods", "grpo,rloo,spo-chain,tw-grpo,pure,dpo-token-reward", "--seeds", "2", "--budget", "1500",
    "--eval-every", "1", "--eval-n", "8", "--groups", "2", "--group-size", "4", "--k", "2", "--sft-steps", "3",
    "--model", modelFile, "--out", out, "--quiet",
  ]);
  assert.equal(code, 0);
  for (const f of ["results.json", "report.md", "report.html"]) assert.ok(existsSync(join(out, f)), f);
  const res = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as BenchResults;
  assert.deepEqual(res.fidelity.map((r) => r.task), ["addition", "countdown", "decisive"]);
  assert.deepEqual(res.efficiency.map((r) => r.task), ["addition", "countdown", "decisive"]);
  for (const r of res.fidelity) {
    assert.deepEqual(r.methods.map((m) => m.method), ["grpo", "rloo", "spo-chain", "tw-grpo"]);
    assert.equal(r.skipped[0].method, "pure");
    assert.deepEqual(r.skipped.map((s) => s.method), ["pure", "dpo-token-reward"]);
    assert.match(r.skipped[1].reason, /signals\.dpo_logprobs from a DPO-trained policy .*\(--dpo-policy\), which the benchmark does not load/);
    assert.ok((r.methods.find((m) => m.method === "spo-chain")?.extraSampledTokens ?? 0) > 0, "spo-chain's Monte Carlo tokens are charged");
    assert.ok(r.oracle.sampledTokens > 0);
  }
  assert.ok(res.fidelity[2].oracle.exactAudit !== null, "decisive has exact values");
  for (const r of res.efficiency) {
    // pure's step rewards come from the chain task, not these: skipped, naming the task that has them.
    // dpo-token-reward needs a DPO policy file (--dpo-policy), which the benchmark's runs do not get: skipped, naming the flag.
    assert.deepEqual(r.skipped.map((s) => s.method), ["pure", "dpo-token-reward"]);
    assert.match(r.skipped[0].reason, /task 'chain' does/);
    assert.match(r.skipped[1].reason, /give its policy file with --dpo-policy FILE/);
    assert.equal(r.runs.length, 4 * 2);
    for (const run of r.runs) {
      assert.equal(run.error, null);
      assert.equal(run.curve[0].tokens, 0);
      assert.ok(run.sampledTokens >= 1500, "every run spends the whole budget");
    }
  }
  const html = readFileSync(join(out, "report.html"), "utf8");
  assert.ok((html.match(/<svg /g) ?? []).length >= 3 * 3);
  assert.ok(!/(src|href)=["']?https?:/i.test(html), "no network references");
  const md = readFileSync(join(out, "report.md"), "utf8");
  assert.match(md, /## Credit fidelity/);
  assert.match(md, /## Learning efficiency/);
});

test("creditflow bench fidelity scores methods that read hidden states and attention (thr, attention-credit)", async () => {
  const modelFile = join(root, "model-signals.json");
  writeFileSync(modelFile, JSON.stringify(TINY));
  const out = join(root, "bench-signals");
  const code = await runBenchCommand([
    "--part", "fidelity", "--tasks", "decisive", "--methods", "grpo,thr,attention-credit", "--groups", "2", "--group-size", "4", "--k", "2",
    "--sft-steps", "3", "--model", modelFile, "--out", out, "--quiet",
  ]);
  assert.equal(code, 0);
  const res = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as BenchResults;
  const r = res.fidelity[0];
  assert.deepEqual(r.skipped, []);
  assert.deepEqual(r.methods.map((m) => m.method), ["grpo", "thr", "attention-credit"]);
  assert.match(r.methods[1].note, /hidden, probs from one forward pass/);
});
