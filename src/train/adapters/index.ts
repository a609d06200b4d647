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
import { MODEL_SIGNALS, POLICY_FILE_SIGNALS } from "../model-signals.js";
import { extraSamplingOf, listTasks, meantTaskOf, provisionFor, type Task } from "../../tasks/index.js";
import { selfRewardOptions } from "../episodes.js";
import { hapoAdapter } from "./hapo.js";
import { laserAdapter } from "./laser.js";
import { spoChainAdapter } from "./spo-chain.js";
import { spoTreeAdapter } from "./spo-tree.js";
import { tvmAdapter } from "./tvm.js";
import type { AdapterFactory, MethodAdapter } from "./types.js";

export type { AdapterFactory, LossShaping, MethodAdapter, SamplingContext } from "./types.js";

const FACTORIES: ReadonlyMap<string, AdapterFactory> = new Map([spoChainAdapter, spoTreeAdapter, hapoAdapter, tvmAdapter, laserAdapter].map((f) => [f.method, f]));

/**
 * Rollout fields the trainer fills for every method (from the sampler, the task, the reference
 * policy, the critic, and its episodes: turn rows and the policy's self-reward score).
 */
const PRODUCED_FIELDS: ReadonlySet<string> = new Set(["logprobs", "entropies", "step_ends", "ref_logprobs", "episode", "t", "anchor", "values", "signals.self_reward"]);

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

/** Whether a run scores its rollouts under the frozen warm start: for a KL term, or because its method reads ref_logprobs. */
export function usesReference(config: TrainConfig): boolean {
  return config.loss.klCoef > 0 || (getMethod(config.method).requires ?? []).includes("ref_logprobs");
}

/** Signals the policy itself, a policy file the run loads (given its flag), or the method's adapter can fill. */
function producibleSignals(method: string): Set<string> {
  return new Set([...MODEL_SIGNALS, ...POLICY_FILE_SIGNALS.map((p) => p.signal), ...(FACTORIES.get(method)?.providesSignals ?? [])]);
}

/** What the trainer produces for every task: sampler outputs, the reference, a critic, model and adapter signals. */
function producible(method: string): Set<string> {
  return new Set([...PRODUCED_FIELDS, ...[...producibleSignals(method)].map((s) => `signals.${s}`)]);
}

/**
 * Why the trainer cannot run `method` on `task` although the task provides its inputs, or null.
 * Multi-turn tasks, rows per turn or per budget and extra sampling (budget summaries, self-rewards,
 * retries) run as episodes (src/train/episodes.ts); what episodes cannot do is refused here.
 */
function runnable(method: string, task: Task): string | null {
  if (task.environment && FACTORIES.get(method)?.singleTurnOnly) {
    return `method '${method}' samples beyond the task's responses (segment trees or prefix continuations) with no environment to answer tool calls, so it does not run on the multi-turn task '${task.name}'`;
  }
  const extra = extraSamplingOf(method);
  if (extra === "budget_scores" && !task.budget) return `method '${method}' needs budget truncations, and task '${task.name}' defines no budgets (task 'chain' does)`;
  if (extra === "self_reward" && selfRewardOptions(task) === null) return `method '${method}' scores a self-reward token "z" that task '${task.name}''s vocabulary lacks`;
  return null;
}

/**
 * Why CreditBench's shared single-turn groups cannot feed `method` on `task` (it needs the
 * trainer's own episodes: a multi-turn transcript, or extra sampling), or null.
 */
export function needsOwnEpisodes(method: string, task: Task): string | null {
  if (task.environment) return `task '${task.name}' is multi-turn: its rollouts are the trainer's episodes`;
  const extra = extraSamplingOf(method);
  return extra ? `needs extra sampling (${extra.replace("_", " ")}) that only the trainer's episodes run` : null;
}

/**
 * The rollout inputs `method` requires that the trainer cannot produce, on `task` or (without
 * one) on any registered task; empty: trainable.
 */
