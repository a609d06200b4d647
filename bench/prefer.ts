/**
 * DPO against each token-level preference method on one task, 3 seeds, equal budget
 * (`npm run bench:prefer -- [--seeds N] [--steps N] [--methods a,b] [--out DIR]`).
 *
 * Per seed, every method starts from the same SFT warm start (the reference) and trains on the
 * same (correct, incorrect) pairs, sampled once from it and judged by the task's verifier, for
 * the same number of updates of the same batch size. The auxiliary models a method needs (DPO,
 * reverse-DPO, positive / negative) are extra cost on top, reported as such. Reported: greedy
 * held-out task accuracy and held-out pair accuracy at the end, mean +- sd over seeds, and each
 * method's per-seed difference to DPO. Prints a Markdown table.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { useBackend } from "../src/train/policy/tf.js";
import { commandHelp, defineCommand, exitCodeOf, intFlag, parseCommand } from "../src/cli/args.js";
import { mergeConfig } from "../src/train/config.js";
import { sftWarmStart } from "../src/train/sft.js";
import { writePolicyFile } from "../src/train/checkpoint.js";
import { resolveTask } from "../src/train/tasks.js";
import { buildPairSet, responseLogits } from "../src/train/prefer-pairs.js";
import { answerConditioned } from "../src/train/prefer-intro.js";
import { Policy, type ModelConfig } from "../src/train/policy/model.js";
import { logSoftmaxRows } from "../src/preference/common.js";
import type { Task, TaskPrompt } from "../src/tasks/types.js";
import { runPrefer, type PreferSummary } from "../src/train/prefer.js";
import { DEFAULT_PREFER, PREFER_METHODS, type PreferConfig, type PreferMethod } from "../src/train/prefer-config.js";

const BENCH = defineCommand({
  name: "bench:prefer",
  program: "npm run",
  usage: "-- [options]",
  description: "DPO against the token-level preference methods at an equal budget (npm run bench:prefer).",
  flags: {
    seeds: { type: "string", value: "N", doc: "seeds per method (default 3)" },
    steps: { type: "string", value: "N", doc: "policy updates per run (default 20)" },
    methods: { type: "string", value: "A,B", doc: `methods (default ${PREFER_METHODS.join(",")}; dpo is always run)` },
    out: { type: "string", value: "DIR", doc: "output directory (default bench/out/prefer)" },
    help: { type: "boolean", short: "h", doc: "this help" },
  },
});

/** The paper's claim over DPO, as each method's paper states it (held-out accuracy is our proxy). */
const CLAIM: Record<PreferMethod, string> = {
  dpo: "baseline",
  ipo: "baseline (IPO claims robustness to overfitting, not accuracy)",
  tdpo1: "TDPO: better alignment/diversity trade-off than DPO",
  tdpo2: "TDPO: better alignment/diversity trade-off than DPO",
  tgdpo: "TGDPO: beats DPO on win rates",
  cdpo: "cDPO: beats DPO on reasoning accuracy",
  "t-reg": "T-REG: beats DPO on win rates",
  aligndistil: "AlignDistil: beats DPO, converges faster",
  intro: "InTRO: beats SFT/RL baselines on math reasoning accuracy (not compared with DPO in the paper)",
  "laser-loss": "LaSeR: the self-reward predicts correctness (self-verification F1), with RL (alone here; not compared with DPO in the paper)",
  rmt: "RMT: better reasoning accuracy than RPT with ~5x shorter reasoning (not compared with DPO in the paper)",
};

/** Methods whose papers compare with other baselines (SFT, RL, RPT), not DPO: their difference to DPO gets no verdict. */
const NO_DPO_CLAIM: readonly PreferMethod[] = ["intro", "rmt", "laser-loss"];

/** Mean token log-prob of the demonstrations of `prompts` under the policy `weights`, after x and after InTRO's x (+) y. */
function demonstrationLogps(task: Task, model: ModelConfig, weights: Map<string, Float32Array>, prompts: readonly TaskPrompt[]): { x: number; xy: number } {
  const policy = new Policy(model, weights, false);
  try {
    const demos = prompts.map((p) => task.demonstration(p, () => 0));
    const meanLogp = (contexts: number[][]) => {
      let s = 0, n = 0;
      responseLogits(policy, contexts.map((c, i) => ({ prompt: c, response: demos[i] })), task.vocab.pad).forEach((z, i) => {
        const lp = logSoftmaxRows(z, model.vocabSize);
        demos[i].forEach((y, t) => {
          s += lp[t * model.vocabSize + y];
          n++;
        });
      });
      return s / n;
    };
    return { x: meanLogp(prompts.map((p) => [...p.tokens])), xy: meanLogp(prompts.map((p) => answerConditioned(task, p))) };
  } finally {
    policy.dispose();
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1));
};

