/**
 * `creditflow rollout`: samples contract rollouts (docs/rollouts.md) from the built-in policy,
 * a GGUF model (llama.cpp) or an inference server, in groups or trees, ready for `assign`.
 */
import { choiceFlag, commandHelp, defineCommand, exitCodeOf, intFlag, numberFlag, parseCommand, UsageError } from "./args.js";
import { ConfigError } from "../core/errors.js";
import type { RolloutRow } from "../core/rows.js";
import { atomicFileSink, checkOutputPath, readInput } from "../io/files.js";
import { rolloutsJsonl } from "../io/jsonl.js";
import { resolveTask } from "../train/tasks.js";
import type { Task, TaskPrompt } from "../tasks/types.js";
import { EOS } from "../tasks/vocab.js";
import { mulberry32 } from "../core/random.js";
import { Rng } from "../train/rng.js";
import { readPolicyFile } from "../train/checkpoint.js";
import { useBackend } from "../train/policy/tf.js";
import type { RolloutBackend, SampleOptions } from "../rollout/backend.js";
import { BackendError } from "../rollout/backend.js";
import { parsePromptsJsonl, type RolloutPrompt } from "../rollout/prompts.js";
import { sampleTree, type TreePlan, type TreePath } from "../rollout/tree.js";
import { SERVER_KINDS, type ServerKind } from "../rollout/openai.js";

export const ROLLOUT_COMMAND = defineCommand({
  name: "rollout",
  usage: "--backend builtin|gguf|openai (--task NAME | --prompts FILE) --group G --out FILE [options]",
  description: `Samples G responses per prompt (or a tree per prompt) with per-token log-probs of the
sampling distribution and writes contract rollouts for \`creditflow assign\`. Backends: the
built-in policy (a policy file from \`creditflow sft\`), a GGUF model through llama.cpp
(node-llama-cpp), or a vLLM / SGLang / llama.cpp server (docs/backends.md: the server flags RL
needs). Rewards come from the task's verifier with --task; a --prompts file is verified only
when --task is given and its rows carry an "answer", else the reward is 0.`,
  flags: {
    backend: { type: "string", value: "B", doc: "builtin, gguf or openai" },
    model: { type: "string", value: "FILE", doc: "builtin: a policy file (creditflow sft); gguf: a .gguf file" },
    url: { type: "string", value: "URL", doc: "openai: the server root, e.g. http://127.0.0.1:8000" },
    server: { type: "string", value: "KIND", doc: "openai: vllm (default), sglang or llamacpp" },
    "served-model": { type: "string", value: "NAME", doc: "openai: the model name the server serves (vLLM's 'model' field)" },
    "server-logprobs": { type: "string", value: "MODE", doc: "vllm: raw (vLLM's default --logprobs-mode) or processed\n(needed for temperature != 1 or top-p < 1)" },
    "api-key": { type: "string", value: "KEY", doc: "openai: bearer token" },
    concurrency: { type: "string", value: "N", doc: "openai: most requests in flight (default 16)" },
    timeout: { type: "string", value: "S", doc: "openai: seconds per request attempt (default 300)" },
    task: { type: "string", value: "NAME", doc: "a built-in task: its prompts, vocabulary, eos and verifier" },
    prompts: { type: "string", value: "FILE", doc: "JSONL of {\"id\", \"tokens\"} or {\"id\", \"text\"} (optional \"answer\")" },
    n: { type: "string", value: "N", doc: "--task without --prompts: prompts to draw (default 8)" },
    group: { type: "string", value: "G", doc: "responses per prompt; with --tree, the trunks (or first-level segments)" },
    tree: { type: "string", value: "KIND", doc: "segments (SPO-tree), cutpoints (every --segment tokens) or entropy\n(the --forks most uncertain positions); default: plain groups" },
    branching: { type: "string", value: "B1,B2", doc: "segments: children per node below the first level (default 2)" },
    segment: { type: "string", value: "N", doc: "segments: tokens per segment; cutpoints: fork every N tokens (default 4)" },
    forks: { type: "string", value: "N", doc: "entropy: fork positions per trunk (default 2)" },
    branches: { type: "string", value: "K", doc: "cutpoints / entropy: continuations per fork (default 1)" },
    temperature: { type: "string", value: "T", doc: "sampling temperature (default 1; 0 = greedy)" },
    "top-p": { type: "string", value: "P", doc: "nucleus mass (default 1)" },
    "max-new": { type: "string", value: "N", doc: "most tokens per response (default: the task's limit, else 256)" },
    eos: { type: "string", value: "ID", doc: "end-of-sequence id (default: the task's or the GGUF's; servers report it)" },
    seed: { type: "string", value: "S", doc: "seed of the prompts and the samples (default 0)" },
    threads: { type: "string", value: "N", doc: "builtin: sampling workers; gguf: llama.cpp threads (default 1)" },
    sampling: { type: "string", value: "MODE", doc: "gguf: exact (default: llama.cpp's full distribution, drawn here; entropies,\nsame tokens as builtin) or native (llama.cpp's sampler draws; no entropies;\ntop-p < 1 falls back to exact) (docs/backends.md)" },
    out: { type: "string", value: "FILE", doc: "where to write the rollouts (JSONL)" },
    quiet: { type: "boolean", doc: "no progress bar" },
    help: { type: "boolean", short: "h", doc: "this help" },
  },
  footer: `Each row: id, group (the prompt id), tokens (the response, eos included when sampled),
reward, logprobs, entropies (builtin and gguf), finished, meta.prompt_tokens; trees add
step_ends (node boundaries, SPO-tree's segments) and meta.owned (1 on the tokens this row is the
first to carry: weight each token's loss by it to train every tree edge once).

Example:
  creditflow sft --task addition --out warm.json
  creditflow rollout --backend builtin --model warm.json --task addition --group 4 --tree segments --out r.jsonl
  creditflow assign --method spo-tree --in r.jsonl --out adv.jsonl`,
});

