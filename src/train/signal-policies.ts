/**
 * The frozen policies a run loads from policy files to score signals (model-signals.ts
 * POLICY_FILE_SIGNALS: --dpo-policy fills signals.dpo_logprobs). Checked first (rundir.ts), so a
 * bad file is one line naming it; loaded once per run (and again on resume, from the path in the
 * run's config.json), never trained.
 */
import { ConfigError } from "../core/errors.js";
import { readJson, readPolicyFile, weightsDigest } from "./checkpoint.js";
import type { TrainConfig } from "./config.js";
import { POLICY_FILE_SIGNALS } from "./model-signals.js";
import { Policy } from "./policy/model.js";
import { checkSignalPolicyFiles } from "./rundir.js";

/** signal -> frozen policy, for every policy file the configuration names. */
export function loadSignalPolicies(config: TrainConfig): Map<string, Policy> {
  checkSignalPolicyFiles(config);
  const out = new Map<string, Policy>();
  for (const p of POLICY_FILE_SIGNALS) {
    const path = config[p.configKey] ?? null;
    if (path === null) continue;
    const f = readPolicyFile(path);
    try {
      out.set(p.signal, new Policy(f.model, f.weights, false));
    } catch (e) {
      for (const m of out.values()) m.dispose();
      throw new ConfigError(`${path}: ${p.flag}: the weights do not fit the file's model (${(e as Error).message})`);
    }
  }
  return out;
}

/**
 * A note when a policy file records the reference it was trained against (`prefer` writes
 * info.reference_digest) and the run's reference (its warm start) is another model: the DPO
 * token reward beta (lp_dpo - lp_ref) assumes the two match. A note, not a refusal: rto takes its
 * reward against the run's initial model by design. Null when they match or the file records none.
 */
export function referenceNote(config: TrainConfig, reference: ReadonlyMap<string, Float32Array>): string | null {
  const notes: string[] = [];
  let digest: string | null = null;
  for (const p of POLICY_FILE_SIGNALS) {
    const path = config[p.configKey] ?? null;
    if (path === null) continue;
    const info = (readJson(path) as { info?: { reference_digest?: unknown } }).info;
    if (typeof info?.reference_digest !== "string") continue;
    digest ??= weightsDigest(reference);
    if (info.reference_digest !== digest) {
      notes.push(`note: ${path} (${p.flag}) was trained against another reference than this run's warm start, so signals.${p.signal} - ref_logprobs is not its implicit reward (give --warm-start with the reference it was trained from, e.g. the warm-start.json beside it)`);
    }
  }
  return notes.length ? notes.join("\n") : null;
}
