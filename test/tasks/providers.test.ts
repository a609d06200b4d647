/**
 * Providers: which task feeds which method, and the proof that it really does. For every method a
 * task claims to provide, episodes are run on that task with a scripted backend (demonstrations,
 * and corrupted ones so groups have reward variance), any extra sampling the method needs is done,
 * rows are built in the method's shape, validated as a rollout file would be, and the method runs
 * on them with the task's options: every advantage finite, some not zero.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { batchFromObjects, knownSignals, listMethods, runMethod } from "../../src/core/index.js";
import "../../src/methods/index.js";
import {
  addBudgetScores, addSelfRewards, BACKEND_INPUTS, buildRows, getTask, listTasks, methodInputs, mulberry32, provisionFor, r3lRetries, runEpisodes, taskForMethod, taskInputs,
} from "../../src/tasks/index.js";
import type { Episode, Provision, Task } from "../../src/tasks/index.js";
import { scripted } from "./scripted.js";

const GROUP = 6;
const PROMPTS = 5;

/** Every method whose inputs some task provides (with the backend's inputs producible). */
function provided(): Provision[] {
  const out: Provision[] = [];
  for (const spec of listMethods()) {
    try {
      const p = provisionFor(spec.name);
      if (p.task !== null || p.extra !== null) out.push(p);
    } catch {
      // refused: no task provides its inputs (checked below)
    }
  }
  return out;
}

/** Episodes, extra sampling and rows of `prov` on its task (chain when any task will do). */
async function rowsFor(prov: Provision, seed: number): Promise<{ rows: unknown[]; episodes: Episode[] }> {
  const task: Task = prov.task ?? getTask("chain");
  const rng = mulberry32(seed);
  const prompts = Array.from({ length: PROMPTS }, () => task.samplePrompt(rng));
  const script = scripted(task, prompts, 0.5, seed);
  const starts = prompts.flatMap((p) => new Array(GROUP).fill(p));
  let episodes = await runEpisodes(task, starts, script.generate);
  let groups = starts.map((_, k) => `g${Math.floor(k / GROUP)}`);
  if (prov.extra === "budget_scores") await addBudgetScores(task, episodes, script.generate, 2);
  if (prov.extra === "self_reward") await addSelfRewards(episodes, script.scoreNext, { token: task.vocab.encode("z")[0], c: -6 });
  if (prov.extra === "retries") {
    // R3L: the retries of a group's failed attempts join its group.
    const failedGroups = episodes.flatMap((ep, k) => (ep.verdict.correct || ep.turns.length === 0 ? [] : [groups[k]]));
    const retries = await r3lRetries(task, episodes, script.generate);
    episodes = [...episodes, ...retries];
    groups = [...groups, ...failedGroups];
  }
  const ids = episodes.map((_, k) => `e${k}`);
  return { rows: buildRows(prov.rows, task, episodes, ids, groups), episodes };
}

