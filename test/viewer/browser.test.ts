/**
 * The viewer end to end in Chromium: `creditflow view` on examples/tree.jsonl (token texts from
 * the addition vocabulary), an advantage file written by `creditflow assign --method tempo`,
 * two real metrics.jsonl and a real CreditBench results.json. Token values shown are compared
 * with the core's runMethod on the same rows, colours with the documented scale, tree values
 * with values derived by hand, and two views with committed screenshots.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { BrowserContext, Page } from "playwright-core";
import { runMethod } from "../../src/core/registry.js";
import type { RolloutBatch } from "../../src/core/batch.js";
import { readRollouts } from "../../src/io/rollouts.js";
import { SYMBOLS } from "../../src/tasks/index.js";
import { cf } from "../cli/run.js";
import { assertClose } from "../helpers.js";
import { browserSkipReason, launch, matchReference, openPage, startView, type ViewProcess } from "./browser.js";

const skip = browserSkipReason();
if (skip) console.log(`# viewer browser tests skipped: ${skip}`);

// Paths as a user types them (relative): they are shown in the page, and the screenshots hold them.
const FIX = "test/viewer/fixtures";
const tmp = mkdtempSync(join(tmpdir(), "cf-viewer-"));
/** Written by `creditflow assign --method tempo --in examples/tree.jsonl`; checked against runMethod below. */
const ADV = `${FIX}/adv-tempo.jsonl`;

/** The documented scale (docs/viewer.md): neutral to RdBu's red (-) or blue (+), linear in sRGB. */
function expectedColour(v: number, scale: number, dark = false): string {
  const t = Math.max(-1, Math.min(1, v / scale));
  const end = t < 0 ? [178, 24, 43] : [33, 102, 172];
  const mid = dark ? [52, 52, 56] : [247, 247, 247];
  const c = mid.map((m, j) => Math.round(m + (end[j] - m) * Math.abs(t)));
  return `rgb(${c.join(", ")})`;
}

/** Largest |advantage x weight| over trainable tokens: the column's scale. */
function scaleOf(batch: RolloutBatch, adv: Float64Array, w?: Float64Array): number {
  let m = 0;
  for (let k = 0; k < adv.length; k++) if (batch.mask[k]) m = Math.max(m, Math.abs(adv[k] * (w ? w[k] : 1)));
  return m || 1;
}

interface Tok { i: number; id: number; adv: number; weight: number; mask: number; bg: string; bgImage: string; text: string }

async function tokens(page: Page, column: number): Promise<Tok[]> {
  return page.$$eval(`.detail .tokrow[data-column="${column}"] .tok`, (els) =>
    els.map((el) => {
      const cs = el.ownerDocument.defaultView.getComputedStyle(el);
      return { i: Number(el.dataset.i), id: Number(el.dataset.id), adv: Number(el.dataset.adv), weight: Number(el.dataset.weight), mask: Number(el.dataset.mask), bg: cs.backgroundColor, bgImage: cs.backgroundImage, text: el.textContent ?? "" };
    }),
  );
}

/** Two animation frames: the list's canvas draws on the next frame after a change. */
async function settle(page: Page): Promise<void> {
  await page.evaluate("new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))");
}

async function selectRollout(page: Page, index: number): Promise<void> {
  await page.focus(".listscroll");
  await page.keyboard.press("Home");
  for (let k = 0; k < index; k++) await page.keyboard.press("ArrowDown");
}

