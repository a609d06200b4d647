/**
 * `creditflow annotate`: adds the `signals` a method needs that only a language model or
 * generated code can give, so that `creditflow assign` can then run it.
 *
 *   capo:        K critiques per rollout from the judge (src/judge: retries, backoff, a
 *                concurrency limit and an answer cache) -> signals.critiques
 *   tp-grpo:     thought labels per step (prompt in prompts/tp-grpo.md) -> signals.thought_labels
 *   groundedprm: step verdicts (prompts/groundedprm.md; unparsable: 0) -> signals.verifications
 *   calm:        subgoals achieved per step (prompts/calm.md) -> signals.subgoals
 *   sotopia:     attributions per utterance and dimension, one call for all dimensions (the
 *                reference makes one per dimension) -> signals.attributions, episode_scores
 *   lare:        the factor function an LLM wrote (JavaScript), run per step in the QuickJS
 *                sandbox (src/sandbox) -> signals.factors
 *
 * The judge is an OpenAI-compatible server (--judge URL --served-model NAME) or a local GGUF
 * model run by node-llama-cpp (--judge-model FILE, src/judge/gguf-judge.ts), behind the same
 * JudgeClient. Texts come from each rollout's `meta`: `meta.problem` (the prompt) and `meta.steps` (one text
 * per step of `step_ends`) for the judge methods; for lare the function receives `meta.observations[t]` (any
 * JSON, null when absent) and the step's token ids. Output: the same rollouts with the signals
 * added, written atomically; a progress line and a cost line (calls, tokens, seconds) on stderr.
 */
import { readFileSync } from "node:fs";
import { InputError } from "../core/errors.js";
import { knownSignals } from "../core/registry.js";
import type { RolloutBatch } from "../core/batch.js";
import type { RolloutRow } from "../core/rows.js";
import { packRows, unpackRows } from "../core/rows.js";
import "../methods/index.js";
import { checkOutputPath } from "../io/files.js";
import { readRollouts, writeRollouts } from "../io/rollouts.js";
import { JudgeClient, JudgeError } from "../judge/client.js";
import { checkGgufFile, GgufJudge, ggufIdentity } from "../judge/gguf-judge.js";
import { buildStepMessages, parseAttributions, parseSubgoals, parseThoughtLabels, parseVerdicts } from "../judge/step-labels.js";
import { runInSandbox, SandboxError, DEFAULT_LIMITS } from "../sandbox/quickjs.js";
import { choiceFlag, commandHelp, defineCommand, intFlag, numberFlag, parseCommand, UsageError, type FlagValues } from "./args.js";

