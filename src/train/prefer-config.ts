/**
 * Configuration of `creditflow prefer` (preference training of the built-in policy), its valibot
 * schema in the style of src/train/schema.ts, and its defaults. Every key is validated with its
 * path, on the command line and in a checkpoint.
 */
import * as v from "valibot";
import { ConfigError } from "../core/errors.js";
import { DEFAULT_TRAIN } from "./config.js";
import { MODEL_SCHEMA, OPTIM_SCHEMA, schemaProblem } from "./schema.js";
import type { ModelConfig } from "./policy/model.js";
import type { OptimConfig } from "./policy/optim.js";
import type { SftConfig } from "./sft.js";

/** The pairwise and distillation objectives `prefer --method` trains. */
export const PREFER_METHODS = ["dpo", "ipo", "tdpo1", "tdpo2", "tgdpo", "cdpo", "t-reg", "aligndistil", "intro", "rmt", "laser-loss"] as const;
/** The methods that train on something other than the pairs: InTRO and LaSeR's loss on their own samples, RMT on a corpus (pairs only measure them). */
export const UNPAIRED_METHODS: readonly PreferMethod[] = ["intro", "rmt", "laser-loss"];
export type PreferMethod = (typeof PREFER_METHODS)[number];

/** The extra models each method needs, trained before the policy (the reference is the warm start). */
export const AUX_MODELS: Record<PreferMethod, readonly AuxName[]> = {
  dpo: [],
  ipo: [],
  tdpo1: [],
  tdpo2: [],
  tgdpo: ["dpo"],
  cdpo: ["pos", "neg"],
  "t-reg": ["pos", "neg"],
  aligndistil: ["dpo", "rdpo"],
  intro: [],
  rmt: [],
  "laser-loss": [],
};
/** dpo: DPO from the reference; rdpo: DPO with chosen and rejected swapped; pos / neg: SFT on the chosen / rejected responses. */
export type AuxName = "dpo" | "rdpo" | "pos" | "neg";

export interface PreferConfig {
  task: string;
  method: PreferMethod;
  seed: number;
  steps: number;
  batch: number;
  beta: number;
  methodOptions: {
    alpha: number | null;
    tvdScale: number;
    aggregation: "position" | "sequence";
    /** InTRO's n, candidates per position (the rationale's own token included). */
    candidates: number;
    /** InTRO's clip of the correction factor. */
    clipMax: number;
    /** Samples per prompt (InTRO's and LaSeR's G) or per selected token (RMT's G); null: 4, 8 and 8. */
    rollouts: number | null;
    /** RMT: NTP weight lambda, RL tokens per corpus sequence |C|, length-reward weight w, corpus size, curriculum endpoints (easy, medium, hard). */
    lambda: number;
    rlTokens: number;
    lengthWeight: number;
    corpus: number;
    curriculumStart: [number, number, number];
    curriculumEnd: [number, number, number];
  };
  pairs: { prompts: number; heldout: number; samples: number; temperature: number };
  aux: { steps: number; lr: number };
  model: Omit<ModelConfig, "vocabSize">;
  optim: OptimConfig;
  warmStart: string | null;
  sft: SftConfig;
  eval: { every: number; n: number; seed: number };
  checkpointEvery: number;
}

/** G: samples per prompt (InTRO, the paper's 4; LaSeR, the scripts' 8) or per selected token (RMT, the notes' 8). */
export function methodRollouts(c: PreferConfig): number {
  return c.methodOptions.rollouts ?? (c.method === "intro" ? 4 : 8);
}

/** Default alpha per method (methods.md): TDPO2 0.5, TGDPO 0.5, T-REG 0.25 ([PROPOSAL]). */
export function methodAlpha(c: PreferConfig): number {
  if (c.methodOptions.alpha !== null) return c.methodOptions.alpha;
  return c.method === "t-reg" ? 0.25 : 0.5;
}

/**
 * The default run, the one bench:prefer measures (docs/benchmarks.md): on `decisive` a small model
 * learns the filler at once and is unsure at the two decisive tokens, so pairs differ where credit
 * matters; 100 SFT steps leave the reference near 50% greedy accuracy.
 */
export const DEFAULT_PREFER: PreferConfig = {
  task: "decisive",
  method: "dpo",
  seed: 0,
  steps: 20,
  batch: 32,
  beta: 0.1,
  methodOptions: {
    alpha: null, tvdScale: 10, aggregation: "position",
    candidates: 5, clipMax: 200, rollouts: null,
    lambda: 0.1, rlTokens: 1, lengthWeight: 0.2, corpus: 512, curriculumStart: [0.6, 0.3, 0.1], curriculumEnd: [0.1, 0.3, 0.6],
  },
  pairs: { prompts: 192, heldout: 64, samples: 8, temperature: 1 },
  aux: { steps: 20, lr: 3e-4 },
  model: { ...DEFAULT_TRAIN.model },
  // DPO on decisive from that reference, 30 updates of 32 pairs (measured): lr 3e-4 took greedy
  // accuracy from 0.495 to 0.22, 1e-4 to 0.46, 3e-5 to 0.45.
  optim: { ...DEFAULT_TRAIN.optim, lr: 1e-4, warmupSteps: 4 },
  warmStart: null,
  sft: { ...DEFAULT_TRAIN.sft, steps: 100, lr: 2e-3 },
  eval: { every: 10, n: 200, seed: 12345 },
  checkpointEvery: 10,
};

