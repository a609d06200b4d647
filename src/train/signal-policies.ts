/**
 * The frozen policies a run loads from policy files to score signals (model-signals.ts
 * POLICY_FILE_SIGNALS: --dpo-policy fills signals.dpo_logprobs). Checked first (rundir.ts), so a
 * bad file is one line naming it; loaded once per run (and again on resume, from the path in the
 * run's config.json), never trained.
 */
import { ConfigError } from "../core/errors.js";
import { readPolicyFile } from "./checkpoint.js";
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
