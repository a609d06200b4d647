/**
 * Credit fidelity: every method's per-token credit against the oracle, on the same sampled
 * groups. One set of groups per task is sampled from the warm-start policy; each method assigns
 * credit to exactly those rollouts (built as the trainer builds them), and its credit is
 * compared with the oracle A* over all response tokens.
 *
 * Credit is advantage x loss weight: a trainer multiplies each token's policy-gradient term by
 * both (SPO's probability mask and D3S select or reweight tokens through the weight), so that
 * product is what the token is pushed by.
 *
 * Extra samples: a method that needs more than the group (SPO-chain's Monte Carlo values at its
 * cutpoints) gets them from the same policy, with the trainer's own planner and sample count,
 * and the report charges the tokens to that method. The oracle's own continuations are the
 * measuring instrument and are charged to nobody.
 */
import type { Task } from "../tasks/types.js";
import { getMethod, listMethods } from "../core/registry.js";
import "../methods/index.js";
import { Policy } from "../train/policy/model.js";
import { Rng } from "../train/rng.js";
import type { SampleOptions } from "../train/policy/sampler.js";
import { PolicySampling, type OpenSampler, type SamplerKind } from "../train/policy-sampling.js";
import { sampleGroups, type BatchSampler, type Rollout } from "../train/rollouts.js";
import { adapterFor, missingInputs, needsOwnEpisodes } from "../train/adapters/index.js";
import { POLICY_FILE_SIGNALS } from "../train/model-signals.js";
import { assignCredit } from "../train/credit.js";
import { DEFAULT_TRAIN, type TrainConfig } from "../train/config.js";
import { computeOracle, exactDecisiveValues, type OracleResult } from "./oracle.js";
import { mean, pearson, spearman } from "./stats.js";
import { BASELINE_METHOD } from "./baseline.js";
import type { WarmStart } from "./warmstart.js";

export interface FidelityConfig {
  /** Prompts (groups) sampled per task. */
  groups: number;
  /** Responses per prompt (G). */
  groupSize: number;
  /** Monte Carlo continuations per prefix for the oracle. */
  K: number;
  seed: number;
  /** SPO-chain's continuations per cutpoint (the trainer's spoChain.samples). */
  spoChainSamples: number;
  /** Responses shown as token heatmaps. */
  heatmaps: number;
  /** Sampling threads (1 = in this thread; results are identical either way). */
  workers: number;
  /** What samples the groups, the oracle's continuations and the methods' extra samples (the trainer's config.sampler). */
  sampler: SamplerKind;
}

export const DEFAULT_FIDELITY: FidelityConfig = { groups: 8, groupSize: 8, K: 16, seed: 1, spoChainSamples: DEFAULT_TRAIN.spoChain.samples, heatmaps: 3, workers: 1, sampler: "builtin" };

export interface MethodFidelity {
  method: string;
  /** Rank and linear correlation with A*, pooled over every token of every group. */
  spearman: number;
  pearson: number;
  /** The same per group, averaged over the groups where both sides vary (groupsDefined of them). */
  spearmanGroupMean: number;
  /**
   * 95% bootstrap interval (groups resampled with replacement) of this method's pooled Spearman
   * minus GRPO's on the same resample; null for GRPO itself or when GRPO was not run.
   */
  spearmanDiffCi: [number, number] | null;
  pearsonGroupMean: number;
  groupsDefined: number;
  /** Share of decisive tokens (with A* outside its 95% interval of 0) whose credit has A*'s sign; null without decisive tokens. */
  signAgreement: number | null;
  signN: number;
  /** sum |credit| on decisive tokens / sum |credit| on all tokens; null without decisive tokens or credit. */
  massShare: number | null;
  /** Tokens sampled beyond the groups for this method's inputs. */
  extraSampledTokens: number;
  note: string;
}

export interface Heatmap {
  tokens: string[];
  reward: number;
  decisive: number[];
  oracle: number[];
  ci: number[];
  credit: Record<string, number[]>;
}