describe("creditflow view in Chromium", { skip: skip ?? false }, () => {
  let ctx: BrowserContext;
  let view: ViewProcess;
  let page: Page;
  let batch: RolloutBatch;

  before(async () => {
    batch = await readRollouts("examples/tree.jsonl");
    view = await startView(["examples/tree.jsonl", ADV, `${FIX}/metrics-grpo.jsonl`, `${FIX}/metrics-tempo.jsonl`, `${FIX}/results.json`, "--vocab", "addition"]);
    ctx = await launch();
    page = await openPage(ctx, view.url);
  });
  after(async () => {
    await ctx?.close();
    await view?.stop();
  });

  it("shows a rollout under an advantage file and GRPO with the values of runMethod and the documented colours", async () => {
    assert.match(await page.textContent("#status") ?? "", /1 rollout file, 1 advantage file, 2 metrics files, 1 CreditBench result; token texts from task vocabulary \(addition\)/);
    await selectRollout(page, 5);
    assert.equal(await page.textContent(".detail h2"), "rollout t2-p-q-tail");
    const [a, b] = [batch.offsets[5], batch.offsets[6]];
    assert.deepEqual(await page.$$eval(".detail .tokrow", (rows) => rows.map((r) => r.dataset.label)), [`file: ${ADV}`, "grpo"]);

    const grpo = runMethod("grpo", batch);
    const gScale = scaleOf(batch, grpo.advantages);
    const shown = await tokens(page, 1);
    assert.equal(shown.length, b - a);
    assertClose(shown.map((t) => t.adv), grpo.advantages.subarray(a, b), 1e-12, 1e-12, "grpo advantages shown");
    for (const t of shown) {
      assert.equal(t.id, batch.tokens[a + t.i]);
      assert.equal(t.text, SYMBOLS[t.id], "token text from the addition vocabulary");
      if (t.mask === 0) {
        // Token 4 of t2-p-q-tail is a tool token: hatched, never coloured.
        assert.equal(t.i, 4);
        assert.match(t.bgImage, /repeating-linear-gradient/);
        assert.equal(t.adv, 0);
      } else assert.equal(t.bg, expectedColour(grpo.advantages[a + t.i], gScale), `token ${t.i}`);
    }
    // Reward 0 in a group with mean 3/4: every trainable token gets the group's most negative credit: full red.
    assert.equal(shown[0].bg, expectedColour(-1, 1));

    const tempo = runMethod("tempo", batch);
    const fromFile = await tokens(page, 0);
    assertClose(fromFile.map((t) => t.adv), tempo.advantages.subarray(a, b), 1e-9, 1e-9, "advantage file");
    const tScale = scaleOf(batch, tempo.advantages);
    for (const t of fromFile) if (t.mask) assert.equal(t.bg, expectedColour(tempo.advantages[a + t.i], tScale));
    assert.match(await page.textContent('.colblock:nth-of-type(2) .legend') ?? "", new RegExp(`-${Number(tScale.toPrecision(4))}.*\\+${Number(tScale.toPrecision(4))}`));
  });

  it("switches methods and options through the schema form; a bad option is refused with the core's message", async () => {
    const form = '.method-form[data-column="1"]';
    await page.selectOption(`${form} .method-select`, "tempo");
    await page.waitForSelector('.detail .tokrow[data-column="1"][data-label="tempo"]');
    const td = page.locator(`${form} [data-key="tdWeight"]`);
    assert.equal(await td.inputValue(), "1", "the form starts at the schema's default");
    await td.fill("0.5");
    await td.dispatchEvent("change");
    const expected = runMethod("tempo", batch, { tdWeight: 0.5 });
    const [a, b] = [batch.offsets[5], batch.offsets[6]];
    await page.waitForFunction(`Math.abs(Number(document.querySelector('.detail .tokrow[data-column="1"] .tok[data-i="0"]')?.dataset.adv) - ${expected.advantages[a]}) < 1e-12`);
    assertClose((await tokens(page, 1)).map((t) => t.adv), expected.advantages.subarray(a, b), 1e-12, 1e-12, "tempo tdWeight 0.5");

    const eps = page.locator(`${form} [data-key="eps"]`);
    await eps.fill("-1");
    await eps.dispatchEvent("change");
    assert.match(await page.textContent(`${form} .form-error`) ?? "", /method 'tempo' option 'eps': -1 is out of range/);
    assertClose((await tokens(page, 1)).map((t) => t.adv), expected.advantages.subarray(a, b), 1e-12, 1e-12, "unchanged after a refused option");

    await page.click("#add-column");
    assert.equal(await page.locator(".detail .tokrow").count(), 3, "a third column side by side");
    await page.click('.method-form[data-column="2"] .remove');
    assert.equal(await page.locator(".detail .tokrow").count(), 2);
  });

  it("hover and keyboard focus show a token's id, text, advantage, weight, log-prob and entropy", async () => {
    await page.hover('.detail .tokrow[data-column="0"] .tok[data-i="1"]');
    const tip = await page.textContent("#tip");
    assert.match(tip ?? "", /token: 1 \(id 31\)/);
    assert.match(tip ?? "", new RegExp(`text: "${SYMBOLS[31].replace(/[+*?]/g, "\\$&")}"`));
    assert.match(tip ?? "", /advantage: .*weight: 1.*log-prob: n\/a.*entropy: n\/a/s);
    await page.focus('.detail .tokrow[data-column="0"] .tok[tabindex="0"]');
    await page.keyboard.press("ArrowRight");
    await page.keyboard.press("ArrowRight");
    assert.equal(await page.$eval(":focus", (e) => e.dataset.i), "2");
    await page.keyboard.press("ArrowDown");
    assert.equal(await page.$eval(":focus", (e) => e.dataset.column), "1", "down moves to the next method's row");
    assert.equal(await page.isVisible("#tip"), true, "focus shows the tooltip");
    assert.match(await page.textContent("#tip") ?? "", /token: 2 /);
    assert.match(await page.textContent("#tip") ?? "", /mask: 1/);
    assert.match(await page.textContent("#tip") ?? "", /step: 0/, "steps from step_ends");
  });

  it("opens the group's prefix tree: TEMPO's descendant means and SPO-tree's children means, derived by hand", async () => {
    await page.click("#tab-credit");
    await selectRollout(page, 0);
    await page.click("#open-tree");
    await page.waitForSelector(".tree");
    const nodes = async () => page.$$eval(".tree .node", (els) => els.map((e) => ({ value: Number(e.dataset.value), branch: e.classList.contains("branch"), root: e.classList.contains("root") })));
    // Group t1: rewards a1 = 1, a2a = 1, a2b = 0, b = 0. Token tree: root, "78" (a1, a2a, a2b), "78*=" (a2a, a2b), four ends.
    let ns = await nodes();
    assert.equal(ns.length, 7);
    assert.equal(ns.find((n) => n.root)?.value, 0.5);
    assertClose(ns.filter((n) => n.branch).map((n) => n.value).sort(), [0.5, 0.5, 2 / 3], 1e-12, 0, "V = mean reward below");
    await page.selectOption("#tree-unit", "segment");
    await page.waitForSelector(".tree");
    // Segments from step_ends: A = [10 11], then A1 (leaf, 1) and A2 = [15 16] with leaves 1 and 0; B (leaf, 0).
    // V(A2) = 0.5, V(A) = mean(1, 0.5) = 0.75, V(root) = mean(0.75, 0) = 0.375.
    ns = await nodes();
    assert.equal(ns.find((n) => n.root)?.value, 0.375);
    assertClose(ns.filter((n) => n.branch).map((n) => n.value).sort(), [0.375, 0.5, 0.75], 1e-12, 0, "V = mean of children");
    await page.focus(".tree .node.root");
    assert.match(await page.getAttribute(".tree .node.root", "aria-label") ?? "", /root at segment 0, V = 0.375, 2 children/);
    await page.selectOption("#tree-unit", "token");
    await settle(page);
    matchReference("tree", await page.locator(".treewrap").screenshot());
  });

  it("overlays learning curves from two metrics.jsonl and switches the metric and the x axis", async () => {
    await page.click("#tab-runs");
    await page.waitForSelector(".runs .uplot");
    assert.equal(await page.getAttribute(".runs .chart", "data-series"), "2");
    const legend = await page.$$eval(".runs .u-legend .u-series .u-label", (els) => els.map((e) => e.textContent));
    assert.deepEqual(legend.slice(1).map((l) => l?.replace(/^.*\//, "")), ["metrics-grpo.jsonl", "metrics-tempo.jsonl"]);
    await page.selectOption("#runs-y", "entropy_mean");
    await page.selectOption("#runs-x", "sampled_tokens");
    assert.match(await page.textContent(".runs .u-title") ?? "", /entropy_mean \(2 runs\)/);
    assert.match(await page.textContent(".runs .u-legend") ?? "", /sampled tokens/);
  });

  it("shows CreditBench results: the fidelity table, bars and the oracle A* row beside each method", async () => {
    const res = JSON.parse(readFileSync(join(FIX, "results.json"), "utf8"));
    const f = res.fidelity[0];
    await page.click("#tab-bench");
    await page.waitForSelector(".bench table.fidelity");
    const rows = await page.$$eval(".bench table.fidelity tbody tr", (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent)));
    const f3 = (x: number | null) => (x === null ? "n/a" : Number(x.toPrecision(3)).toString());
    for (const m of f.methods) {
      const row = rows.find((r) => r[0] === m.method);
      assert.ok(row, m.method);
      assert.equal(row[1], Number.isFinite(m.spearman) ? f3(m.spearman) : "n/a");
      assert.equal(row[2], Number.isFinite(m.pearson) ? f3(m.pearson) : "n/a");
    }
    assert.equal(await page.locator(".bench .barrow").count(), f.methods.length);
    const hm = f.heatmaps[0];
    const labels = await page.$$eval(".bench .heatmaps .tokrow", (els) => els.map((e) => e.dataset.label));
    assert.deepEqual(labels.slice(0, 1 + Object.keys(hm.credit).length), ["oracle A*", ...Object.keys(hm.credit)]);
    const oracle = await page.$$eval(".bench .heatmaps .tokrow:first-of-type .tok", (els) => els.map((e) => Number(e.dataset.value)));
    assertClose(oracle, hm.oracle, 0, 0, "oracle A* values");
    assert.equal(await page.locator(".bench .heatmaps .tokrow").first().locator(".tok.marked").count(), hm.decisive.length, "decisive tokens marked");
  });

  it("switches to the dark scheme: the page and the token colours", async () => {
    await page.click("#tab-credit");
    await selectRollout(page, 5);
    await page.click("#scheme"); // auto -> light
    await page.click("#scheme"); // light -> dark
    assert.equal(await page.getAttribute("html", "data-scheme"), "dark");
    const grpo = runMethod("tempo", batch, { tdWeight: 0.5 });
    const a = batch.offsets[5];
    const t = (await tokens(page, 1))[0];
    assert.equal(t.bg, expectedColour(grpo.advantages[a], scaleOf(batch, grpo.advantages), true));
    assert.notEqual(await page.$eval("body", (e) => e.ownerDocument.defaultView.getComputedStyle(e).backgroundColor), "rgb(255, 255, 255)");
    await page.click("#scheme"); // back to auto (light here)
    assert.equal(await page.getAttribute("html", "data-scheme"), "light");
  });

  it("matches the committed screenshot of the credit view", async () => {
    await page.reload();
    await page.waitForSelector("body[data-ready]");
    await selectRollout(page, 5);
    await page.mouse.move(0, 0);
    await settle(page);
    matchReference("credit", await page.locator("main").screenshot());
  });

  it("opens files in the page: rollouts join the file list, a bad file is refused with its line and field", async () => {
    await page.setInputFiles("#open", "examples/steps.jsonl");
    // Reading a picked file is asynchronous: wait for the status line to change.
    await page.waitForFunction(`document.querySelector("#status").textContent.startsWith("2 rollout files")`);
    assert.match(await page.textContent("#status") ?? "", /^2 rollout files/);
    await page.selectOption("#set-select", "1");
    assert.match(await page.textContent(".fileinfo") ?? "", /read as JSON lines; line 1 has 'tokens'/);
    const steps = await readRollouts("examples/steps.jsonl");
    const pure = runMethod("grpo", steps);
    assertClose((await tokens(page, 0)).map((t) => t.adv), pure.advantages.subarray(0, steps.offsets[1]), 1e-12, 1e-12, "grpo on the opened file");
    await page.setInputFiles("#open", { name: "bad.jsonl", mimeType: "text/plain", buffer: Buffer.from('{"id": "a", "advantages": [1, "x"]}\n') });
    await page.waitForSelector("#status.error");
    assert.equal(await page.textContent("#status"), "bad.jsonl:1: field 'advantages': element 1 is \"x\", expected a finite number");
    assert.equal(await page.getAttribute("#status", "class"), "error");
  });

  it("--export writes a copy that works opened from disk (file://)", async () => {
    const out = join(tmp, "site");
    assert.equal(cf(["view", "examples/tree.jsonl", "--vocab", "addition", "--export", out]).code, 0);
    const p = await openPage(ctx, pathToFileURL(join(out, "index.html")).href);
    assert.equal(await p.textContent(".detail h2"), "rollout t1-a-a1");
    const grpo = runMethod("grpo", batch);
    const first = Number(await p.getAttribute('.detail .tokrow[data-column="0"] .tok[data-i="0"]', "data-adv"));
    assert.equal(first, grpo.advantages[0]);
    await p.close();
  });
});
