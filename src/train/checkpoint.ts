/**
 * Checkpoints as one JSON file (float arrays as base64 of their little-endian bytes), written
 * atomically: to a temporary file in the same directory, fsync'd, then renamed over the
 * target, so a kill at any moment leaves either the old or the new checkpoint, never half.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { writeFileAtomic } from "../io/files.js";
import { ConfigError } from "../core/errors.js";
import type { ModelConfig } from "./policy/model.js";
import type { AdamState } from "./policy/optim.js";
import type { TrainConfig } from "./config.js";
import type { CriticState } from "./critic.js";

export function encodeF32(a: Float32Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("base64");
}

export function decodeF32(s: string): Float32Array {
  const b = Buffer.from(s, "base64");
  const out = new Float32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

export function encodeMap(m: Map<string, Float32Array>): Record<string, string> {
  const o: Record<string, string> = {};
  for (const [k, v] of m) o[k] = encodeF32(v);
  return o;
}

export function decodeMap(o: Record<string, string>): Map<string, Float32Array> {
  const m = new Map<string, Float32Array>();
  for (const [k, v] of Object.entries(o)) m.set(k, decodeF32(v));
  return m;
}

/** SHA-256 of weights (names in sorted order, then their bytes): tells two models' weights apart without keeping them. */
export function weightsDigest(m: ReadonlyMap<string, Float32Array>): string {
  const h = createHash("sha256");
  for (const k of [...m.keys()].sort()) {
    const v = m.get(k)!;
    h.update(k).update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  }
  return h.digest("hex");
}

/** Writes text to `path` atomically: the project's one atomic writer (src/io/files.ts). */
export const writeAtomic = writeFileAtomic;

export function readJson(path: string): unknown {
  return JSON.parse(readFileSync(path, "utf8"));
}

/** A policy file: the model configuration and weights (what `creditflow sft` writes). */
export interface PolicyFile {
  format: "creditflow-policy";
  version: 1;
  model: ModelConfig;
  weights: Record<string, string>;
  /** Where it came from (task, steps, seed, accuracy, ...). */
  info: Record<string, unknown>;
}

export function writePolicyFile(path: string, model: ModelConfig, weights: Map<string, Float32Array>, info: Record<string, unknown>): void {
  const f: PolicyFile = { format: "creditflow-policy", version: 1, model, weights: encodeMap(weights), info };
  writeAtomic(path, JSON.stringify(f));
}

export function readPolicyFile(path: string): { model: ModelConfig; weights: Map<string, Float32Array>; info: Record<string, unknown> } {
  const f = readJson(path) as Partial<PolicyFile>;
  if (!f || f.format !== "creditflow-policy" || !f.model || !f.weights) throw new Error(`${path}: not a creditflow policy file`);
  return { model: f.model, weights: decodeMap(f.weights), info: f.info ?? {} };
}

/** A training run's state after `step` steps (checkpoint.json). */
export interface TrainState {
  step: number;
  sampledTokens: number;
  rng: number[];
  adam: AdamState;
  weights: Map<string, Float32Array>;
  /** The method adapter's run state (JSON), null when it keeps none. */
  adapter: unknown;
  /** The critic's weights and optimizer, when the run trains one. */
  critic: CriticState | null;
  elapsed: number;
}

interface CheckpointFile {
  format: "creditflow-train";
  version: 1;
  step: number;
  sampledTokens: number;
  rng: number[];
  adam: { t: number; m: Record<string, string>; v: Record<string, string> };
  weights: Record<string, string>;
  /** The method adapter's run state; checkpoints written before adapters carry it as `hapo`. */
  adapter?: unknown;
  hapo?: unknown;
  critic?: { weights: Record<string, string>; adam: { t: number; m: Record<string, string>; v: Record<string, string> } } | null;
  elapsed: number;
  config: TrainConfig;
}

export function saveCheckpoint(path: string, s: TrainState, config: TrainConfig): void {
  const f: CheckpointFile = {
    format: "creditflow-train", version: 1, step: s.step, sampledTokens: s.sampledTokens, rng: s.rng,
    adam: { t: s.adam.t, m: encodeMap(s.adam.m), v: encodeMap(s.adam.v) }, weights: encodeMap(s.weights), adapter: s.adapter,
    critic: s.critic ? { weights: encodeMap(s.critic.weights), adam: { t: s.critic.adam.t, m: encodeMap(s.critic.adam.m), v: encodeMap(s.critic.adam.v) } } : null,
    elapsed: s.elapsed, config,
  };
  writeAtomic(path, JSON.stringify(f));
}

export function loadCheckpoint(path: string): { state: TrainState; config: TrainConfig } {
  const f = readJson(path) as CheckpointFile;
  if (!f || f.format !== "creditflow-train") throw new ConfigError(`${path}: not a creditflow training checkpoint`);
  return {
    config: f.config,
    state: {
      step: f.step, sampledTokens: f.sampledTokens, rng: f.rng, adapter: f.adapter ?? f.hapo ?? null, elapsed: f.elapsed,
      critic: f.critic ? { weights: decodeMap(f.critic.weights), adam: { t: f.critic.adam.t, m: decodeMap(f.critic.adam.m), v: decodeMap(f.critic.adam.v) } } : null,
      adam: { t: f.adam.t, m: decodeMap(f.adam.m), v: decodeMap(f.adam.v) }, weights: decodeMap(f.weights),
    },
  };
}

