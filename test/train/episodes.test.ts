/**
 * The trainer's episodes (issue 13 §3): multi-turn tool tasks, rows per turn and per budget, and
 * the extra sampling of brpo, laser and r3l, through the trainer's own collection, credit and loss.
 * Real-sampler tests use a tiny warm-started policy; where a property needs reward variance, a
 * scripted sampler plays the task's demonstrations (corrupting tokens now and then) behind the same
 * BatchSampler interface, with the real sampler's stop rule.
 */
import test from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tf, useBackend } from "../../src/train/policy/tf.js";
import { DEFAULT_TRAIN, mergeConfig, type TrainConfig } from "../../src/train/config.js";
import { Trainer, runTraining, WALL_CLOCK_FIELDS, type StepMetrics } from "../../src/train/trainer.js";
import { collectRollouts, type Collected } from "../../src/train/collect.js";
import { adapterFor, taskMethodOptions, type SamplingContext } from "../../src/train/adapters/index.js";
import { assignCredit } from "../../src/train/credit.js";
import { buildMinibatch, minibatchLoss } from "../../src/train/step-loss.js";
import { evaluate } from "../../src/train/evaluate.js";
import { samplerGenerate } from "../../src/train/episodes.js";
import { sample, samplerWeights, disposeSamplerWeights, type SampleRequest, type SampleResult } from "../../src/train/policy/sampler.js";
import { Policy, type ModelConfig } from "../../src/train/policy/model.js";
import { sftWarmStart } from "../../src/train/sft.js";
import { Rng } from "../../src/train/rng.js";
import type { BatchSampler, Rollout } from "../../src/train/rollouts.js";
import { getTask, policyMask, runEpisodes, type Task, type TaskPrompt } from "../../src/tasks/index.js";
import { resolveTask } from "../../src/train/tasks.js";
import { selfRewardLoss, selfRewardScore } from "../../src/methods/laser.js";
import { runTrainCommand } from "../../src/cli/train.js";
import { scripted } from "../tasks/scripted.js";

const root = mkdtempSync(join(tmpdir(), "cf-episodes-"));
test.after(() => rmSync(root, { recursive: true, force: true }));
test.before(async () => useBackend("wasm"));

const tools = getTask("tools");
const chain = getTask("chain");
const CALL = tools.vocab.encode("=")[0];
const MODEL = { dModel: 16, nHeads: 2, nLayers: 1, dFF: 32, maxSeqLen: 64 };

function tiny(method: string, task: string, over: unknown = {}): TrainConfig {
  const base = mergeConfig(structuredClone(DEFAULT_TRAIN), {
    method, task, steps: 2, group: 4, promptsPerStep: 3, checkpointEvery: 0, model: MODEL, sft: { steps: 5, batch: 4 }, eval: { n: 8, every: 2 },
  });
  return mergeConfig(base, over);
}

const modelConfig = (task: Task): ModelConfig => ({ ...tiny("grpo", task.name).model, vocabSize: task.vocab.size });

/** Warm starts by task, trained once: a few SFT steps, enough to write calls, answers and eos. */
const warm = new Map<string, Map<string, Float32Array>>();
function warmStart(task: Task): Map<string, Float32Array> {
  let w = warm.get(task.name);
  if (!w) {
    w = sftWarmStart(task, modelConfig(task), { steps: 40, batch: 8, lr: 3e-3, warmupSteps: 5, seed: 0 }, 1);
    warm.set(task.name, w);
  }
  return w;
}

function trainerFor(method: string, task: Task, over: unknown = {}): Trainer {
  return new Trainer(tiny(method, task.name, over), task, warmStart(task), null, null);
}

function promptsOf(task: Task, n: number, seed: number): TaskPrompt[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => task.samplePrompt(rng.fn()));
}