export interface FidelityTaskResult {
  task: string;
  warmStartAccuracy: number;
  config: FidelityConfig;
  responses: number;
  responseTokens: number;
  groupSampledTokens: number;
  rewardMean: number;
  /** Groups whose rewards are not all equal (where outcome-based methods give any credit). */
  mixedGroups: number;
  oracle: {
    K: number;
    sampledTokens: number;
    states: number;
    meanCi: number;
    /** Share of tokens whose A* differs from 0 beyond its 95% interval. */
    significantShare: number;
    massShare: number | null;
    /** Split-half reliability of A* (see OracleResult); sqrt of it bounds any method's Pearson. */
    reliability: number;
    exactAudit: OracleResult["exactAudit"];
    exactNote: string;
  };
  methods: MethodFidelity[];
  skipped: { method: string; reason: string }[];
  heatmaps: Heatmap[];
  seconds: number;
}

/** Every method fidelity can try: the registry. */
export function fidelityMethodNames(): string[] {
  return listMethods().map((m) => m.name);
}

/** Why a method cannot run on sampled groups of these tasks, or null if it can be tried. */
function cannotProduce(method: string, task: Task): string | null {
  if ((getMethod(method).requires ?? []).includes("values")) return "needs critic values; fidelity scores the warm start, where no critic has been trained yet";
  const fromFile = POLICY_FILE_SIGNALS.find((p) => (getMethod(method).requiredSignals ?? []).includes(p.signal));
  if (fromFile) return `needs signals.${fromFile.signal} from ${fromFile.what} (${fromFile.flag}), which the benchmark does not load`;
  const own = needsOwnEpisodes(method, task);
  if (own) return `${own}; fidelity scores shared groups`;
  const missing = missingInputs(method, task);
  return missing.length ? `needs ${missing.join(", ")}, which task '${task.name}' does not provide to the benchmark` : null;
}

/**
 * Credit (advantage x weight) per rollout for one method, and the extra tokens it sampled: the
 * trainer's route (the method's adapter for extra sampling, then `assignCredit`), on the shared groups.
 */
async function methodCredit(method: string, task: Task, rollouts: Rollout[], policy: Policy, sampler: BatchSampler, options: SampleOptions, rng: Rng, cfg: FidelityConfig): Promise<{ credit: number[][]; extra: number; note: string }> {
  const config: TrainConfig = { ...DEFAULT_TRAIN, method, methodOptions: {}, spoChain: { samples: cfg.spoChainSamples } };
  const adapter = adapterFor(method, config);
  const rs = rollouts.map((r) => ({ ...r, signals: undefined as Record<string, unknown> | undefined }));
  let extra = 0;
  let note = adapter.benchNote ?? "";
  if (adapter.enrich) {
    const e = await adapter.enrich({ config, task, sampler, options, rng, step: 0 }, rs);
    extra = e.sampledTokens;
    note = e.note;
  }
  const requires: readonly string[] = getMethod(method).requires ?? [];
  const out = assignCredit({
    method, methodOptions: {}, rollouts: rs, policy, pad: task.vocab.pad, temperature: options.temperature,
    // At the warm start the policy is its own reference.
    refLogprobs: requires.includes("ref_logprobs") ? rs.map((r) => r.logprobs) : null, source: `creditbench ${task.name}`,
  });
  if (out.modelSignals.length) note = `${out.modelSignals.join(", ")} from one forward pass of the policy`;
  if (requires.includes("ref_logprobs")) note = "reference = the warm start itself, so ref_logprobs = logprobs";
  const credit = out.adv.map((a, i) => Array.from(a, (x, k) => x * (out.weights ? out.weights[i][k] : 1)));
  return { credit, extra, note };
}

