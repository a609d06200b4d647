/**
 * The method registry: every credit-assignment method registers one MethodSpec by name.
 * One call shape for all of them: a packed batch plus the method's typed options in, an
 * Assignment out. The runner validates options, checks required inputs, and enforces the
 * output contract (lengths, finiteness, 0 on mask-0 tokens) so no method can break it.
 */
import type { RolloutBatch, TokenFieldName } from "./batch.js";
import { tokenColumn } from "./batch.js";
import { ConfigError, InputError } from "./errors.js";
import type { OptionsSchema } from "./schema.js";
import { resolveOptions } from "./schema.js";

/** What a method returns. All token arrays are [nTokens]. */
export interface Assignment {
  advantages: Float64Array;
  /** verl's second output, for methods that define returns (may be the advantages array itself). */
  returns?: Float64Array;
  /** Per-token loss weights in [0, inf); absent means all 1 (Part 0 of methods.md). */
  weights?: Float64Array;
  /**
   * Set by a method that has itself verified, in the passes that wrote them, that `advantages`
   * and `returns` are finite everywhere and 0 on mask-0 tokens: the runner then skips its own
   * pass over each (the hot estimators' outputs are 8 MB per million tokens). A method that
   * cannot tell for sure leaves it unset and the runner checks as usual.
   */
  finiteChecked?: boolean;
  /** Extra diagnostics, written under "diag" per rollout. */
  diag?: {
    /** [nTokens] columns, written as per-token arrays. */
    tokens?: Record<string, Float64Array>;
    /** [n] columns, written as one number per rollout. */
    rollouts?: Record<string, Float64Array>;
  };
}

/** Inputs a method can require beyond tokens, reward, group and mask. */
export type RequiredInput = TokenFieldName | "step_ends" | "step_rewards" | "episode" | "t" | "anchor";

export type MethodStatus = "standard" | "reference-code" | "paper" | "secondary" | "not-found";

export interface MethodSpec<C = Record<string, unknown>> {
  /** The name used by `assign --method`, fixed by rollouts.md / methods.md. */
  readonly name: string;
  /** One line for `creditflow methods`. */
  readonly summary: string;
  /** Where it comes from: paper and arXiv id (and the reference code, if any). */
  readonly paper: string;
  /**
   * How firmly it is grounded: "standard" (matches verl), "reference-code" (matches the
   * authors' code), "paper" (from the paper text only), "secondary" or "not-found" (labelled
   * so, as methods.md requires).
   */
  readonly status: MethodStatus;
  readonly options: OptionsSchema<C>;
  /** Fields every rollout must carry for this method. */
  readonly requires?: readonly RequiredInput[];
  /** Names of the `signals` entries this method reads. */
  readonly signals?: readonly string[];
  /**
   * The subset of `signals` the method cannot run without (it checks them itself, with the rules
   * of its section: e.g. LaSeR's self_reward may be absent on truncated rows). Lets a producer of
   * rollouts, such as the trainer, tell up front whether it can feed the method.
   */
  readonly requiredSignals?: readonly string[];
  /**
   * "group": a rollout's credit depends only on the rollouts of its group, so `assign` may run
   * the method one group at a time and stream; "batch" (the default): it depends on the whole
   * batch (batch whitening, batch-wide weights or quantiles).
   */
  readonly locality?: "group" | "batch";
  /** A bundled example file (under examples/) this method runs on. */
  readonly example?: string;
  readonly assign: (batch: RolloutBatch, options: C) => Assignment;
}

// Options are heterogeneous across methods; the registry stores them erased and each spec's
// own `assign` receives the type it declared (resolveOptions builds exactly that shape).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnySpec = MethodSpec<any>;

const REGISTRY = new Map<string, AnySpec>();

/** Registers a method. Registering the same spec twice is a no-op; a different spec under a taken name throws. */
export function registerMethod<C>(spec: MethodSpec<C>): MethodSpec<C> {
  const existing = REGISTRY.get(spec.name);
  if (existing && existing !== spec) throw new Error(`method '${spec.name}' is already registered`);
  REGISTRY.set(spec.name, spec);
  return spec;
}

export function getMethod(name: string): AnySpec {
  const spec = REGISTRY.get(name);
  if (!spec) {
    throw new ConfigError(`unknown method '${name}'. Methods: ${[...REGISTRY.keys()].join(", ")}`);
  }
  return spec;
}