/** The real sampler over a trainer's current weights, recording every call. */
function recordingSampler(trainer: Trainer): { sampler: BatchSampler; calls: { requests: SampleRequest[]; results: SampleResult[] }[]; dispose(): void } {
  const sw = samplerWeights(trainer.modelConfig, trainer.policy.weights());
  const calls: { requests: SampleRequest[]; results: SampleResult[] }[] = [];
  return {
    sampler: {
      maxSeqLen: trainer.modelConfig.maxSeqLen,
      async sample(requests, opts, rng) {
        const results = sample(sw, requests, opts, rng);
        calls.push({ requests: [...requests], results });
        return results;
      },
    },
    calls,
    dispose: () => disposeSamplerWeights(sw),
  };
}

/** The task's demonstrations played behind the sampler interface, cut like the real sampler (first stop token or eos, maxNew). */
function scriptedSampler(task: Task, prompts: readonly TaskPrompt[], corrupt: number, seed: number): BatchSampler {
  const s = scripted(task, prompts, corrupt, seed);
  return {
    maxSeqLen: 64,
    async sample(requests, opts) {
      const gens = await s.generate(requests.map((r) => ({ prefix: r.prefix, maxTokens: r.maxNew, stopTokens: r.stop ?? [] })));
      return gens.map((g, k): SampleResult => {
        let n = Math.min(g.tokens.length, requests[k].maxNew);
        for (let t = 0; t < n; t++) if (g.tokens[t] === opts.eos || requests[k].stop?.includes(g.tokens[t])) n = t + 1;
        const tokens = g.tokens.slice(0, n);
        return { tokens, logprobs: g.logprobs.slice(0, n), entropies: (g.entropies ?? []).slice(0, n), finished: tokens[n - 1] === opts.eos };
      });
    },
  };
}

function context(trainer: Trainer, sampler: BatchSampler, step = 0): SamplingContext {
  const c = trainer.config;
  return { config: c, task: trainer.task, sampler, options: { temperature: c.sampling.temperature, topP: c.sampling.topP, eos: trainer.task.vocab.eos }, rng: new Rng(7), step, policy: trainer.policy };
}

async function collect(trainer: Trainer, sampler: BatchSampler, prompts: readonly TaskPrompt[]): Promise<Collected> {
  return collectRollouts(adapterFor(trainer.config.method, trainer.config), context(trainer, sampler), prompts);
}

function credit(trainer: Trainer, rollouts: readonly Rollout[]) {
  const c = trainer.config;
  return assignCredit({ method: c.method, methodOptions: { ...taskMethodOptions(c.method, trainer.task), ...c.methodOptions }, rollouts, policy: trainer.policy, pad: trainer.task.vocab.pad, temperature: c.sampling.temperature, source: "test" });
}

const policyTokens = (r: Rollout) => (r.mask ?? r.tokens.map(() => 1)).reduce((s, m) => s + m, 0);

test("the sampler stops a row at its stop tokens, exactly where the unstopped row wrote one", () => {
  const t = trainerFor("grpo", tools);
  const sw = samplerWeights(t.modelConfig, t.policy.weights());
  try {
    const prompts = promptsOf(tools, 8, 3);
    const opts = { temperature: 1, topP: 1, eos: tools.vocab.eos };
    const free = sample(sw, prompts.map((p) => ({ prefix: p.tokens, maxNew: 40 })), opts, new Rng(11));
    const stopped = sample(sw, prompts.map((p) => ({ prefix: p.tokens, maxNew: 40, stop: [CALL] })), opts, new Rng(11));
    let calls = 0;
    free.forEach((f, i) => {
      const at = f.tokens.indexOf(CALL);
      const n = at < 0 ? f.tokens.length : at + 1;
      if (at >= 0 && (f.tokens.indexOf(tools.vocab.eos) < 0 || f.tokens.indexOf(tools.vocab.eos) > at)) calls++;
      assert.deepEqual(stopped[i].tokens, f.tokens.slice(0, n));
      assert.deepEqual(stopped[i].logprobs, f.logprobs.slice(0, n));
      assert.equal(stopped[i].finished, at < 0 && f.finished);
    });
    assert.ok(calls > 0, "the warm start writes tool calls");
  } finally {
    disposeSamplerWeights(sw);
  }
});