const BACKEND_KINDS = ["builtin", "gguf", "openai"] as const;
const TREE_KINDS = ["segments", "cutpoints", "entropy"] as const;
/** Prompts per backend call: the progress bar moves between calls. */
const PROMPTS_PER_CALL = 16;

function intList(flag: string, v: string): number[] {
  return v.split(",").map((x) => intFlag(flag, x.trim(), 1));
}

function progress(quiet: boolean, total: number): (done: number) => void {
  if (quiet || !process.stderr.isTTY) return () => {};
  const t0 = performance.now();
  return (done) => {
    const width = 30, fill = Math.round((width * done) / total);
    const s = (performance.now() - t0) / 1000;
    process.stderr.write(`\r[${"#".repeat(fill)}${".".repeat(width - fill)}] ${done}/${total} prompts  ${s.toFixed(1)} s\x1b[K${done === total ? "\n" : ""}`);
  };
}

interface Opened {
  backend: RolloutBackend;
  tokenize: ((text: string) => number[]) | null;
  vocabSize: number | null;
  eos: number | null;
}

async function openBackend(kind: (typeof BACKEND_KINDS)[number], f: Record<string, string | boolean | undefined>, task: Task | null): Promise<Opened> {
  const threads = f.threads === undefined ? 1 : intFlag("threads", f.threads as string, 1);
  if (kind === "openai") {
    if (f.url === undefined) throw new UsageError("rollout: --backend openai needs --url");
    const { ServerBackend } = await import("../rollout/openai.js");
    const server = f.server === undefined ? "vllm" : choiceFlag("server", f.server as string, SERVER_KINDS) as ServerKind;
    const backend = new ServerBackend({
      url: f.url as string, server, model: f["served-model"] as string | undefined, apiKey: f["api-key"] as string | undefined,
      logprobs: f["server-logprobs"] === undefined ? "raw" : choiceFlag("server-logprobs", f["server-logprobs"] as string, ["raw", "processed"] as const),
      concurrency: f.concurrency === undefined ? undefined : intFlag("concurrency", f.concurrency as string, 1),
      timeoutMs: f.timeout === undefined ? undefined : numberFlag("timeout", f.timeout as string, 0) * 1000,
    });
    return { backend, tokenize: task ? (t) => [task.vocab.bos, ...task.vocab.encode(t)] : null, vocabSize: task ? task.vocab.size : null, eos: task ? task.vocab.eos : null };
  }
  if (f.model === undefined) throw new UsageError(`rollout: --backend ${kind} needs --model FILE`);
  const file = f.model as string;
  if (kind === "builtin") {
    let policy;
    try {
      policy = readPolicyFile(file);
    } catch (e) {
      throw new ConfigError(`--model ${file}: ${(e as Error).message}`);
    }
    if (task && policy.model.vocabSize !== task.vocab.size) throw new ConfigError(`--model ${file}: vocabulary of ${policy.model.vocabSize} tokens, task ${task.name} has ${task.vocab.size}`);
    await useBackend("wasm");
    const { BuiltinBackend } = await import("../rollout/builtin.js");
    const backend = new BuiltinBackend(policy.model, policy.weights, { workers: threads });
    // Policy files carry no vocabulary: every built-in policy uses the shared task vocabulary's ids.
    const vocab = task?.vocab ?? null;
    return { backend, tokenize: vocab ? (t) => [vocab.bos, ...vocab.encode(t)] : null, vocabSize: policy.model.vocabSize, eos: vocab ? vocab.eos : EOS };
  }
  const { GgufBackend } = await import("../rollout/gguf.js");
  const mode = f.sampling === undefined ? "exact" : choiceFlag("sampling", f.sampling as string, ["exact", "native"] as const);
  const backend = await GgufBackend.open(file, { threads, mode });
  if (task && backend.vocabSize !== task.vocab.size) {
    await backend.close();
    throw new ConfigError(`--model ${file}: vocabulary of ${backend.vocabSize} tokens, task ${task.name} has ${task.vocab.size}`);
  }
  const vocab = task?.vocab ?? null;
  return { backend, tokenize: vocab ? (t) => [vocab.bos, ...vocab.encode(t)] : (t) => backend.tokenize(t), vocabSize: backend.vocabSize, eos: vocab ? vocab.eos : backend.eos };
}