const int = (lo: number, hi: number, doc: string) => v.pipe(v.number(), v.integer(), v.minValue(lo), v.maxValue(hi), v.description(doc));
const num = (lo: number, hi: number, doc: string) => v.pipe(v.number(), v.finite(), v.minValue(lo), v.maxValue(hi), v.description(doc));
const section = <E extends v.ObjectEntries>(entries: E, doc: string) => v.pipe(v.strictObject(entries), v.description(doc));
const MAX = Number.MAX_SAFE_INTEGER;

export const PREFER_SCHEMA = v.strictObject({
  task: v.pipe(v.string(), v.description("verifiable task (addition, addition-3d, countdown, decisive, addition-<d>d[-u])")),
  method: v.pipe(v.picklist(PREFER_METHODS), v.description("preference objective")),
  seed: int(0, 2 ** 31 - 1, "seed of every random choice"),
  steps: int(0, MAX, "policy updates"),
  batch: int(1, 4096, "preference pairs per update"),
  beta: num(1e-6, 1e3, "beta of the implicit reward (all methods; AlignDistil's KL coefficient)"),
  methodOptions: section(
    {
      alpha: v.pipe(v.nullable(v.pipe(v.number(), v.finite(), v.minValue(0), v.maxValue(100))), v.description("TDPO2's KL weight, TGDPO's guidance, T-REG's regulariser weight (null: 0.5, 0.5, 0.25)")),
      tvdScale: num(0, 1e3, "AlignDistil's TVD scale (the code's --beta2)"),
      aggregation: v.pipe(v.picklist(["position", "sequence"] as const), v.description("cDPO's aggregation: per aligned position (the code) or one sequence sum")),
      candidates: int(1, 1024, "InTRO's n: candidates per position, the rationale's own token included (the paper: 5)"),
      clipMax: num(0, 1e6, "InTRO's upper clip of the correction factor (the paper: 200)"),
      rollouts: v.pipe(v.nullable(int(1, 1024, "")), v.description("samples per prompt (InTRO's, LaSeR's G) or per selected token (RMT's G); null: 4 (InTRO), 8 (LaSeR, RMT)")),
      lambda: num(0, 1e3, "RMT's NTP weight lambda"),
      rlTokens: int(0, 1e6, "RMT's RL tokens per corpus sequence |C| (not stated by the paper)"),
      lengthWeight: num(0, 1, "RMT's length-reward weight w ([PROPOSAL] 0.2)"),
      corpus: int(1, 1e6, "RMT's corpus: demonstrations of the task's training prompts"),
      curriculumStart: v.pipe(v.tuple([num(0, 1, ""), num(0, 1, ""), num(0, 1, "")]), v.description("RMT's tier probabilities (easy, medium, hard) before 0.3 T")),
      curriculumEnd: v.pipe(v.tuple([num(0, 1, ""), num(0, 1, ""), num(0, 1, "")]), v.description("RMT's tier probabilities from 0.7 T")),
    },
    "options of the token-level methods",
  ),
  pairs: section(
    {
      prompts: int(1, 1e6, "training prompts sampled for pairs (a prompt with no correct or no incorrect sample gives none)"),
      heldout: int(0, 1e6, "held-out prompts for the held-out pair set"),
      samples: int(2, 1024, "responses sampled per prompt from the reference"),
      temperature: num(1e-3, 100, "sampling temperature of the pair responses"),
    },
    "how pairs are built from the task's verifier",
  ),
  aux: section({ steps: int(0, MAX, "updates of each auxiliary model"), lr: num(0, 10, "their learning rate") }, "the reference-derived models a method needs"),
  model: MODEL_SCHEMA,
  optim: OPTIM_SCHEMA,
  warmStart: v.pipe(v.nullable(v.string()), v.description("a policy file from `creditflow sft` (the reference); null: run the SFT below")),
  sft: section(
    {
      steps: int(0, MAX, "warm-start steps"),
      batch: int(1, 4096, "demonstrations per step"),
      lr: num(0, 10, "warm-start learning rate"),
      warmupSteps: int(0, MAX, "warm-up steps of the warm start"),
      seed: int(0, 2 ** 31 - 1, "seed of the warm start (added to the run's seed)"),
    },
    "the supervised warm start (the reference model)",
  ),
  eval: section(
    {
      every: int(0, MAX, "evaluate every this many steps (0: only at the end)"),
      n: int(0, 100000, "held-out prompts for greedy accuracy"),
      seed: int(0, 2 ** 31 - 1, "seed of the held-out prompts"),
    },
    "held-out evaluation",
  ),
  checkpointEvery: int(0, MAX, "checkpoint every this many steps and at the last (0: never)"),
});

// The schema and the interface describe the same object (checked by the compiler).
const _defaultsFit: v.InferOutput<typeof PREFER_SCHEMA> = DEFAULT_PREFER;
const _schemaGivesConfig = (c: v.InferOutput<typeof PREFER_SCHEMA>): PreferConfig => c;
void _defaultsFit;
void _schemaGivesConfig;

export function validatePreferConfig(c: unknown, root = "config"): asserts c is PreferConfig {
  const problem = schemaProblem(PREFER_SCHEMA, c);
  if (problem) throw new ConfigError(`${root}: ${problem}`);
  const m = (c as PreferConfig).model;
  const o = (c as PreferConfig).methodOptions;
  for (const k of ["curriculumStart", "curriculumEnd"] as const) {
    const sum = o[k][0] + o[k][1] + o[k][2];
    if (Math.abs(sum - 1) > 1e-9) throw new ConfigError(`${root}.methodOptions.${k}: the tier probabilities sum to ${sum}, not 1`);
  }
  if (m.dModel % m.nHeads !== 0) throw new ConfigError(`${root}.model.nHeads: ${m.nHeads} does not divide dModel ${m.dModel}`);
}