test("tool episodes on the trainer's sampler: turns end at calls, tool outputs are mask 0, every sampled token is counted, rescoring agrees", async () => {
  const t = trainerFor("matchtir", tools);
  try {
    const gen: Collected = await (t as unknown as { collect(p: TaskPrompt[]): Promise<Collected> }).collect(promptsOf(tools, 4, 5));
    assert.equal(gen.rollouts.length, 16);
    let envTokens = 0;
    for (const r of gen.rollouts) {
      // The mask is the environment's replay of the transcript, computed independently.
      const mask = r.mask ?? r.tokens.map(() => 1);
      assert.deepEqual(mask, policyMask(tools, r.prompt, r.tokens), r.id);
      envTokens += mask.filter((m) => m === 0).length;
      // A policy turn ends at its first call token: the environment writes next.
      r.tokens.forEach((tok, k) => {
        if (mask[k] === 1 && tok === CALL && k + 1 < r.tokens.length) assert.equal(mask[k + 1], 0, `${r.id}: call at ${k} answered`);
      });
      assert.deepEqual(r.verdict.stepRewards, tools.verify(r.prompt, r.tokens).stepRewards);
    }
    assert.ok(envTokens > 0, "some tool was called");
    // Sampled tokens are the policy's tokens: no environment token, no token sampled past a stop.
    assert.equal(gen.sampledTokens, gen.rollouts.reduce((s, r) => s + policyTokens(r), 0));
    // The loss's old log-probs: the policy rescoring the transcript gives the sampler's on policy tokens.
    const { logp } = (t as unknown as { score(m: unknown, r: readonly Rollout[]): { logp: number[][] } }).score(t.policy, gen.rollouts);
    let worst = 0;
    gen.rollouts.forEach((r, i) => r.tokens.forEach((_, k) => {
      if ((r.mask?.[k] ?? 1) === 1) worst = Math.max(worst, Math.abs(logp[i][k] - r.logprobs[k]));
    }));
    assert.ok(worst < 1e-4, `rescored vs sampled log-probs differ by ${worst}`);
  } finally {
    t.dispose();
  }
});

test("environment tokens get zero advantage and carry no loss", async () => {
  const t = trainerFor("matchtir", tools);
  try {
    const prompts = promptsOf(tools, 4, 9);
    const gen = await collect(t, scriptedSampler(tools, prompts, 0.3, 2), prompts);
    const { adv } = credit(t, gen.rollouts);
    let nonzero = 0;
    gen.rollouts.forEach((r, i) => r.tokens.forEach((_, k) => {
      if (r.mask?.[k] === 0) assert.equal(adv[i][k], 0, `${r.id} token ${k}`);
      else if (adv[i][k] !== 0) nonzero++;
    }));
    assert.ok(nonzero > 0 && gen.rollouts.some((r) => r.mask?.includes(0)));
    const idx = gen.rollouts.map((_, i) => i);
    const oldLogp = gen.rollouts.map((r) => r.logprobs);
    const lossOf = (rollouts: readonly Rollout[], a: readonly Float64Array[], old: readonly (readonly number[])[]) => {
      const mb = buildMinibatch(t.config, tools.vocab.pad, rollouts, idx, { adv: a, oldLogp: old, weights: null, refLogp: null, shaping: null });
      const stats: tf.Tensor[] = [];
      const v = tf.tidy(() => minibatchLoss(t.policy, t.config, tools.maxResponseTokens, mb, null, stats));
      const out = [v.dataSync()[0], ...stats.map((s) => s.dataSync()[0])];
      tf.dispose([v, ...stats]);
      return out;
    };
    const base = lossOf(gen.rollouts, adv, oldLogp);
    // Anything on environment tokens (advantages, old log-probs) leaves the loss and its metrics unchanged...
    const advEnv = gen.rollouts.map((r, i) => adv[i].map((x, k) => (r.mask?.[k] === 0 ? 5 : x)));
    const oldEnv = gen.rollouts.map((r) => r.logprobs.map((x, k) => (r.mask?.[k] === 0 ? -3 : x)));
    assert.deepEqual(lossOf(gen.rollouts, advEnv, oldEnv), base);
    // ...which they would change if the mask were not applied.
    const unmasked = gen.rollouts.map(({ mask: _m, ...r }) => r);
    assert.notDeepEqual(lossOf(unmasked, advEnv, oldEnv), base);
  } finally {
    t.dispose();
  }
});