export const ANNOTATE_COMMAND = defineCommand({
  name: "annotate",
  usage: "--method capo|tp-grpo|groundedprm|calm|sotopia|lare --in FILE --out FILE [options]",
  description: `Adds the signals a method needs from a language model or from generated code:
  capo         K critiques per rollout from the judge -> signals.critiques; reads meta.problem
               and meta.steps (one text per step)
  tp-grpo      thought labels per step (C/W, or M/U for an incorrect response) -> signals.thought_labels
  groundedprm  step verdicts (+1/-1/0) -> signals.verifications
  calm         subgoals achieved per step -> signals.subgoals
  sotopia      0-3 attributions per utterance and dimension -> signals.attributions (+ episode_scores
               from meta.episode_scores)
  lare  an LLM-written factor function (JavaScript, --factor-code FILE defining
        evaluationFunc(observation, action)) run per step in a WebAssembly sandbox
        -> signals.factors; observation = meta.observations[t], action = the step's token ids
The judge (every method but lare) is either an OpenAI-compatible server (--judge URL
--served-model NAME) or a local GGUF model (--judge-model FILE, through node-llama-cpp: the
model's chat template, greedy decoding unless --temperature is set, one thread).`,
  flags: {
    method: { type: "string", value: "NAME", doc: "capo, tp-grpo, groundedprm, calm, sotopia or lare" },
    in: { type: "string", value: "FILE", doc: "rollouts (JSONL or .parquet)" },
    out: { type: "string", value: "FILE", doc: "annotated rollouts (written atomically)" },
    judge: { type: "string", value: "URL", doc: "judge server root (OpenAI-compatible /v1/chat/completions)" },
    "served-model": { type: "string", value: "NAME", doc: "with --judge: the model name the server serves" },
    "judge-model": { type: "string", value: "FILE", doc: "a local GGUF model as the judge (node-llama-cpp), instead of --judge" },
    temperature: { type: "string", value: "T", doc: "judge sampling temperature (default 0.7 for --judge, 0 = greedy for --judge-model)" },
    "max-tokens": { type: "string", value: "N", doc: "longest judge answer in tokens (default 2048)" },
    seed: { type: "string", value: "N", doc: "answer j of a rollout uses seed N + j (servers that honour seeds; --judge-model: default j)" },
    subgoals: { type: "string", value: "A,B", doc: "calm: preset subgoals (default: the judge proposes them)" },
    dimensions: { type: "string", value: "A,B", doc: "sotopia: dimensions (default goal,relationship,knowledge)" },
    k: { type: "string", value: "K", doc: "capo: critiques per rollout; the other judge methods: tries for a well-formed answer (default 4)" },
    cache: { type: "string", value: "DIR", doc: "judge answer cache directory (re-runs pay nothing twice)" },
    "factor-code": { type: "string", value: "FILE", doc: "lare: JavaScript defining evaluationFunc(observation, action)" },
    "time-limit": { type: "string", value: "MS", doc: `lare: per-call time limit (default ${DEFAULT_LIMITS.timeMs})` },
    quiet: { type: "boolean", doc: "no progress lines" },
    help: { type: "boolean", short: "h", doc: "this help" },
  },
  footer: `Example:
  creditflow annotate --method capo --judge http://127.0.0.1:8000 --served-model qwen --in r.jsonl --out r2.jsonl
  creditflow annotate --method capo --judge-model qwen2.5-1.5b-instruct-q4_k_m.gguf --in r.jsonl --out r2.jsonl
  creditflow assign --method capo --in r2.jsonl --out adv.jsonl`,
});

function metaOf(row: RolloutRow, line: number, file: string): Record<string, unknown> {
  const m = row.meta;
  if (typeof m !== "object" || m === null || Array.isArray(m)) throw new InputError(file, line, "meta", "annotate needs a 'meta' object with the texts");
  return m as Record<string, unknown>;
}

type JudgeMethod = "capo" | "tp-grpo" | "groundedprm" | "calm" | "sotopia";
type Flags = FlagValues<typeof ANNOTATE_COMMAND.flags>;

/** Which judge and how it answers, from the flags (validated before any input is read). */
interface JudgeSettings {
  method: JudgeMethod;
  /** The server root, or null for a local model. */
  url: string | null;
  servedModel: string;
  /** The GGUF file, or null for a server. */
  modelFile: string | null;
  k: number;
  temperature: number | undefined;
  maxTokens: number | undefined;
  seed: number | undefined;
  cacheDir: string | undefined;
}

function judgeSettings(f: Flags, method: JudgeMethod): JudgeSettings {
  const modelFile = f["judge-model"] ?? null;
  if (f.judge !== undefined && modelFile !== null) {
    throw new UsageError("annotate: --judge URL and --judge-model FILE are two judges; give one (a server's model name is --served-model NAME)");
  }
  if (f.judge === undefined && modelFile === null) throw new UsageError(`annotate: ${method} needs a judge: --judge URL --served-model NAME, or --judge-model FILE (a GGUF model)`);
  if (f.judge !== undefined && !f["served-model"]) throw new UsageError("annotate: --judge URL needs --served-model NAME (the model the server serves)");
  // A local model decodes greedily unless told otherwise; a server keeps the client's default.
  const temperature = f.temperature === undefined ? (modelFile !== null ? 0 : undefined) : numberFlag("temperature", f.temperature);
  if (temperature !== undefined && temperature < 0) throw new UsageError(`--temperature needs a number >= 0, got ${JSON.stringify(f.temperature)}`);
  const settings: JudgeSettings = {
    method,
    url: f.judge ?? null,
    servedModel: f["served-model"] ?? "",
    modelFile,
    k: f.k === undefined ? 4 : intFlag("k", f.k, 1),
    temperature,
    maxTokens: f["max-tokens"] === undefined ? undefined : intFlag("max-tokens", f["max-tokens"], 1),
    seed: f.seed === undefined ? undefined : intFlag("seed", f.seed, 0),
    cacheDir: f.cache,
  };
  if (modelFile !== null) checkGgufFile(modelFile);
  return settings;
}