export function listMethods(): AnySpec[] {
  return [...REGISTRY.values()];
}

/** Every signal name some registered method reads (a signal nobody reads is an input error). */
export function knownSignals(): Set<string> {
  const s = new Set<string>();
  for (const spec of REGISTRY.values()) for (const k of spec.signals ?? []) s.add(k);
  return s;
}

/** Checks that every rollout carries the inputs a method requires. */
export function checkRequirements(spec: AnySpec, batch: RolloutBatch): void {
  for (const req of spec.requires ?? []) {
    for (let i = 0; i < batch.n; i++) {
      let ok: boolean;
      switch (req) {
        case "step_ends":
          ok = batch.hasSteps[i] === 1;
          break;
        case "step_rewards":
          ok = batch.stepRewards !== null && batch.stepRewards.present[i] === 1;
          break;
        case "episode":
          ok = batch.episode[i] >= 0;
          break;
        case "t":
          ok = batch.t[i] >= 0;
          break;
        case "anchor":
          ok = batch.anchor[i] >= 0;
          break;
        default: {
          const col = tokenColumn(batch, req);
          ok = col !== null && col.present[i] === 1;
        }
      }
      if (!ok) throw new InputError(batch.source, batch.lines[i], req, `required by method '${spec.name}' but missing`);
    }
  }
}

/**
 * One pass over an output column: zero on mask-0 tokens (when `zeroMasked`), finite everywhere.
 * A non-finite value means the inputs drove the maths out of float range: an input error naming
 * the rollout.
 */
function checkLength(name: string, what: string, arr: Float64Array, batch: RolloutBatch): void {
  if (arr.length !== batch.nTokens) throw new Error(`method '${name}' returned ${what} of length ${arr.length}, expected ${batch.nTokens}`);
}

function enforceOutput(name: string, what: string, arr: Float64Array, batch: RolloutBatch, zeroMasked: boolean): void {
  checkLength(name, what, arr, batch);
  const { mask } = batch;
  // x - x is 0 for every finite x and NaN for NaN and +-Infinity, and NaN sticks in a sum: one
  // branch-free pass flags any non-finite value; only then is the first one searched for.
  let acc = 0;
  if (zeroMasked) {
    // Masks come in long runs (tool spans), so this branch predicts well and most tokens cost a load.
    for (let k = 0; k < arr.length; k++) {
      if (mask[k] === 1) acc += arr[k] - arr[k];
      else arr[k] = 0;
    }
  } else {
    for (let k = 0; k < arr.length; k++) acc += arr[k] - arr[k];
  }
  let bad = -1;
  if (acc !== 0) for (let k = 0; k < arr.length && bad < 0; k++) if (arr[k] - arr[k] !== 0) bad = k;
  if (bad < 0) return;
  let i = 0;
  while (batch.offsets[i + 1] <= bad) i++;
  throw new InputError(batch.source, batch.lines[i], what, `method '${name}' produced a non-finite value at token ${bad - batch.offsets[i]} (inputs too large?)`);
}

/**
 * Runs a method by name on a batch: validates the options, checks required inputs, calls the
 * method, and enforces the output contract.
 */
export function runMethod(name: string, batch: RolloutBatch, rawOptions?: unknown): Assignment {
  const spec = getMethod(name);
  const options = resolveOptions(spec.name, spec.options, rawOptions);
  checkRequirements(spec, batch);
  const out = spec.assign(batch, options);
  if (out.finiteChecked) {
    checkLength(spec.name, "advantages", out.advantages, batch);
    if (out.returns) checkLength(spec.name, "returns", out.returns, batch);
    delete out.finiteChecked;
  } else {
    // Returns first: a method's returns come before its batch-wide normalisation, so a non-finite
    // one names the rollout that caused it, where the normalised advantages are non-finite
    // everywhere. Outcome methods return the advantages as their returns (verl does): one array,
    // checked once.
    if (out.returns && out.returns !== out.advantages) enforceOutput(spec.name, "returns", out.returns, batch, true);
    enforceOutput(spec.name, "advantages", out.advantages, batch, true);
  }
  if (out.weights) {
    enforceOutput(spec.name, "weights", out.weights, batch, false);
    for (let k = 0; k < out.weights.length; k++) if (out.weights[k] < 0) throw new Error(`method '${spec.name}' returned a negative weight`);
  }
  return out;
}