test("gigpo on tools trains on one row per turn; rows that acted from the same state share its anchor", async () => {
  const t = trainerFor("gigpo", tools);
  try {
    const prompts = promptsOf(tools, 3, 13);
    const gen = await collect(t, scriptedSampler(tools, prompts, 0.15, 4), prompts);
    assert.equal(gen.outcomes?.length, 12, "metrics count episodes, not turn rows");
    const byEpisode = new Map<string, Rollout[]>();
    for (const r of gen.rollouts) {
      const row = r.row!;
      assert.equal(r.mask, undefined, "a turn row holds policy tokens only");
      byEpisode.set(row.episode!, [...(byEpisode.get(row.episode!) ?? []), r]);
    }
    assert.equal(byEpisode.size, 12);
    const outcomes = new Map(gen.rollouts.map((r) => [r.row!.episode!, r.verdict.correct]));
    let shared = 0;
    for (const [episode, rows] of byEpisode) {
      const p = rows[0].prompt.tokens.slice(0, prompts[Number(/-p(\d+)-/.exec(episode)![1])].tokens.length);
      rows.forEach((r, k) => {
        assert.equal(r.row!.t, k);
        // The turn's context is the prompt and the whole transcript before it (tool outputs included).
        assert.deepEqual(r.prompt.tokens.slice(0, p.length), p);
        const before = r.prompt.tokens.slice(p.length);
        assert.equal(r.row!.anchor, `${r.prompt.id}|${before.join(",")}`);
        assert.equal(r.row!.reward, k === rows.length - 1 ? (outcomes.get(episode) ? 1 : 0) : 0);
      });
    }
    // Anchors: equal exactly when the contexts are equal, within a group.
    const rows = gen.rollouts;
    for (let a = 0; a < rows.length; a++) {
      for (let b = a + 1; b < rows.length; b++) {
        if (rows[a].group !== rows[b].group) continue;
        const same = rows[a].prompt.tokens.join(",") === rows[b].prompt.tokens.join(",");
        assert.equal(rows[a].row!.anchor === rows[b].row!.anchor, same);
        if (same && rows[a].row!.episode !== rows[b].row!.episode) shared++;
      }
    }
    assert.ok(shared > 0, "episodes of a group pass through common states");
    const { adv } = credit(t, rows);
    assert.ok(adv.some((a) => a.some((x) => x !== 0)) && adv.every((a) => a.every(Number.isFinite)));
  } finally {
    t.dispose();
  }
});

