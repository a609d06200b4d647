/**
 * InT's intervention training for `creditflow sft --method int` (Yang, ..., Setlur, Kumar, ICLR
 * 2026, arXiv 2601.14209; pipeline of intervention-training/int), on a task with steps:
 *   1. sample `attempts` responses per prompt from the initial policy; every incorrect one is a row;
 *   2. intervene at the first step where the attempt departs from the task's demonstration
 *      (steps from the verifier's step ends): the intervention is the demonstration's step.
 *      DEPARTURE: the paper's model proposes the intervention itself (verification log, first
 *      critical error, self-check); a small policy cannot, so the demonstration plays the
 *      proposer. The leak filter has no answer string to test on token tasks and is not applied;
 *   3. guided attempt = the attempt's own steps before the error + the intervention
 *      (`stepsBeforeIntervention`, the same rule as the text pipeline);
 *   4. correctness filter: keep a row when at least one of `continuations` samples continuing the
 *      guided attempt is correct (the code: 32);
 *   5. SFT on (prompt, guided attempt): prefix + intervention trained, no EOS, token-mean NLL.
 */
import type { Task, TaskPrompt } from "../tasks/types.js";
import { Policy, type ModelConfig } from "./policy/model.js";
import { Adam, lrAt, DEFAULT_OPTIM } from "./policy/optim.js";
import { disposeSamplerWeights, sample, samplerWeights } from "./policy/sampler.js";
import { sftUpdate, type SftConfig, type SftStep } from "./sft.js";
import { Rng } from "./rng.js";
import { stepsBeforeIntervention } from "../preference/int.js";

export interface InterventionOptions {
  prompts: number;
  attempts: number;
  continuations: number;
  temperature: number;
}

export const DEFAULT_INTERVENTION: InterventionOptions = { prompts: 256, attempts: 4, continuations: 8, temperature: 1 };

export interface InterventionSet {
  examples: { prompt: number[]; response: number[] }[];
  attempts: number;
  incorrect: number;
  kept: number;
  sampledTokens: number;
}

/** A response cut into steps at the verifier's step ends (the tail after the last end is a step too). */
function stepsOf(task: Task, p: TaskPrompt, response: readonly number[]): number[][] {
  const ends = task.verify(p, response).stepEnds;
  if (ends === undefined) throw new Error(`task '${task.name}' reports no steps; InT intervenes at a step`);
  const steps: number[][] = [];
  let from = 0;
  for (const e of ends) {
    if (e < from) continue;
    steps.push(response.slice(from, e + 1));
    from = e + 1;
  }
  if (from < response.length) steps.push(response.slice(from));
  return steps;
}

const sameTokens = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, k) => x === b[k]);

/** Steps 1-4: the SFT examples built from the initial policy's failed attempts. */
export function buildInterventions(task: Task, model: ModelConfig, weights: Map<string, Float32Array>, o: InterventionOptions, rng: Rng): InterventionSet {
  const sw = samplerWeights(model, weights);
  const out: InterventionSet = { examples: [], attempts: 0, incorrect: 0, kept: 0, sampledTokens: 0 };
  const opts = { temperature: o.temperature, topP: 1, eos: task.vocab.eos };
  const maxNew = (prefix: readonly number[]) => Math.max(0, Math.min(task.maxResponseTokens, model.maxSeqLen - prefix.length));
  try {
    const prompts = Array.from({ length: o.prompts }, () => task.samplePrompt(rng.fn()));
    const tries = sample(sw, prompts.flatMap((p) => Array.from({ length: o.attempts }, () => ({ prefix: p.tokens, maxNew: maxNew(p.tokens) }))), opts, rng);
    const rows: { p: TaskPrompt; guided: number[] }[] = [];
    prompts.forEach((p, i) => {
      const demo = stepsOf(task, p, task.demonstration(p, rng.fn()));
      for (let a = 0; a < o.attempts; a++) {
        const attempt = tries[i * o.attempts + a].tokens;
        out.attempts++;
        out.sampledTokens += attempt.length;
        if (task.verify(p, attempt).correct) continue;
        out.incorrect++;
        const steps = stepsOf(task, p, attempt);
        let s = 0;
        while (s < steps.length && s < demo.length && sameTokens(steps[s], demo[s])) s++;
        if (s >= demo.length) continue; // no step to correct
        const guided = [...stepsBeforeIntervention(steps, s + 1).flat(), ...demo[s]];
        rows.push({ p, guided });
      }
    });
    const cont = sample(sw, rows.flatMap((r) => Array.from({ length: o.continuations }, () => {
      const prefix = [...r.p.tokens, ...r.guided];
      return { prefix, maxNew: maxNew(prefix) };
    })), opts, rng);
    rows.forEach((r, k) => {
      let ok = false;
      for (let c = 0; c < o.continuations; c++) {
        const t = cont[k * o.continuations + c].tokens;
        out.sampledTokens += t.length;
        if (task.verify(r.p, [...r.guided, ...t]).correct) ok = true;
      }
      if (ok) out.examples.push({ prompt: [...r.p.tokens], response: r.guided });
    });
    out.kept = out.examples.length;
  } finally {
    disposeSamplerWeights(sw);
  }
  return out;
}

/** Step 5: SFT of the initial policy on the guided attempts (prefix + intervention, no EOS). */
export function interventionSft(task: Task, model: ModelConfig, init: Map<string, Float32Array>, set: InterventionSet, c: SftConfig, onStep?: (s: SftStep) => void): Map<string, Float32Array> {
  if (set.examples.length === 0) throw new Error("InT: no intervention survived the correctness filter");
  const policy = new Policy(model, init);
  const opt = new Adam({ ...DEFAULT_OPTIM, lr: c.lr, warmupSteps: c.warmupSteps, schedule: "cosine", minLrRatio: 0.1 }, policy.params);
  const rng = new Rng(c.seed ^ 0x1e7);
  try {
    for (let s = 0; s < c.steps; s++) {
      const batch = Array.from({ length: c.batch }, () => set.examples[rng.int(set.examples.length)]);
      const lr = lrAt(opt.config, s, c.steps);
      const loss = sftUpdate(policy, opt, batch, task.vocab.pad, lr);
      onStep?.({ step: s + 1, loss, lr, tokens: batch.reduce((a, b) => a + b.response.length, 0) });
    }
    return policy.weights();
  } finally {
    opt.dispose();
    policy.dispose();
  }
}