export function missingInputs(method: string, task?: Task): string[] {
  const spec = getMethod(method);
  const have = producible(method);
  const needs = [...(spec.requires ?? []), ...(spec.requiredSignals ?? []).map((s: string) => `signals.${s}`)];
  const missing = needs.filter((x) => !have.has(x));
  if (missing.length === 0) return [];
  const t = task ?? preferredTask(method);
  if (t === null) return missing;
  const provides = new Set(t.provides ?? ["step_ends"]);
  return missing.every((x) => provides.has(x)) && runnable(method, t) === null ? [] : missing;
}

/** The task src/tasks/providers.ts picks for a method (its preferred one), or null. */
function preferredTask(method: string): Task | null {
  try {
    return provisionFor(method, undefined, { producible: producible(method) }).task;
  } catch {
    return null;
  }
}

/**
 * Throws a ConfigError naming what the trainer cannot produce for `method` (on `task`, when
 * given) and, where one exists, the task that would provide it. Optional signals are not checked:
 * the method's own input checks name any it needs.
 */
export function checkTrainable(method: string, task?: Task): void {
  const missing = missingInputs(method, task);
  if (missing.length === 0) {
    const why = task ? runnable(method, task) : null;
    if (why) throw new ConfigError(why);
    return;
  }
  if (task) {
    // The task providers name the task that would give what this one lacks.
    provisionFor(method, task, { producible: producible(method) });
    const why = runnable(method, task);
    if (why) throw new ConfigError(why);
  }
  throw new ConfigError(`method '${method}' needs ${missing.join(", ")}, which the trainer cannot produce on ${task ? `task '${task.name}'` : "any task"} (it runs on creditflow assign with your own rollouts)`);
}

/** The task a method trains on when the user names none: the configured default when it provides the inputs, else one that does. */
export function taskFor(method: string, fallback: string): string {
  // The task the method is meant for (gigpo's and r3l's tool turns, say) when the trainer can run it there.
  const meant = listTasks().find((t) => t.name === meantTaskOf(method));
  if (meant && missingInputs(method, meant).length === 0 && runnable(method, meant) === null) return meant.name;
  const fb = listTasks().find((t) => t.name === fallback);
  if (fb && missingInputs(method, fb).length === 0) return fallback;
  return preferredTask(method)?.name ?? fallback;
}

/** Method options a task calls for (rank-grpo's number of ranks, say), under the user's own. */
export function taskMethodOptions(method: string, task: Task): Record<string, unknown> {
  return { ...(task.methodOptions?.[method] ?? {}) };
}

/**
 * A policy file that fills a signal (--dpo-policy) is given exactly when the method reads that
 * signal: required and missing, or given to a method that never reads it, is refused (an input
 * no method reads is an error, as in `creditflow assign`).
 */
function checkPolicyFileSignals(config: TrainConfig): void {
  const spec = getMethod(config.method);
  for (const p of POLICY_FILE_SIGNALS) {
    const file = config[p.configKey] ?? null;
    if (file === null && (spec.requiredSignals ?? []).includes(p.signal)) {
      throw new ConfigError(`method '${config.method}' reads signals.${p.signal}, the log-probs of ${p.what}: give its policy file with ${p.flag} FILE (config.${p.configKey})`);
    }
    if (file !== null && !(spec.signals ?? []).includes(p.signal)) {
      const readers = listMethods().filter((m) => (m.signals ?? []).includes(p.signal)).map((m) => m.name);
      throw new ConfigError(`${p.flag} (config.${p.configKey}): method '${config.method}' does not read signals.${p.signal}; only ${readers.join(", ")} do (drop the option or pick one of them)`);
    }
  }
}

/** checkTrainable, and that the configuration gives the method what it needs (a critic for values, a DPO policy file for dpo_logprobs). */
export function checkRun(config: TrainConfig, task?: Task): void {
  checkTrainable(config.method, task);
  checkPolicyFileSignals(config);
  if ((getMethod(config.method).requires ?? []).includes("values") && !usesCritic(config)) {
    throw new ConfigError(`config.critic.use: method '${config.method}' reads critic values, but the critic is off (use "auto" or "on")`);
  }
}

/** Every registered method the trainer can run, in registry order. */
export function trainableMethods(): string[] {
  return listMethods().map((m) => m.name).filter((m) => missingInputs(m).length === 0);
}
