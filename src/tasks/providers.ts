/**
 * Which task gives which method its inputs. A method's inputs are the rollout fields and signals
 * it cannot run without (its registry `requires` and `requiredSignals`) plus, for a few methods,
 * an optional signal without which the method is plain GRPO (ESSENTIAL below). Each input comes
 * from one of three places:
 *   - the sampler or trainer (logprobs, entropies, the policy's self-reward, ...): the caller says
 *     which it produces (`producible`);
 *   - a task (its `provides` list: step verdicts, turns, ranks, budgets, ...);
 *   - neither: a critic, a DPO model, an LLM judge; such a method is refused with the source named.
 * The trainer asks `provisionFor(method, task?)`; nothing here imports the trainer.
 */
import { ConfigError } from "../core/errors.js";
import { getMethod } from "../core/registry.js";
import "../methods/index.js";
import { listTasks } from "./index.js";
import type { RowShape } from "./rows.js";
import type { Task } from "./types.js";

/**
 * Signals a method reads optionally but is degenerate without: HICRA without planning tokens,
 * R3L without a pivot and CAPO without critiques are all GRPO-like outcome methods, and PURE's
 * PRM scores are its point. GiGPO's multi-step episodes (`episode`) only an environment provides.
 */
const ESSENTIAL: Readonly<Record<string, readonly string[]>> = {
  hicra: ["signals.planning"],
  r3l: ["signals.pivot"],
  capo: ["signals.critiques"],
};

/** Inputs the episode runner produces for any task from the backend (episodes.ts). */
export const BACKEND_INPUTS: readonly string[] = ["logprobs", "entropies", "signals.self_reward"];

/** Where an input that no task provides comes from. */
const SOURCES: Readonly<Record<string, string>> = {
  values: "a critic, a value model",
  "signals.next_value": "a critic, a value model",
  ref_logprobs: "a reference policy",
  "signals.dpo_logprobs": "a DPO-trained model",
  "signals.cut_values": "the trainer's Monte Carlo continuations",
  "signals.thought_labels": "an LLM judge via creditflow annotate",
  "signals.subgoals": "an LLM judge via creditflow annotate",
  "signals.attributions": "an LLM judge via creditflow annotate",
  "signals.episode_scores": "an LLM judge via creditflow annotate",
  "signals.factors": "an LLM-written factor function via creditflow annotate",
  "signals.hidden": "the policy's hidden states",
  "signals.probs": "the policy's next-token distributions",
};

/** The row shape each method reads (episodes.ts / rows.ts). */
const SHAPES: Readonly<Record<string, RowShape>> = { gigpo: "turns", brpo: "budget" };

/**
 * The task a method is meant for, when several provide its inputs (e.g. both chain and tools
 * give step_ends and step_rewards, but MatchTIR's turn rewards are tool-call matches).
 */
const PREFERRED: Readonly<Record<string, string>> = {
  pure: "chain", oprl: "chain", capo: "chain", hicra: "chain", brpo: "chain", groundedprm: "chain",
  matchtir: "tools", gigpo: "tools", r3l: "tools",
  "rank-grpo": "rank",
};

/** Extra sampling a method's inputs need after the episodes are run. */
export type ExtraSampling = "budget_scores" | "self_reward" | "retries";
const EXTRA: Readonly<Record<string, ExtraSampling>> = { brpo: "budget_scores", laser: "self_reward", r3l: "retries" };

/** The row shape `method` trains on: one row per episode unless it reads turns (gigpo) or budgets (brpo). */
export function rowShapeOf(method: string): RowShape {
  return SHAPES[getMethod(method).name] ?? "episode";
}

/** The extra sampling `method`'s inputs need after its episodes are run, or null. */
export function extraSamplingOf(method: string): ExtraSampling | null {
  return EXTRA[getMethod(method).name] ?? null;
}

/** The task `method` is meant for (MatchTIR's tool turns, PURE's step verdicts, ...), by name, or null. */
export function meantTaskOf(method: string): string | null {
  return PREFERRED[getMethod(method).name] ?? null;
}