export async function runAnnotate(argv: string[]): Promise<number> {
  const { values: f } = parseCommand(ANNOTATE_COMMAND, argv);
  if (f.help) {
    process.stdout.write(commandHelp(ANNOTATE_COMMAND));
    return 0;
  }
  const method = choiceFlag("method", f.method ?? "", ["capo", "tp-grpo", "groundedprm", "calm", "sotopia", "lare"] as const);
  if (!f.in || !f.out) throw new UsageError("annotate: --in and --out are required");
  checkOutputPath(f.out, [f.in]);
  const judge = method === "lare" ? null : judgeSettings(f, method);
  const log = (s: string) => {
    if (!f.quiet) process.stderr.write(s + "\n");
  };
  const batch = await readRollouts(f.in, { knownSignals: knownSignals() });
  const rows = unpackRows(batch);
  if (judge === null) await annotateFactors(f, batch, rows, log);
  else await annotateWithJudge(f, judge, batch, rows, log);
  await writeRollouts(f.out, packRows(rows, batch.lines, batch.source));
  return 0;
}

/** The judge methods: one client (server or local model) for every rollout, then the cost line. */
async function annotateWithJudge(f: Flags, judge: JudgeSettings, batch: RolloutBatch, rows: RolloutRow[], log: (s: string) => void): Promise<void> {
  const t0 = performance.now();
  const { method, k, temperature } = judge;
  // Every row's texts are checked before a model is loaded or a request sent.
  const stepsOf = rows.map((row, i) => {
    const meta = metaOf(row, batch.lines[i], batch.source);
    const steps = meta.steps;
    const nSteps = row.step_ends?.length ?? 0;
    if (typeof meta.problem !== "string") throw new InputError(batch.source, batch.lines[i], "meta.problem", `${method}'s judge needs the problem text`);
    if (!Array.isArray(steps) || steps.length !== nSteps || steps.some((s) => typeof s !== "string")) throw new InputError(batch.source, batch.lines[i], "meta.steps", `expected ${nSteps} step texts (one per step_ends entry)`);
    return { problem: meta.problem, steps: steps as string[] };
  });
  const local = judge.modelFile === null ? null : await GgufJudge.open(judge.modelFile);
  try {
    const settings = { k, cacheDir: judge.cacheDir, temperature, maxTokens: judge.maxTokens, seed: judge.seed };
    const client = local === null
      ? new JudgeClient({ baseUrl: judge.url as string, model: judge.servedModel, ...settings })
      // The cache key names the model by its bytes only when answers are kept across runs.
      : new JudgeClient({ transport: local, model: judge.cacheDir === undefined ? `gguf:${local.target}` : await ggufIdentity(local.target), ...settings });
    if (local !== null) log(`annotate: judge ${local.target}, chat format ${local.formatName}, temperature ${temperature}, context ${local.contextSize} tokens`);
    let done = 0;
    let malformed = 0;
    const presetSubgoals = f.subgoals ? f.subgoals.split(",").map((x) => x.trim()).filter(Boolean) : [];
    const dimensions = (f.dimensions ?? "goal,relationship,knowledge").split(",").map((x) => x.trim()).filter(Boolean);
    await Promise.all(rows.map(async (row, i) => {
      const { problem, steps } = stepsOf[i];
      try {
        if (method === "capo") {
          const r = await client.critique(problem, steps);
          malformed += r.malformed;
          row.signals = { ...(row.signals ?? {}), critiques: r.critiques };
        } else {
          // One judgement per rollout; a malformed answer is asked again (another sample), up to k times.
          const signals = (row.signals ?? {}) as Record<string, unknown>;
          const correct = typeof signals.solved === "boolean" ? signals.solved : batch.reward[i] > 0;
          const scores = (row.meta as Record<string, unknown>).episode_scores;
          if (method === "sotopia" && (typeof scores !== "object" || scores === null || Array.isArray(scores))) throw new InputError(batch.source, batch.lines[i], "meta.episode_scores", "sotopia needs the episode's score per dimension");
          const messages = buildStepMessages(method, problem, steps, correct, { subgoals: presetSubgoals, dimensions, scores });
          const parse = (answer: string): unknown =>
            method === "tp-grpo" ? parseThoughtLabels(answer, steps.length, correct)
            : method === "groundedprm" ? parseVerdicts(answer, steps.length)
            : method === "calm" ? parseSubgoals(answer, steps.length)
            : parseAttributions(answer, steps.length, dimensions);
          let parsed: unknown = null;
          for (let j = 0; j < k && parsed === null; j++) {
            parsed = parse(await client.chat(messages, j));
            if (parsed === null) malformed++;
          }
          if (method === "groundedprm") {
            // GroundedPRM scores an unparsable verdict 0.
            row.signals = { ...signals, verifications: parsed ?? new Array(steps.length).fill(0) };
          } else {
            if (parsed === null) throw new InputError(batch.source, batch.lines[i], "meta.steps", `the judge gave no well-formed answer line in ${k} answers`);
            const key = method === "tp-grpo" ? "thought_labels" : method === "calm" ? "subgoals" : "attributions";
            row.signals = { ...signals, [key]: parsed, ...(method === "sotopia" ? { episode_scores: scores } : {}) };
          }
        }
      } catch (e) {
        // A judge that fails for good (retries spent, a refusal, a prompt too long for a local model) stops the run with one line.
        if (e instanceof JudgeError) throw new InputError(batch.source, batch.lines[i], "meta.steps", e.message);
        throw e;
      }
      if (++done % Math.max(1, Math.floor(rows.length / 10)) === 0 || done === rows.length) log(`annotate: ${done}/${rows.length} rollouts judged`);
    }));
    const s = client.stats;
    const tokens = `${s.promptTokens} prompt + ${s.completionTokens} answer tokens${s.unreportedUsage > 0 ? ` (${s.unreportedUsage} answers without a token count)` : ""}`;
    log(`annotate: cost ${s.requests} judge calls (${s.cacheHits} cached, ${s.retries} retries, ${malformed} malformed answers), ${tokens}, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    await local?.close();
  }
}

/** lare: the factor function an LLM wrote, run per step in the sandbox. */
async function annotateFactors(f: Flags, batch: RolloutBatch, rows: RolloutRow[], log: (s: string) => void): Promise<void> {
  const t0 = performance.now();
  if (!f["factor-code"]) throw new UsageError("annotate: lare needs --factor-code FILE");
  const codeFile = f["factor-code"];
  let code: string;
  try {
    code = readFileSync(codeFile, "utf8");
  } catch (e) {
    throw new InputError(codeFile, 0, "", `cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const limits = { ...DEFAULT_LIMITS, timeMs: f["time-limit"] === undefined ? DEFAULT_LIMITS.timeMs : intFlag("time-limit", f["time-limit"], 1) };
  let calls = 0;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    const ends = row.step_ends ?? [];
    const obs = (row.meta as Record<string, unknown> | undefined)?.observations;
    const args = ends.map((end, t) => [Array.isArray(obs) ? (obs[t] ?? null) : null, row.tokens.slice(t === 0 ? 0 : ends[t - 1] + 1, end + 1)]);
    let out: unknown[];
    try {
      out = await runInSandbox(code, "evaluationFunc", args, limits);
    } catch (e) {
      if (e instanceof SandboxError) throw new InputError(codeFile, 0, "", `on rollout line ${batch.lines[i]}: ${e.message}`);
      throw e;
    }
    calls += args.length;
    const factors = out.map((v, t) => {
      const flat = Array.isArray(v) ? v.flat() : v;
      if (!Array.isArray(flat) || flat.some((x) => typeof x !== "number" || !Number.isFinite(x))) throw new InputError(codeFile, 0, "", `on rollout line ${batch.lines[i]} step ${t}: evaluationFunc must return a list of finite numbers`);
      return flat as number[];
    });
    row.signals = { ...(row.signals ?? {}), factors };
  }
  log(`annotate: cost ${calls} sandboxed calls, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