/** Fidelity metrics of one method's credit against the oracle. */
export function scoreCredit(method: string, rollouts: readonly Rollout[], oracle: OracleResult, credit: readonly (readonly number[])[], extra: number, note: string): MethodFidelity {
  const allA: number[] = [], allC: number[] = [];
  const byGroup = new Map<string, { a: number[]; c: number[] }>();
  let agree = 0, signN = 0, decMass = 0, totMass = 0, hasDecisive = false;
  rollouts.forEach((r, i) => {
    const o = oracle.rows[i];
    const g = byGroup.get(r.group) ?? { a: [], c: [] };
    byGroup.set(r.group, g);
    const dec = new Set(r.verdict.decisive ?? []);
    if (r.verdict.decisive !== undefined) hasDecisive = true;
    for (let t = 0; t < r.tokens.length; t++) {
      const a = o.advantages[t], c = credit[i][t];
      allA.push(a);
      allC.push(c);
      g.a.push(a);
      g.c.push(c);
      totMass += Math.abs(c);
      if (dec.has(t)) {
        decMass += Math.abs(c);
        if (Math.abs(a) > o.ci[t]) {
          signN++;
          if (Math.sign(c) === Math.sign(a)) agree++;
        }
      }
    }
  });
  const sp: number[] = [], pe: number[] = [];
  for (const g of byGroup.values()) {
    const s = spearman(g.a, g.c), p = pearson(g.a, g.c);
    if (Number.isFinite(s) && Number.isFinite(p)) {
      sp.push(s);
      pe.push(p);
    }
  }
  return {
    method, spearman: spearman(allA, allC), pearson: pearson(allA, allC), spearmanDiffCi: null,
    spearmanGroupMean: mean(sp), pearsonGroupMean: mean(pe), groupsDefined: sp.length,
    signAgreement: hasDecisive && signN > 0 ? agree / signN : null, signN,
    massShare: hasDecisive && totMass > 0 ? decMass / totMass : null,
    extraSampledTokens: extra, note,
  };
}

/** Bootstrap resamples for the fidelity differences to GRPO. */
const BOOTSTRAP = 400;

/**
 * 95% percentile interval of spearman(A*, credit) - spearman(A*, GRPO credit), resampling
 * groups with replacement (tokens of a group are not independent, groups are). Both methods
 * see the same resample, so the interval is for the paired difference.
 */
export function bootstrapDiff(rollouts: readonly Rollout[], oracle: OracleResult, credit: readonly (readonly number[])[], base: readonly (readonly number[])[], B: number, rng: Rng): [number, number] | null {
  const groups = new Map<string, number[]>();
  rollouts.forEach((r, i) => groups.set(r.group, [...(groups.get(r.group) ?? []), i]));
  const members = [...groups.values()];
  const diffs: number[] = [];
  for (let b = 0; b < B; b++) {
    const a: number[] = [], c: number[] = [], g: number[] = [];
    for (let k = 0; k < members.length; k++) {
      for (const i of members[rng.int(members.length)]) {
        a.push(...oracle.rows[i].advantages);
        c.push(...credit[i]);
        g.push(...base[i]);
      }
    }
    const d = spearman(a, c) - spearman(a, g);
    if (Number.isFinite(d)) diffs.push(d);
  }
  if (diffs.length < B / 2) return null;
  diffs.sort((x, y) => x - y);
  const q = (p: number) => diffs[Math.min(diffs.length - 1, Math.max(0, Math.round(p * (diffs.length - 1))))];
  return [q(0.025), q(0.975)];
}

function pickHeatmaps(task: Task, rollouts: readonly Rollout[], n: number): number[] {
  // Prefer groups with mixed rewards, one right and one wrong response each: that is where
  // methods can differ at all.
  const picked: number[] = [];
  const groups = new Map<string, number[]>();
  rollouts.forEach((r, i) => groups.set(r.group, [...(groups.get(r.group) ?? []), i]));
  for (const members of groups.values()) {
    if (picked.length >= n) break;
    const good = members.find((i) => rollouts[i].verdict.reward > 0);
    const bad = members.find((i) => rollouts[i].verdict.reward === 0);
    if (good !== undefined && bad !== undefined) {
      picked.push(good);
      if (picked.length < n) picked.push(bad);
    }
  }
  for (let i = 0; i < rollouts.length && picked.length < n; i++) if (!picked.includes(i)) picked.push(i);
  void task;
  return picked;
}

