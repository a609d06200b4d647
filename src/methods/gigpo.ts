/**
 * GiGPO: Group-in-Group Policy Optimization (arXiv 2505.10978), as the reference code
 * `verl-agent` `gigpo/core_gigpo.py` (`compute_gigpo_outcome_advantage`) @ 3d91c9b3.
 *
 * One row per environment step (`episode`, `t`, `anchor`), `reward` = that step's env reward.
 * With s_i = reward_i + sum(token_rewards_i) the row's step score:
 *
 *   S_e      = sum of s over the rows of episode e                  (the episode return)
 *   R^S_t    = s_t + gamma R^S_{t+1}                                 (Eq.5, in order of t)
 *   A^E_i    = S_i - mean_g   or (S_i - mean_g) / (std_g + eps)      (Eq.3, norm "mean" / "std")
 *   A^S_i    = R^S_i - mean_a or (R^S_i - mean_a) / (std_a + eps)    (Eq.7)
 *   A_i      = A^E_i + omega A^S_i      on every mask-1 token of row i; returns = advantages (Eq.8)
 *
 * g is the row's `group` (verl-agent's uid); a is its anchor cluster: rows of the same group
 * whose `anchor` strings are equal. Stds are unbiased. A group with one entry has mean 0, std 1;
 * a one-row anchor cluster has A^S = 0 (mean = its own value, std 1).
 *
 * QUIRK (reference default, `episodeStats: "per-step"`): the episode statistics run over every
 * step row of the group, so a longer episode counts once per step. `"per-episode"` counts each
 * episode once (the paper's Eq.3, `compute_mean_std_cross_steps=False`).
 *
 * Choices where the reference has no counterpart:
 * - verl-agent's reward manager writes the episode return on every step row; here each row
 *   carries its own step reward and the episode return is their sum, so an invalid-action
 *   penalty put in a row's `reward` lowers the whole episode's return (the reference lowers only
 *   that row's copy).
 * - Rows of an episode are ordered by `t`; gaps in `t` are allowed (gamma applies once per row),
 *   a repeated `t` is an input error, and so is an episode whose rows lie in different groups.
 * - `enable_similarity` (fuzzy anchor matching) is not offered: anchors match exactly.
 * - A zero denominator (std 0 with eps 0) gives 0 for that term.
 */
import type { RolloutBatch } from "../core/batch.js";
import { InputError } from "../core/errors.js";
import { registerMethod, type Assignment } from "../core/registry.js";
import { outcomeScores } from "../core/rewards.js";
import { broadcastToTokens, groupStats, meanStd } from "../core/stats.js";

export interface GigpoOptions {
  omega: number;
  gamma: number;
  norm: "std" | "mean";
  episodeStats: "per-step" | "per-episode";
  eps: number;
}

export interface GigpoParts {
  /** [n] A = A^E + omega A^S. */
  advantage: Float64Array;
  /** [n] A^E. */
  episodeAdvantage: Float64Array;
  /** [n] A^S. */
  stepAdvantage: Float64Array;
  /** [n] S, the return of the row's episode. */
  episodeReturn: Float64Array;
  /** [n] R^S. */
  stepReturn: Float64Array;
}

/** CSR listing of items by a dense key in [0, nKeys), members in input order (counting sort). */
function bucket(keys: Int32Array, nKeys: number): { offsets: Int32Array; members: Int32Array } {
  const offsets = new Int32Array(nKeys + 1);
  for (let i = 0; i < keys.length; i++) offsets[keys[i] + 1]++;
  for (let k = 0; k < nKeys; k++) offsets[k + 1] += offsets[k];
  const fill = offsets.slice(0, nKeys);
  const members = new Int32Array(keys.length);
  for (let i = 0; i < keys.length; i++) members[fill[keys[i]]++] = i;
  return { offsets, members };
}

function normalised(x: number, mean: number, std: number, opts: GigpoOptions): number {
  if (opts.norm === "mean") return x - mean;
  const denom = std + opts.eps;
  return denom > 0 ? (x - mean) / denom : 0;
}