function treePlan(f: Record<string, string | boolean | undefined>, G: number): TreePlan | null {
  if (f.tree === undefined) return null;
  const kind = choiceFlag("tree", f.tree as string, TREE_KINDS);
  const segment = f.segment === undefined ? 4 : intFlag("segment", f.segment as string, 1);
  const branches = f.branches === undefined ? 1 : intFlag("branches", f.branches as string, 1);
  if (kind === "segments") return { kind, branching: [G, ...(f.branching === undefined ? [2] : intList("branching", f.branching as string))], segmentTokens: segment };
  if (kind === "cutpoints") return { kind, trunks: G, every: segment, branches };
  return { kind, trunks: G, forks: f.forks === undefined ? 2 : intFlag("forks", f.forks as string, 1), branches };
}

/** Rows of one prompt's samples (plain groups or tree paths). */
function rowsOf(prompt: RolloutPrompt, paths: readonly TreePath[], tree: boolean, reward: (p: RolloutPrompt, tokens: number[]) => number, withEntropies: boolean): RolloutRow[] {
  return paths.map((path, k) => {
    const row: RolloutRow = { id: `${prompt.id}-${k}`, group: prompt.id, tokens: path.tokens, reward: reward(prompt, path.tokens), logprobs: path.logprobs, finished: path.finished };
    if (withEntropies) row.entropies = path.entropies;
    const meta: Record<string, unknown> = { prompt_tokens: prompt.tokens };
    if (tree) {
      row.step_ends = path.segmentEnds;
      meta.owned = path.owned;
    }
    row.meta = meta;
    return row;
  });
}