test("brpo's budget scores are the verifier's scores of the truncated responses' sampled answers", async () => {
  const t = trainerFor("brpo", chain);
  const rec = recordingSampler(t);
  try {
    const prompts = promptsOf(chain, 3, 17);
    const gen = await collect(t, rec.sampler, prompts);
    const budget = chain.budget!;
    assert.equal(rec.calls.length, 2, "one call for the responses, one for every summary");
    const summaries = rec.calls[1];
    let q = 0;
    for (const r of gen.rollouts) {
      const think = budget.thinkingLength(r.tokens);
      const cue = r.tokens.slice(think, think + budget.cue.length);
      const own = cue.length === budget.cue.length && cue.every((x, k) => x === budget.cue[k]) ? budget.scoreAnswer(r.prompt, r.tokens.slice(think + budget.cue.length)) : 0;
      const expected = budget.budgets.map((b) => {
        if (b >= think) return own;
        // The summary sampled for this cut: the thinking up to b, then the cue.
        assert.deepEqual(summaries.requests[q].prefix, [...r.prompt.tokens, ...r.tokens.slice(0, b), ...budget.cue]);
        return budget.scoreAnswer(r.prompt, summaries.results[q++].tokens);
      });
      assert.deepEqual((r.row!.signals as { budget_scores: number[] }).budget_scores, expected);
      assert.deepEqual(r.row!.step_ends, [...budget.budgets.filter((b) => b < think).map((b) => b - 1), r.tokens.length - 1]);
    }
    assert.equal(q, summaries.requests.length);
    assert.ok(q > 0, "some response was cut");
    const summaryTokens = summaries.results.reduce((s, r) => s + r.tokens.length, 0);
    assert.equal(gen.sampledTokens, gen.rollouts.reduce((s, r) => s + r.tokens.length, 0) + summaryTokens);
    assert.ok(credit(t, gen.rollouts).adv.every((a) => a.every(Number.isFinite)));
  } finally {
    rec.dispose();
    t.dispose();
  }
});

test("laser's self-reward is the policy's score of the self-reward token after a finished response", async () => {
  const task = resolveTask("addition-1d");
  const t = trainerFor("laser", task);
  const rec = recordingSampler(t);
  try {
    const gen = await collect(t, rec.sampler, promptsOf(task, 3, 19));
    const z = task.vocab.encode("z")[0];
    const T0 = t.config.sampling.temperature;
    let finished = 0;
    for (const r of gen.rollouts) {
      const s = (r.row!.signals ?? {}) as { self_reward?: number };
      if (!r.finished) {
        assert.equal(s.self_reward, undefined, "unfinished: no self-reward");
        continue;
      }
      finished++;
      // log pi(z | prompt, response) from a plain forward pass: the last position's log-softmax.
      const seq = [...r.prompt.tokens, ...r.tokens];
      const lp = tf.tidy(() => tf.logSoftmax(tf.div(t.policy.forward(Int32Array.from(seq), 1, seq.length), T0)).dataSync()[(seq.length - 1) * task.vocab.size + z]);
      // beta_v 0.1 and c = -1 / beta_v; the reference multiplies the log-prob by the temperature.
      assert.ok(Math.abs((s.self_reward as number) - selfRewardScore(T0 * lp, -10, 0.1)) < 1e-5, `${r.id}: ${s.self_reward} vs ${lp}`);
    }
    assert.ok(finished > 0);
    assert.ok(credit(t, gen.rollouts).adv.every((a) => a.every(Number.isFinite)));
    // The loss trains that same score towards the verifier reward: alpha L_SR over the batch, as the method defines it.
    const adapter = adapterFor("laser", t.config);
    const idx = gen.rollouts.map((_, i) => i);
    const aux = tf.tidy(() => adapter.auxLoss!({ policy: t.policy, task, rollouts: gen.rollouts, idx, temperature: T0 })!.dataSync()[0]);
    const scores = gen.rollouts.map((r) => ((r.row!.signals ?? {}) as { self_reward?: number }).self_reward ?? 0);
    const expected = 0.1 * selfRewardLoss(scores, gen.rollouts.map((r) => r.verdict.reward), gen.rollouts.map((r) => r.finished), true);
    assert.ok(expected > 0 && Math.abs(aux - expected) < 1e-6, `${aux} vs ${expected}`);
  } finally {
    rec.dispose();
    t.dispose();
  }
});