/** Per-row GiGPO advantages and their parts. */
export function gigpoRowAdvantages(batch: RolloutBatch, opts: GigpoOptions): GigpoParts {
  const n = batch.n;
  const s = outcomeScores(batch);
  const nEpisodes = batch.episodeNames.length;
  for (let i = 0; i < n; i++) {
    if (batch.episode[i] < 0) throw new InputError(batch.source, batch.lines[i], "episode", "required by method 'gigpo' but missing");
    if (batch.t[i] < 0) throw new InputError(batch.source, batch.lines[i], "t", "required by method 'gigpo' but missing");
  }
  const episodes = bucket(batch.episode, nEpisodes);

  const episodeReturn = new Float64Array(n);
  const stepReturn = new Float64Array(n);
  const episodeTotal = new Float64Array(nEpisodes);
  const episodeGroup = new Int32Array(nEpisodes);
  for (let e = 0; e < nEpisodes; e++) {
    const a = episodes.offsets[e], b = episodes.offsets[e + 1];
    const rows = episodes.members.subarray(a, b);
    const first = rows[0];
    episodeGroup[e] = batch.group[first];
    for (let k = 1; k < rows.length; k++) {
      const i = rows[k];
      if (batch.group[i] !== episodeGroup[e]) {
        throw new InputError(batch.source, batch.lines[i], "group",
          `episode '${batch.episodeNames[e]}' is in group '${batch.groupNames[batch.group[i]]}' here but in group '${batch.groupNames[episodeGroup[e]]}' on line ${batch.lines[first]}`);
      }
    }
    rows.sort((x, y) => batch.t[x] - batch.t[y]);
    for (let k = 1; k < rows.length; k++) {
      if (batch.t[rows[k]] === batch.t[rows[k - 1]]) {
        const [early, late] = rows[k] > rows[k - 1] ? [rows[k - 1], rows[k]] : [rows[k], rows[k - 1]];
        throw new InputError(batch.source, batch.lines[late], "t",
          `t ${batch.t[late]} repeats in episode '${batch.episodeNames[e]}' (also on line ${batch.lines[early]})`);
      }
    }
    let running = 0;
    let total = 0;
    for (let k = rows.length - 1; k >= 0; k--) {
      const i = rows[k];
      running = s[i] + opts.gamma * running;
      stepReturn[i] = running;
      total += s[i];
    }
    episodeTotal[e] = total;
    for (let k = 0; k < rows.length; k++) episodeReturn[rows[k]] = total;
  }

  // Episode-relative term (Eq.3).
  const nGroups = batch.groupNames.length;
  let groupMean: Float64Array;
  let groupStd: Float64Array;
  if (opts.episodeStats === "per-step") {
    const stats = groupStats(batch, episodeReturn, { std: "unbiased", singleton: "verl" });
    groupMean = stats.mean;
    groupStd = stats.std;
  } else {
    groupMean = new Float64Array(nGroups);
    groupStd = new Float64Array(nGroups);
    const byGroup = bucket(episodeGroup, nGroups);
    const gathered = new Float64Array(nEpisodes);
    for (let g = 0; g < nGroups; g++) {
      const a = byGroup.offsets[g], b = byGroup.offsets[g + 1];
      if (b - a <= 1) {
        groupMean[g] = 0;
        groupStd[g] = 1;
        continue;
      }
      for (let k = a; k < b; k++) gathered[k] = episodeTotal[byGroup.members[k]];
      const { mean, std } = meanStd(gathered.subarray(a, b), "unbiased");
      groupMean[g] = mean;
      groupStd[g] = std;
    }
  }
  const episodeAdvantage = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const g = batch.group[i];
    episodeAdvantage[i] = normalised(episodeReturn[i], groupMean[g], groupStd[g], opts);
  }

  // Step-relative term over anchor clusters (Eq.6-7): the key is the (group, anchor) pair.
  const clusterOf = new Int32Array(n);
  const clusterIds = new Map<number, number>();
  const nAnchors = batch.anchorNames.length;
  for (let i = 0; i < n; i++) {
    if (batch.anchor[i] < 0) throw new InputError(batch.source, batch.lines[i], "anchor", "required by method 'gigpo' but missing");
    const key = batch.group[i] * nAnchors + batch.anchor[i];
    let c = clusterIds.get(key);
    if (c === undefined) {
      c = clusterIds.size;
      clusterIds.set(key, c);
    }
    clusterOf[i] = c;
  }
  const clusters = bucket(clusterOf, clusterIds.size);
  const stepAdvantage = new Float64Array(n);
  const gathered = new Float64Array(n);
  for (let c = 0; c < clusterIds.size; c++) {
    const a = clusters.offsets[c], b = clusters.offsets[c + 1];
    if (b - a === 1) continue; // A^S = 0: the lone row is its own mean
    for (let k = a; k < b; k++) gathered[k] = stepReturn[clusters.members[k]];
    const { mean, std } = meanStd(gathered.subarray(a, b), "unbiased");
    for (let k = a; k < b; k++) {
      const i = clusters.members[k];
      stepAdvantage[i] = normalised(stepReturn[i], mean, std, opts);
    }
  }

  const advantage = new Float64Array(n);
  for (let i = 0; i < n; i++) advantage[i] = episodeAdvantage[i] + opts.omega * stepAdvantage[i];
  return { advantage, episodeAdvantage, stepAdvantage, episodeReturn, stepReturn };
}

export function gigpo(batch: RolloutBatch, opts: GigpoOptions): Assignment {
  const parts = gigpoRowAdvantages(batch, opts);
  const advantages = broadcastToTokens(batch, parts.advantage);
  return {
    advantages,
    returns: advantages,
    diag: {
      rollouts: {
        episode_advantage: parts.episodeAdvantage,
        step_advantage: parts.stepAdvantage,
        episode_return: parts.episodeReturn,
        step_return: parts.stepReturn,
      },
    },
  };
}

export const gigpoSpec = registerMethod<GigpoOptions>({
  name: "gigpo",
  locality: "group",
  summary: "GiGPO: episode-relative advantage plus step-relative advantage within anchor-state groups (one row per env step)",
  paper: "GiGPO, arXiv 2505.10978; code verl-agent gigpo/core_gigpo.py @3d91c9b3",
  status: "reference-code",
  requires: ["episode", "t", "anchor"],
  example: "agents.jsonl",
  options: {
    omega: { type: "number", default: 1, min: 0, doc: "weight of the step-relative term: A = A^E + omega A^S" },
    gamma: { type: "number", default: 0.95, min: 0, max: 1, doc: "discount of the step returns R^S within an episode" },
    norm: { type: "enum", values: ["std", "mean"], default: "std", doc: "std: (x - mean) / (std + eps) (mean_std_norm, official script); mean: x - mean (mean_norm)" },
    episodeStats: { type: "enum", values: ["per-step", "per-episode"], default: "per-step", doc: "episode statistics over every step row of the group (reference) or once per episode (paper Eq.3)" },
    eps: { type: "number", default: 1e-6, min: 0, doc: "added to the std when norm is std" },
  },
  assign: gigpo,
});