async function main(): Promise<void> {
  const { values: f } = parseCommand(BENCH, process.argv.slice(2));
  if (f.help) {
    process.stdout.write(commandHelp(BENCH));
    return;
  }
  await useBackend("wasm");
  const out = f.out ?? "bench/out/prefer";
  const nSeeds = f.seeds === undefined ? 3 : intFlag("seeds", f.seeds, 1);
  const steps = f.steps === undefined ? 20 : intFlag("steps", f.steps, 1);
  const asked = (f.methods ?? PREFER_METHODS.join(",")).split(",") as PreferMethod[];
  for (const m of asked) if (!PREFER_METHODS.includes(m)) throw new Error(`unknown method ${m}`);
  const methods: PreferMethod[] = ["dpo", ...asked.filter((m) => m !== "dpo")];
  // The default run (DEFAULT_PREFER: decisive, SFT 100 steps, lr 1e-4), evaluated only at the end.
  const base: PreferConfig = mergeConfig(structuredClone(DEFAULT_PREFER), { steps, eval: { every: 0 }, checkpointEvery: 0 });
  const task = resolveTask(base.task);
  const model = { ...base.model, vocabSize: task.vocab.size };
  const acc = new Map<PreferMethod, number[]>(), pairAcc = new Map<PreferMethod, number[]>(), secs = new Map<PreferMethod, number[]>();
  const refAcc: number[] = [], nPairs: number[] = [];
  const selfVerify: [number, number][] = [];
  const posterior: { x: number; xy: number }[] = [];
  for (let seed = 0; seed < nSeeds; seed++) {
    const warm = join(out, `warm-start-${seed}.json`);
    const ref = sftWarmStart(task, model, { ...base.sft, seed: base.sft.seed + seed }, seed + 1);
    writePolicyFile(warm, model, ref, { task: task.name, steps: base.sft.steps });
    const ps = buildPairSet(task, model, ref, { ...base.pairs, seed, evalSeed: base.eval.seed });
    process.stderr.write(`seed ${seed}: ${ps.train.length} training / ${ps.heldout.length} held-out pairs (${ps.sampledTokens} sampled tokens)\n`);
    nPairs.push(ps.train.length);
    if (methods.includes("intro")) posterior.push(demonstrationLogps(task, model, ref, task.evalSet(64, base.eval.seed)));
    for (const method of methods) {
      const cfg = mergeConfig(base, { method, seed, warmStart: warm });
      const t0 = performance.now();
      const s: PreferSummary = await runPrefer(cfg, { outDir: join(out, `${method}-${seed}`), resume: false, pairs: ps });
      const dt = (performance.now() - t0) / 1000;
      process.stderr.write(`  ${method}: held-out accuracy ${s.warmStartEvalAccuracy} -> ${s.finalEvalAccuracy}, pair accuracy ${s.finalHeldoutPairAccuracy?.toFixed(3)} (${dt.toFixed(0)} s)\n`);
      if (method === "dpo") refAcc.push(s.warmStartEvalAccuracy ?? 0);
      if (method === "laser-loss") {
        // Its claim is self-verification: how well r_s > 0.5 predicts the verifier on the held-out pairs' finished responses.
        const sm = JSON.parse(readFileSync(join(out, `${method}-${seed}`, "summary.json"), "utf8")) as Record<string, number>;
        selfVerify.push([sm.warm_start_heldout_self_reward_balanced_accuracy, sm.final_heldout_self_reward_balanced_accuracy]);
      }
      for (const [m, v] of [[acc, s.finalEvalAccuracy ?? 0], [pairAcc, s.finalHeldoutPairAccuracy ?? 0], [secs, dt]] as const) m.set(method, [...(m.get(method) ?? []), v]);
    }
  }
  const pm = (xs: number[]) => `${mean(xs).toFixed(3)} ± ${sd(xs).toFixed(3)}`;
  const dpo = acc.get("dpo")!;
  const verdict = (m: PreferMethod): string => {
    if (m === "dpo") return "-";
    const d = acc.get(m)!.map((x, k) => x - dpo[k]);
    const se = sd(d) / Math.sqrt(d.length);
    const md = mean(d);
    const tag = d.length < 2 ? "one seed: no verdict" : md > 2 * se && md > 0 ? "held" : md < -2 * se && md < 0 ? "did not hold (worse)" : "not shown (within noise)";
    const note = m === "ipo" ? "baseline" : NO_DPO_CLAIM.includes(m) ? "no claim over DPO in the paper" : tag;
    return `${md >= 0 ? "+" : ""}${md.toFixed(3)} ± ${sd(d).toFixed(3)}: ${note}`;
  };
  const lines = [
    `## Preference methods against DPO (${task.name}, ${steps} updates x ${base.batch} pairs, ${base.eval.n} held-out prompts, mean ± sd over ${nSeeds} seeds)`,
    "",
    `Reference (SFT, ${base.sft.steps} steps) held-out accuracy ${pm(refAcc)}; ${pm(nPairs)} training pairs per seed from ${base.pairs.prompts} prompts x ${base.pairs.samples} samples.`,
    "",
    "| method | held-out accuracy | held-out pair accuracy | accuracy - DPO (per seed): paper's claim over DPO | seconds per run |",
    "|---|---:|---:|---|---:|",
    ...methods.map((m) => `| ${m} | ${pm(acc.get(m)!)} | ${pm(pairAcc.get(m)!)} | ${verdict(m)} | ${mean(secs.get(m)!).toFixed(0)} |`),
    "",
    `Claims: ${methods.filter((m) => m !== "dpo").map((m) => `${m}: ${CLAIM[m]}`).join("; ")}.`,
    ...(posterior.length > 0 ? [`InTRO's answer-conditioned context on the reference: mean token log-prob of correct demonstrations (64 held-out prompts) ${pm(posterior.map((p) => p.x))} under x, ${pm(posterior.map((p) => p.xy))} under x (+) y.`, ""] : []),
    ...(selfVerify.length > 0 ? [`laser-loss self-verification (held-out balanced accuracy of r_s > 0.5, 0.5 = chance): reference ${pm(selfVerify.map((x) => x[0]))} -> ${pm(selfVerify.map((x) => x[1]))}.`, ""] : []),
    "\"held\": the mean paired gain exceeds two standard errors; the papers measure win rates or benchmark accuracy of billion-parameter models, this is a 2-token-decisive toy task.",
  ];
  process.stdout.write(lines.join("\n") + "\n");
}

// Usage errors: one line and exit 2, as the creditflow command.
process.exitCode = await exitCodeOf(async () => {
  await main();
  return 0;
});