export async function runFidelity(task: Task, warm: WarmStart, methods: readonly string[], cfg: FidelityConfig, log: (s: string) => void): Promise<FidelityTaskResult> {
  const t0 = performance.now();
  const opts: SampleOptions = { temperature: DEFAULT_TRAIN.sampling.temperature, topP: DEFAULT_TRAIN.sampling.topP, eos: task.vocab.eos };
  const rng = new Rng(cfg.seed * 7919 + 101);
  const policy = new Policy(warm.model, warm.weights, false);
  const sampling = new PolicySampling(cfg.sampler, warm.model, task.vocab, cfg.workers);
  let open: OpenSampler | null = null;
  try {
    open = await sampling.open(warm.weights, opts);
    const sampler = open.sampler;
    const prompts = Array.from({ length: cfg.groups }, () => task.samplePrompt(rng.fn()));
    const gen = await sampleGroups(task, sampler, prompts, cfg.groupSize, opts, rng, 0);
    const rollouts = gen.rollouts;
    log(`fidelity ${task.name}: ${rollouts.length} responses, mean reward ${mean(rollouts.map((r) => r.verdict.reward)).toFixed(3)}; oracle with K=${cfg.K}`);
    const exact = exactDecisiveValues(task, policy, rollouts, opts.temperature);
    const oracle = await computeOracle(task, sampler, rollouts, cfg.K, opts, rng.fork(), exact);
    log(`fidelity ${task.name}: oracle ${oracle.states} prefixes, ${oracle.sampledTokens} continuation tokens (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    const results: MethodFidelity[] = [];
    const skipped: { method: string; reason: string }[] = [];
    const credits = new Map<string, number[][]>();
    for (const m of methods) {
      const why = cannotProduce(m, task);
      if (why) {
        skipped.push({ method: m, reason: why });
        continue;
      }
      try {
        // Each method draws its extra samples from its own generator, so adding or removing a
        // method never changes another method's numbers.
        const mrng = new Rng(cfg.seed * 7919 + 303 + [...m].reduce((s, ch) => (s * 31 + ch.charCodeAt(0)) >>> 0, 7));
        const { credit, extra, note } = await methodCredit(m, task, rollouts, policy, sampler, opts, mrng, cfg);
        credits.set(m, credit);
        results.push(scoreCredit(m, rollouts, oracle, credit, extra, note));
      } catch (e) {
        skipped.push({ method: m, reason: (e as Error).message.replace(/\s+/g, " ") });
      }
    }
    const baseCredit = credits.get(BASELINE_METHOD);
    if (baseCredit) {
      for (const r of results) {
        const c = credits.get(r.method);
        if (r.method !== BASELINE_METHOD && c) r.spearmanDiffCi = bootstrapDiff(rollouts, oracle, c, baseCredit, BOOTSTRAP, new Rng(cfg.seed * 7919 + 505));
      }
    }
    const oracleCredit = oracle.rows.map((o) => o.advantages);
    const oracleScore = scoreCredit("oracle", rollouts, oracle, oracleCredit, 0, "");
    const allCi = oracle.rows.flatMap((o) => o.ci);
    const sig = oracle.rows.reduce((s, o) => s + o.advantages.filter((a, t) => Math.abs(a) > o.ci[t]).length, 0);
    const groupRewards = new Map<string, Set<number>>();
    for (const r of rollouts) groupRewards.set(r.group, (groupRewards.get(r.group) ?? new Set()).add(r.verdict.reward));
    const heatmaps: Heatmap[] = pickHeatmaps(task, rollouts, cfg.heatmaps).map((i) => {
      const credit: Record<string, number[]> = {};
      for (const [m, c] of credits) credit[m] = c[i];
      return {
        tokens: rollouts[i].tokens.map((t) => task.vocab.decode([t])), reward: rollouts[i].verdict.reward,
        decisive: rollouts[i].verdict.decisive ?? [], oracle: oracle.rows[i].advantages, ci: oracle.rows[i].ci, credit,
      };
    });
    const isDecisive = exact.some((x) => x !== null);
    return {
      task: task.name, warmStartAccuracy: warm.evalAccuracy, config: cfg, responses: rollouts.length,
      responseTokens: rollouts.reduce((s, r) => s + r.tokens.length, 0), groupSampledTokens: gen.sampledTokens,
      rewardMean: mean(rollouts.map((r) => r.verdict.reward)),
      mixedGroups: [...groupRewards.values()].filter((s) => s.size > 1).length,
      oracle: {
        K: cfg.K, sampledTokens: oracle.sampledTokens, states: oracle.states, meanCi: mean(allCi),
        significantShare: allCi.length ? sig / allCi.length : 0, massShare: oracleScore.massShare, reliability: oracle.reliability, exactAudit: oracle.exactAudit,
        exactNote: isDecisive
          ? "V before the gt letter is exact (full next-token distribution); every other V is Monte Carlo"
          : "Monte Carlo at every prefix (the reward depends on the whole response; no exact enumeration)",
      },
      methods: results, skipped, heatmaps, seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    open?.release();
    await sampling.close();
    policy.dispose();
  }
}