test("r3l retries each failed tool episode from its first imperfect turn; the retries are rows of its group and their tokens are counted", async () => {
  const t = trainerFor("r3l", tools);
  try {
    const prompts = promptsOf(tools, 3, 23);
    const gen = await collect(t, scriptedSampler(tools, prompts, 0.4, 6), prompts);
    const firsts = gen.rollouts.filter((r) => !r.id.endsWith("-retry"));
    const retries = gen.rollouts.filter((r) => r.id.endsWith("-retry"));
    assert.equal(firsts.length, 12);
    assert.deepEqual(gen.outcomes?.map((o) => o.correct), firsts.map((r) => r.verdict.correct), "metrics count first attempts");
    const failed = firsts.filter((r) => !r.verdict.correct);
    assert.ok(failed.length > 0 && failed.length < 12);
    assert.deepEqual(retries.map((r) => r.id), failed.map((r) => `${r.id}-retry`));
    let sampled = firsts.reduce((s, r) => s + policyTokens(r), 0);
    retries.forEach((r, k) => {
      const first = failed[k];
      assert.equal(r.group, first.group);
      const pivot = (r.row!.signals as { pivot: number }).pivot;
      assert.equal((first.row!.signals as { pivot: number }).pivot, pivot);
      // The first imperfect turn: the first whose MatchTIR turn reward is below 1 (the last turn at most).
      const turnRewards = first.verdict.stepRewards!;
      let p = 0;
      while (p < policyRuns(first).length - 1 && p < turnRewards.length && turnRewards[p] >= 1) p++;
      assert.equal(pivot, Math.max(0, Math.min(p, policyRuns(r).length - 1)));
      // The turns before it are replayed verbatim (not sampled again); the rest is new.
      const replayed = policyRuns(first)[p][0];
      assert.deepEqual(r.tokens.slice(0, replayed), first.tokens.slice(0, replayed));
      assert.deepEqual(r.logprobs.slice(0, replayed), first.logprobs.slice(0, replayed));
      sampled += policyTokens(r) - (first.mask ?? first.tokens.map(() => 1)).slice(0, replayed).reduce((s, m) => s + m, 0);
    });
    assert.equal(gen.sampledTokens, sampled);
    const { adv, weights } = credit(t, gen.rollouts);
    assert.ok(adv.every((a) => a.every(Number.isFinite)));
    // Pivotal credit: the replayed policy turns of every retry carry no weight.
    retries.forEach((r) => {
      const pivot = (r.row!.signals as { pivot: number }).pivot;
      const i = gen.rollouts.indexOf(r);
      if (pivot > 0) for (let k = 0; k < policyRuns(r)[pivot][0]; k++) if (r.mask?.[k] !== 0) assert.equal(weights![i][k], 0);
    });
  } finally {
    t.dispose();
  }
});

/** [start, end) of each run of policy tokens (mask 1) of a rollout. */
function policyRuns(r: Rollout): [number, number][] {
  const mask = r.mask ?? r.tokens.map(() => 1);
  const runs: [number, number][] = [];
  for (let k = 0; k < mask.length; k++) {
    if (mask[k] === 1 && (k === 0 || mask[k - 1] === 0)) runs.push([k, k + 1]);
    else if (mask[k] === 1) runs[runs.length - 1][1] = k + 1;
  }
  return runs;
}

test("held-out accuracy on tools is judged on whole episodes, as the trainer samples them", async () => {
  const w = warmStart(tools);
  const config = modelConfig(tools);
  const prompts = tools.evalSet(12, 1);
  const res = evaluate(tools, config, w, prompts, 5);
  // The same episodes through the trainer's asynchronous route (greedy: any generator gives the same tokens).
  const sw = samplerWeights(config, w);
  try {
    const sampler: BatchSampler = { maxSeqLen: config.maxSeqLen, sample: async (r, o, g) => sample(sw, r, o, g) };
    const eps = await runEpisodes(tools, prompts, samplerGenerate(sampler, { temperature: 0, topP: 1, eos: tools.vocab.eos }, new Rng(0), () => {}));
    assert.ok(eps.some((ep) => ep.mask.includes(0)), "the environment answered");
    assert.equal(res.rewardMean, eps.reduce((s, ep) => s + ep.verdict.reward, 0) / eps.length);
    assert.equal(res.accuracy, eps.filter((ep) => ep.verdict.correct).length / eps.length);
  } finally {
    disposeSamplerWeights(sw);
  }
});