export function runRollout(argv: string[]): Promise<number> {
  return exitCodeOf(async () => {
    const { values: f } = parseCommand(ROLLOUT_COMMAND, argv);
    if (f.help) {
      process.stdout.write(commandHelp(ROLLOUT_COMMAND));
      return 0;
    }
    if (f.backend === undefined) throw new UsageError("rollout: --backend is required (builtin, gguf or openai)");
    const kind = choiceFlag("backend", f.backend, BACKEND_KINDS);
    if (f.sampling !== undefined && kind !== "gguf") throw new UsageError(`rollout: --sampling is for --backend gguf (the ${kind} backend has one way to sample)`);
    if (f.out === undefined) throw new UsageError("rollout: --out FILE is required");
    if (f.group === undefined) throw new UsageError("rollout: --group G is required");
    if (f.task === undefined && f.prompts === undefined) throw new UsageError("rollout: give --task NAME or --prompts FILE");
    const G = intFlag("group", f.group, 1);
    const seed = f.seed === undefined ? 0 : intFlag("seed", f.seed);
    const temperature = f.temperature === undefined ? 1 : numberFlag("temperature", f.temperature, -Infinity);
    if (temperature < 0) throw new UsageError(`--temperature needs a number >= 0, got ${JSON.stringify(f.temperature)}`);
    const topP = f["top-p"] === undefined ? 1 : numberFlag("top-p", f["top-p"], 0, 1);
    const plan = treePlan(f, G);
    const nPrompts = f.n === undefined ? 8 : intFlag("n", f.n, 1);
    checkOutputPath(f.out, [f.prompts]);
    const task = f.task === undefined ? null : resolveTask(f.task);
    const opened = await openBackend(kind, f, task);
    const { backend } = opened;
    try {
      if (plan?.kind === "entropy" && !backend.capabilities.entropies) throw new UsageError("rollout: --tree entropy needs entropies, which --sampling native does not report (use --sampling exact)");
      let prompts: RolloutPrompt[];
      if (f.prompts !== undefined) {
        const text = new TextDecoder().decode(readInput(f.prompts));
        prompts = parsePromptsJsonl(text, f.prompts, opened.tokenize, opened.vocabSize);
      } else {
        const t = task as Task;
        const rand = mulberry32(seed);
        prompts = Array.from({ length: nPrompts }, () => {
          const p = t.samplePrompt(rand);
          return { id: p.id, tokens: [...p.tokens], text: p.text, answer: p.answer };
        });
        // task prompt ids name the content: two draws of one prompt get distinct groups
        const seen = new Map<string, number>();
        for (const p of prompts) {
          const k = seen.get(p.id) ?? 0;
          seen.set(p.id, k + 1);
          if (k > 0) p.id = `${p.id}#${k}`;
        }
      }
      const eos = f.eos !== undefined ? intFlag("eos", f.eos) : opened.eos ?? -1;
      const maxNew = f["max-new"] !== undefined ? intFlag("max-new", f["max-new"], 1) : task ? task.maxResponseTokens : 256;
      const opts: SampleOptions = { temperature, topP, eos };
      const reward = (p: RolloutPrompt, tokens: number[]): number => {
        if (!task || p.answer === undefined) return 0;
        const tp: TaskPrompt = { id: p.id, text: p.text ?? "", tokens: p.tokens, answer: p.answer };
        return task.verify(tp, tokens).reward;
      };
      const rng = new Rng(seed);
      const bar = progress(f.quiet === true, prompts.length);
      const rows: RolloutRow[] = [];
      let sampledTokens = 0;
      for (let a = 0; a < prompts.length; a += PROMPTS_PER_CALL) {
        const part = prompts.slice(a, a + PROMPTS_PER_CALL);
        const toks = part.map((p) => p.tokens);
        let paths: TreePath[];
        if (plan) {
          const t = await sampleTree(backend, toks, plan, maxNew, opts, rng);
          paths = t.paths;
          sampledTokens += t.sampledTokens;
        } else {
          const reqs = toks.flatMap((prefix) => Array.from({ length: G }, () => ({ prefix, maxNew: Math.max(0, Math.min(maxNew, backend.maxSeqLen - prefix.length)) })));
          const res = await backend.sample(reqs, opts, rng);
          paths = res.map((r, k) => ({ prompt: Math.floor(k / G), tokens: r.tokens, logprobs: r.logprobs, entropies: r.entropies, finished: r.finished, segmentEnds: [], owned: [] }));
          sampledTokens += res.reduce((s, r) => s + r.tokens.length, 0);
        }
        part.forEach((p, i) => rows.push(...rowsOf(p, paths.filter((x) => x.prompt === i), plan !== null, reward, backend.capabilities.entropies)));
        bar(a + part.length);
      }
      const sink = atomicFileSink(f.out);
      try {
        for (const chunk of rolloutsJsonl(rows)) await sink.write(chunk);
        await sink.commit();
      } catch (e) {
        sink.abort();
        throw e;
      }
      if (f.quiet !== true) process.stderr.write(`creditflow rollout: ${rows.length} rollouts of ${prompts.length} prompts, ${sampledTokens} sampled tokens (${backend.name}) -> ${f.out}\n`);
      return 0;
    } catch (e) {
      if (e instanceof BackendError) throw new ConfigError(`rollout: ${e.message}`);
      throw e;
    } finally {
      await backend.close();
    }
  });
}