describe("providers", () => {
  it("route each method of the issue to the task meant for it, with the options its inputs need", () => {
    const expect: Record<string, [string | null, string, string | null]> = {
      pure: ["chain", "episode", null], oprl: ["chain", "episode", null], capo: ["chain", "episode", null], hicra: ["chain", "episode", null],
      brpo: ["chain", "budget", "budget_scores"], groundedprm: ["chain", "episode", null],
      matchtir: ["tools", "episode", null], gigpo: ["tools", "turns", null], r3l: ["tools", "episode", "retries"],
      "rank-grpo": ["rank", "episode", null], laser: [null, "episode", "self_reward"], grpo: [null, "episode", null],
    };
    for (const [method, [task, rows, extra]] of Object.entries(expect)) {
      const p = provisionFor(method);
      assert.equal(p.task?.name ?? null, task, method);
      assert.equal(p.rows, rows, method);
      assert.equal(p.extra, extra, method);
    }
    assert.deepEqual(provisionFor("rank-grpo").options, { ranks: 4 });
    assert.deepEqual(provisionFor("brpo").options, { budgets: [6, 12, 18, 27] });
    assert.equal(taskForMethod("pure")?.name, "chain");
    assert.equal(taskForMethod("grpo"), null);
  });

  it("read a method's inputs from the registry plus the signals it is degenerate without", () => {
    assert.deepEqual(methodInputs("pure").sort(), ["step_ends", "step_rewards"]);
    assert.deepEqual(methodInputs("hicra"), ["signals.planning"]);
    assert.deepEqual(methodInputs("brpo").sort(), ["signals.budget_scores", "step_ends"]);
    assert.deepEqual(methodInputs("grpo"), []);
    assert.deepEqual(taskInputs(getTask("addition")), ["step_ends"], "tasks without a provides list give step_ends");
    assert.ok(BACKEND_INPUTS.includes("signals.self_reward"));
  });

  it("refuse with the missing input and the task that provides it", () => {
    assert.throws(() => provisionFor("pure", getTask("addition")), {
      message: "method 'pure' needs step_rewards, which task 'addition' does not provide; task 'chain' does (--task chain)",
    });
    assert.throws(() => provisionFor("gigpo", getTask("chain")), {
      message: "method 'gigpo' needs episode, t and anchor, which task 'chain' does not provide; task 'tools' does (--task tools)",
    });
    assert.throws(() => provisionFor("rank-grpo", getTask("decisive")), /needs step_rewards, which task 'decisive' does not provide; task 'rank' does \(--task rank\)/);
    assert.throws(() => provisionFor("gae"), { message: "method 'gae' needs values; no task provides values (it comes from a critic, a value model)" });
    assert.throws(() => provisionFor("gae", getTask("chain")), /needs values, which task 'chain' does not provide; no task provides values \(it comes from a critic/);
    assert.throws(() => provisionFor("dpo-token-reward"), /ref_logprobs \(it comes from a reference policy\) and signals.dpo_logprobs \(it comes from a DPO-trained model\)/);
    assert.throws(() => provisionFor("tp-grpo"), /signals.thought_labels \(it comes from an LLM judge via creditflow annotate\)/);
    // What the caller produces itself is not asked of a task.
    assert.equal(provisionFor("gae", undefined, { producible: ["values"] }).task, null);
    assert.equal(provisionFor("gigpo", getTask("addition"), { producible: ["episode", "t", "anchor"] }).task?.name, "addition");
    assert.throws(() => provisionFor("laser", undefined, { producible: [] }), /signals.self_reward/);
    assert.throws(() => provisionFor("nope"), /unknown method 'nope'/);
  });

  it("cover the ten methods no task fed before, on tasks of their own", () => {
    const covered = new Set(provided().map((p) => p.method));
    for (const m of ["pure", "oprl", "capo", "hicra", "matchtir", "gigpo", "r3l", "rank-grpo", "brpo", "laser"]) assert.ok(covered.has(m), m);
  });

  for (const prov of provided()) {
    it(`feed ${prov.method} on task ${prov.task?.name ?? "chain (any task)"}: rows validate and give finite, non-trivial advantages`, async () => {
      const { rows, episodes } = await rowsFor(prov, 17);
      const rewards = episodes.map((e) => e.verdict.reward);
      assert.ok(rewards.some((r) => r === 1) && rewards.some((r) => r === 0), "reward variance");
      const batch = batchFromObjects(rows, `<${prov.method}>`, { knownSignals: knownSignals() });
      const out = runMethod(prov.method, batch, prov.options);
      assert.equal(out.advantages.length, batch.nTokens);
      assert.ok(out.advantages.every(Number.isFinite));
      assert.ok(out.advantages.some((a) => a !== 0), "some credit assigned");
      // Environment tokens get no credit.
      for (let k = 0; k < batch.nTokens; k++) if (batch.mask[k] === 0) assert.equal(out.advantages[k], 0);
    });
  }

  it("give the inputs that make the methods differ from GRPO: per-step credit in PURE, planning boosts in HICRA, pivots in R3L, anchors in GiGPO", async () => {
    const pure = await rowsFor(provisionFor("pure"), 5);
    const batch = batchFromObjects(pure.rows, "<pure>", { knownSignals: knownSignals() });
    const adv = runMethod("pure", batch, {}).advantages;
    // Within some rollout the advantage differs between steps (it would be constant under GRPO).
    let varies = false;
    for (let i = 0; i < batch.n && !varies; i++) {
      const vals = new Set<number>();
      for (let k = batch.offsets[i]; k < batch.offsets[i + 1]; k++) if (adv[k] !== 0) vals.add(adv[k]);
      varies = vals.size > 1;
    }
    assert.ok(varies);
    const hicra = await rowsFor(provisionFor("hicra"), 5);
    const hb = batchFromObjects(hicra.rows, "<hicra>", { knownSignals: knownSignals() });
    const h = runMethod("hicra", hb, {}).advantages;
    const g = runMethod("grpo", hb, {}).advantages;
    assert.ok(h.some((x, k) => Math.abs(x - g[k]) > 1e-9), "planning tokens are boosted");
    const r3l = await rowsFor(provisionFor("r3l"), 5);
    const rb = batchFromObjects(r3l.rows, "<r3l>", { knownSignals: knownSignals() });
    assert.ok((r3l.rows as { signals?: { pivot?: number } }[]).some((r) => (r.signals?.pivot ?? 0) > 0), "some retry starts after its first turn");
    const w = runMethod("r3l", rb, {}).weights;
    assert.ok(w !== undefined && w.some((x, k) => x === 0 && rb.mask[k] === 1), "replayed turns are masked");
    const gigpo = await rowsFor(provisionFor("gigpo"), 5);
    const anchors = new Map<string, number>();
    for (const r of gigpo.rows as { anchor: string; group: string }[]) anchors.set(`${r.group}|${r.anchor}`, (anchors.get(`${r.group}|${r.anchor}`) ?? 0) + 1);
    assert.ok([...anchors.values()].some((c) => c > 1), "rollouts of a group share anchor states");
  });

  it("list every registered task once, all with verdicts that match their provides list", () => {
    for (const task of listTasks()) {
      const demo = task.demonstration(task.samplePrompt(mulberry32(1)), mulberry32(2));
      const v = task.verify(task.samplePrompt(mulberry32(1)), demo);
      for (const input of taskInputs(task)) {
        if (input === "step_ends") assert.ok(v.stepEnds !== undefined, task.name);
        else if (input === "step_rewards") assert.equal(v.stepRewards?.length, v.stepEnds?.length, task.name);
        else if (input === "signals.budget_scores") assert.ok(task.budget !== undefined, task.name);
        else if (input === "signals.pivot") assert.ok(task.environment !== undefined, task.name);
        else if (["episode", "t", "anchor"].includes(input)) assert.ok(task.environment !== undefined, task.name);
        else if (input.startsWith("signals.")) assert.ok(v.signals !== undefined && input.slice(8) in v.signals, `${task.name} ${input}`);
      }
    }
  });
});
