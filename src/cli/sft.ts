/**
 * `creditflow sft`: the supervised warm start. Teacher forcing with cross-entropy on a task's
 * demonstrations; writes a policy file `creditflow train --warm-start` reads.
 */
import { exitCodeOf } from "./args.js";
import { ConfigError } from "../core/errors.js";
import { useBackend } from "../train/tf.js";
import { DEFAULT_TRAIN, mergeConfig } from "../train/config.js";
import { Policy, countParameters, type ModelConfig } from "../train/model.js";
import { runSft, type SftConfig } from "../train/sft.js";
import { evaluate } from "../train/evaluate.js";
import { writePolicyFile } from "../train/checkpoint.js";
import { resolveTask } from "../train/tasks.js";
import { readFileSync } from "node:fs";

export const SFT_HELP = `usage: creditflow sft [options]

Supervised warm start: trains a fresh llama-layout policy on task demonstrations (teacher
forcing, cross-entropy on the response tokens) and writes a policy file for
\`creditflow train --warm-start FILE\`. Deterministic for a seed.

options:
  --task NAME      task (default ${DEFAULT_TRAIN.task})
  --steps N        optimizer steps (default ${DEFAULT_TRAIN.sft.steps})
  --batch N        demonstrations per step (default ${DEFAULT_TRAIN.sft.batch})
  --lr X           peak learning rate, warmup then cosine decay (default ${DEFAULT_TRAIN.sft.lr})
  --seed S         seed of the initialisation and the data (default 0)
  --model FILE     JSON model overrides (dModel, nLayers, nHeads, dFF, maxSeqLen, tieEmbeddings, ...);
                   default: the default run's model
  --eval N         held-out prompts to score at the end (default 200; 0 = skip)
  --out FILE       where to write the policy (default runs/sft-<task>-<seed>.json)
  --backend B      wasm (default) or cpu
  --quiet          no progress output
  -h, --help       this help
`;

export function runSftCommand(argv: string[]): Promise<number> {
  return exitCodeOf(async () => {
    let task = DEFAULT_TRAIN.task;
    const sft: SftConfig = { ...DEFAULT_TRAIN.sft };
    let model: Omit<ModelConfig, "vocabSize"> = { ...DEFAULT_TRAIN.model };
    let out: string | null = null, evalN = 200, quiet = false;
    let backend: "wasm" | "cpu" = "wasm";
    for (let k = 0; k < argv.length; k++) {
      const a = argv[k];
      const next = (): string => {
        const v = argv[++k];
        if (v === undefined) throw new ConfigError(`${a} needs a value`);
        return v;
      };
      const int = (): number => {
        const v = next();
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0) throw new ConfigError(`${a} needs a non-negative integer, got ${v}`);
        return n;
      };
      switch (a) {
        case "-h":
        case "--help":
          process.stdout.write(SFT_HELP);
          return 0;
        case "--task": task = next(); break;
        case "--steps": sft.steps = int(); break;
        case "--batch": sft.batch = Math.max(1, int()); break;
        case "--seed": sft.seed = int(); break;
        case "--eval": evalN = int(); break;
        case "--lr": {
          const v = Number(next());
          if (!(v > 0)) throw new ConfigError("--lr needs a positive number");
          sft.lr = v;
          break;
        }
        case "--model": {
          const path = next();
          let raw: unknown;
          try {
            raw = JSON.parse(readFileSync(path, "utf8"));
          } catch (e) {
            throw new ConfigError(`--model ${path}: ${(e as Error).message}`);
          }
          model = mergeConfig(model, raw, "model");
          break;
        }
        case "--out": out = next(); break;
        case "--backend": {
          const b = next();
          if (b !== "wasm" && b !== "cpu") throw new ConfigError(`--backend must be wasm or cpu, got ${b}`);
          backend = b;
          break;
        }
        case "--quiet": quiet = true; break;
        default:
          throw new ConfigError(`unknown option '${a}' (see creditflow sft --help)`);
      }
    }
    const t = resolveTask(task);
    await useBackend(backend);
    const cfg: ModelConfig = { ...model, vocabSize: t.vocab.size };
    const policy = Policy.create(cfg, sft.seed + 1);
    const path = out ?? `runs/sft-${t.name}-${sft.seed}.json`;
    const log = (s: string) => {
      if (!quiet) process.stderr.write(s);
    };
    log(`creditflow sft: task ${t.name}, ${countParameters(cfg)} parameters, ${sft.steps} steps x ${sft.batch}\n`);
    const t0 = performance.now();
    let tokens = 0;
    runSft(t, policy, sft, (s) => {
      tokens += s.tokens;
      const el = (performance.now() - t0) / 1000;
      const line = `step ${s.step}/${sft.steps}  loss ${s.loss.toFixed(4)}  lr ${s.lr.toExponential(2)}  ${Math.round(tokens / el)} tok/s`;
      if (process.stderr.isTTY) log(`\r${line}\x1b[K${s.step === sft.steps ? "\n" : ""}`);
      else if (s.step % 25 === 0 || s.step === sft.steps) log(line + "\n");
    });
    const info: Record<string, unknown> = { task: t.name, steps: sft.steps, batch: sft.batch, lr: sft.lr, seed: sft.seed };
    if (evalN > 0) {
      const acc = evaluate(t, cfg, policy.weights(), t.evalSet(evalN, DEFAULT_TRAIN.eval.seed)).accuracy;
      info.eval_accuracy = acc;
      log(`held-out accuracy ${acc.toFixed(3)} on ${evalN} prompts\n`);
    }
    writePolicyFile(path, cfg, policy.weights(), info);
    policy.dispose();
    log(`wrote ${path}\n`);
    return 0;
  });
}