/** Everything a trainer needs to feed a method from a task. */
export interface Provision {
  readonly method: string;
  /** The task to train on; null when any task will do (the method needs nothing task-specific). */
  readonly task: Task | null;
  /** Method options the task's inputs call for (e.g. rank-grpo's ranks); merge under the user's. */
  readonly options: Readonly<Record<string, unknown>>;
  readonly rows: RowShape;
  readonly extra: ExtraSampling | null;
}

/** Every input `method` cannot run without, in rollouts.md names ("step_rewards", "signals.planning"). */
export function methodInputs(method: string): string[] {
  const spec = getMethod(method);
  const out = new Set<string>([...(spec.requires ?? []), ...(spec.requiredSignals ?? []).map((s: string) => `signals.${s}`), ...(ESSENTIAL[spec.name] ?? [])]);
  return [...out];
}

/** What a task provides: its `provides` list, or just step_ends for tasks that predate it. */
export function taskInputs(task: Task): string[] {
  return [...(task.provides ?? ["step_ends"])];
}

function missingFrom(task: Task, needs: readonly string[]): string[] {
  const has = new Set(taskInputs(task));
  return needs.filter((x) => !has.has(x));
}

function sourceOf(input: string): string {
  return SOURCES[input] ?? "your own rollouts (creditflow assign)";
}

/** "a, b and c" */
function listed(xs: readonly string[]): string {
  return xs.length < 2 ? xs.join("") : `${xs.slice(0, -1).join(", ")} and ${xs[xs.length - 1]}`;
}

/** The best task for `needs`: the one meant for the method, else the first that provides them all. */
function bestTask(method: string, needs: readonly string[], tasks: readonly Task[]): Task | null {
  const fits = tasks.filter((t) => missingFrom(t, needs).length === 0);
  return fits.find((t) => t.name === PREFERRED[method]) ?? fits[0] ?? null;
}

/** Why no task can feed `needs`: each input no task provides and where it comes from instead. */
function noTaskReason(needs: readonly string[], tasks: readonly Task[]): string {
  const orphans = needs.filter((x) => !tasks.some((t) => taskInputs(t).includes(x)));
  if (orphans.length === 0) return `no single task provides ${listed(needs)} together`;
  return `no task provides ${listed(orphans.map((x) => `${x} (it comes from ${sourceOf(x)})`))}`;
}

export interface ProvisionOptions {
  /** Inputs the caller produces itself for any task (default BACKEND_INPUTS). */
  readonly producible?: Iterable<string>;
  /** Tasks to choose from (default: every registered task). */
  readonly tasks?: readonly Task[];
}

/**
 * The provision for `method`: on `task` when given (refused with a ConfigError naming each missing
 * input and the task that provides it), else on the task meant for it or the first that provides
 * its inputs (refused, naming the input and its source, when no task does).
 */
export function provisionFor(method: string, task?: Task, opts: ProvisionOptions = {}): Provision {
  const spec = getMethod(method);
  const producible = new Set(opts.producible ?? BACKEND_INPUTS);
  const tasks = opts.tasks ?? listTasks();
  const needs = methodInputs(spec.name).filter((x) => !producible.has(x));
  const provision = (t: Task | null): Provision => ({
    method: spec.name,
    task: t,
    options: (t?.methodOptions?.[spec.name] ?? {}) as Record<string, unknown>,
    rows: rowShapeOf(spec.name),
    extra: extraSamplingOf(spec.name),
  });
  if (task !== undefined) {
    const missing = missingFrom(task, needs);
    if (missing.length === 0) return provision(task);
    const other = bestTask(spec.name, needs, tasks);
    const advice = other !== null ? `task '${other.name}' does (--task ${other.name})` : noTaskReason(needs, tasks);
    throw new ConfigError(`method '${spec.name}' needs ${listed(missing)}, which task '${task.name}' does not provide; ${advice}`);
  }
  if (needs.length === 0) return provision(null);
  const best = bestTask(spec.name, needs, tasks);
  if (best === null) throw new ConfigError(`method '${spec.name}' needs ${listed(needs)}; ${noTaskReason(needs, tasks)}`);
  return provision(best);
}

/** The task to train `method` on without --task (null: any task), or a ConfigError naming what is missing. */
export function taskForMethod(method: string, opts: ProvisionOptions = {}): Task | null {
  return provisionFor(method, undefined, opts).task;
}
