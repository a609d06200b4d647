/**
 * The adapter registry: which methods the trainer and CreditBench can run, and with what
 * sampling and loss hooks. Every registered method is trainable when the trainer can produce the
 * rollout inputs it requires; the few that need the sampler's or the model's help beyond that
 * have an adapter here.
 */
import { ConfigError } from "../../core/errors.js";
import { getMethod, listMethods } from "../../core/registry.js";
import "../../methods/index.js";
import type { TrainConfig } from "../config.js";
import { MODEL_SIGNALS } from "../model-signals.js";
import { hapoAdapter } from "./hapo.js";
import { spoChainAdapter } from "./spo-chain.js";
import { spoTreeAdapter } from "./spo-tree.js";
import { tvmAdapter } from "./tvm.js";
import type { AdapterFactory, MethodAdapter } from "./types.js";

export type { AdapterFactory, LossShaping, MethodAdapter, SamplingContext } from "./types.js";

const FACTORIES: ReadonlyMap<string, AdapterFactory> = new Map([spoChainAdapter, spoTreeAdapter, hapoAdapter, tvmAdapter].map((f) => [f.method, f]));

/** Rollout fields the trainer fills for every method (from the sampler, the task and the reference policy). */
const PRODUCED_FIELDS: ReadonlySet<string> = new Set(["logprobs", "entropies", "step_ends", "ref_logprobs", "episode", "t", "anchor", "values"]);

/** Whether a run trains a critic: on request, or when its method reads values or trains a value model. */
export function usesCritic(config: TrainConfig): boolean {
  if (config.critic.use !== "auto") return config.critic.use === "on";
  return (getMethod(config.method).requires ?? []).includes("values") || FACTORIES.get(config.method)?.trainsCritic === true;
}

/** The adapter of `method` for one run (a fresh instance: adapters may carry run state). */
export function adapterFor(method: string, config: TrainConfig): MethodAdapter {
  getMethod(method);
  return FACTORIES.get(method)?.create(config) ?? {};
}

/** Signals the policy itself or the method's adapter can fill. */
function producibleSignals(method: string): Set<string> {
  return new Set([...MODEL_SIGNALS, ...(FACTORIES.get(method)?.providesSignals ?? [])]);
}

/** The rollout inputs `method` requires that the trainer cannot produce (empty: trainable). */
export function missingInputs(method: string): string[] {
  const spec = getMethod(method);
  const missing: string[] = (spec.requires ?? []).filter((r: string) => !PRODUCED_FIELDS.has(r));
  const signals = producibleSignals(method);
  for (const sig of spec.requiredSignals ?? []) if (!signals.has(sig)) missing.push(`signals.${sig}`);
  return missing;
}

/**
 * Throws a ConfigError naming the required rollout fields the trainer cannot produce for
 * `method`. Optional signals are not checked: the method's own input checks name any it needs.
 */
export function checkTrainable(method: string): void {
  const missing = missingInputs(method);
  if (missing.length > 0) throw new ConfigError(`method '${method}' needs ${missing.join(", ")}, which the trainer cannot produce (it runs on creditflow assign with your own rollouts)`);
}

/** checkTrainable, and that the configuration gives the method what it needs (a critic for values). */
export function checkRun(config: TrainConfig): void {
  checkTrainable(config.method);
  if ((getMethod(config.method).requires ?? []).includes("values") && !usesCritic(config)) {
    throw new ConfigError(`config.critic.use: method '${config.method}' reads critic values, but the critic is off (use "auto" or "on")`);
  }
}

/** Every registered method the trainer can run, in registry order. */
export function trainableMethods(): string[] {
  return listMethods().map((m) => m.name).filter((m) => missingInputs(m).length === 0);
}