const strip = (m: StepMetrics[]) => m.map((x) => {
  const o: Record<string, unknown> = { ...x };
  for (const f of WALL_CLOCK_FIELDS) delete o[f];
  return o;
});
const readMetrics = (dir: string) => readFileSync(join(dir, "metrics.jsonl"), "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l) as StepMetrics);

test("a checkpointed and resumed tools run takes the same next step as an unbroken one", async () => {
  const config = tiny("r3l", "tools", { checkpointEvery: 1 });
  const full = join(root, "full"), cut = join(root, "cut");
  await runTraining(config, { outDir: full, resume: false });
  await runTraining(config, { outDir: cut, resume: false, stopAfter: 1 });
  assert.equal(readMetrics(cut).length, 1);
  await runTraining(config, { outDir: cut, resume: true });
  const a = readMetrics(full), b = readMetrics(cut);
  assert.equal(a.length, 2);
  assert.deepEqual(strip(b), strip(a));
  assert.ok(a.every((m) => Number.isFinite(m.loss) && m.sampled_tokens > 0));
  assert.equal(typeof a[1].eval_accuracy, "number");
});

for (const [method, task] of [["matchtir", "tools"], ["gigpo", "tools"], ["r3l", "tools"], ["brpo", "chain"], ["laser", "addition"]]) {
  test(`creditflow train --method ${method} (no --task) trains on ${task} and writes metrics`, async () => {
    const out = join(root, `cli-${method}`);
    const config = JSON.stringify({ group: 4, promptsPerStep: 2, model: MODEL, sft: { steps: 3, batch: 4 }, eval: { n: 4, every: 1 } });
    assert.equal(await runTrainCommand(["--method", method, "--steps", "1", "--config", config, "--out", out, "--quiet"]), 0);
    const [m] = readMetrics(out);
    assert.equal(m.step, 1);
    for (const [k, v] of Object.entries(m)) if (typeof v === "number") assert.ok(Number.isFinite(v), `${k} = ${v}`);
    assert.ok(m.step_sampled_tokens > 0 && typeof m.eval_accuracy === "number");
    assert.equal((JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as { task: string }).task, task);
  });
}

test("tool episodes sample the same on 2 worker threads as in the training thread", async () => {
  const one = join(root, "workers-1"), two = join(root, "workers-2");
  await runTraining(tiny("matchtir", "tools", { steps: 1, workers: 1 }), { outDir: one, resume: false });
  await runTraining(tiny("matchtir", "tools", { steps: 1, workers: 2 }), { outDir: two, resume: false });
  assert.deepEqual(strip(readMetrics(two)), strip(readMetrics(one)));
});

test("a model context shorter than prompt plus response budget shortens the step's transcripts to fit", async () => {
  const init = Policy.create({ ...modelConfig(tools), maxSeqLen: 24 }, 1);
  const t = new Trainer(tiny("laser", "tools", { model: { maxSeqLen: 24 } }), tools, init.weights(), null, null);
  init.dispose();
  try {
    const gen: Collected = await (t as unknown as { collect(p: TaskPrompt[]): Promise<Collected> }).collect(promptsOf(tools, 4, 29));
    const longest = Math.max(...gen.rollouts.map((r) => r.prompt.tokens.length));
    for (const r of gen.rollouts) assert.ok(r.tokens.length <= 24 - longest - 1, `${r.id}: ${r.tokens.length} tokens`);
    assert.ok(gen.rollouts.some((r) => r.tokens.length === 24 - longest - 1), "the budget is used up to the context");
  } finally {
    t.dispose();
  }
});
