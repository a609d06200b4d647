/**
 * 10,000 rollouts of 256 tokens in the viewer: the page becomes interactive, scrolling to the
 * middle and to the end draws those rows on the list's canvas (their pixels have the colours of
 * GRPO's credit for those tokens), and the keyboard reaches the last rollout. No timing is
 * asserted; the load time is printed.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { batchFromObjects } from "../../src/core/rows.js";
import { runMethod } from "../../src/core/registry.js";
import "../../src/methods/index.js";
import { browserSkipReason, launch, openPage, startView, type ViewProcess } from "./browser.js";

const N = 10_000, T = 256, G = 8;
const skip = browserSkipReason();

/** Deterministic rows: groups of 8, rewards 0/1, every tenth rollout with a tool span (mask 0). */
function rows(): Record<string, unknown>[] {
  let s = 12345;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < N; i++) {
    const tokens = Array.from({ length: T }, () => Math.floor(rnd() * 1000));
    const row: Record<string, unknown> = { id: `r${i}`, group: `g${Math.floor(i / G)}`, tokens, reward: rnd() < 0.4 ? 1 : 0 };
    if (i % 10 === 3) row.mask = tokens.map((_, k) => (k >= 100 && k < 120 ? 0 : 1));
    out.push(row);
  }
  return out;
}

/** The canvas pixel at (x, y) as "r,g,b". */
async function pixel(page: Page, x: number, y: number): Promise<string> {
  return page.$eval("canvas.listcanvas", (c, [px, py]) => Array.from(c.getContext("2d").getImageData(px, py, 1, 1).data).slice(0, 3).join(","), [x, y]);
}

/** The list's colour of a value: its bin of 255 on the documented scale (docs/viewer.md). */
function binColour(v: number, scale: number): string {
  const t = Math.max(-1, Math.min(1, v / scale));
  const q = (Math.round(((t + 1) / 2) * 254) / 254) * 2 - 1;
  const end = q < 0 ? [178, 24, 43] : [33, 102, 172];
  return [247, 247, 247].map((m, j) => Math.round(m + (end[j] - m) * Math.abs(q))).join(",");
}

describe("10,000 rollouts x 256 tokens", { skip: skip ?? false }, () => {
  let ctx: BrowserContext;
  let view: ViewProcess;
  let page: Page;
  const data = rows();
  const file = join(mkdtempSync(join(tmpdir(), "cf-viewer-big-")), "big.jsonl");

  before(async () => {
    writeFileSync(file, data.map((r) => JSON.stringify(r)).join("\n") + "\n");
    view = await startView([file]);
    ctx = await launch();
  });
  after(async () => {
    await ctx?.close();
    await view?.stop();
  });

  it("loads, becomes interactive, and scrolling draws the rows it reaches", async () => {
    const t0 = Date.now();
    page = await openPage(ctx, view.url, 120_000);
    console.log(`# 10,000 x 256: page interactive ${Date.now() - t0} ms after navigation`);
    assert.match(await page.textContent(".fileinfo") ?? "", /10000 rollouts, 2560000 tokens, 1250 groups/);
    const batch = batchFromObjects(data);
    const grpo = runMethod("grpo", batch).advantages;
    let scale = 0;
    for (let k = 0; k < grpo.length; k++) if (batch.mask[k]) scale = Math.max(scale, Math.abs(grpo[k]));

    const canvas = page.locator("canvas.listcanvas");
    await page.waitForFunction(`document.querySelector("canvas.listcanvas")?.dataset.firstRow === "0"`);
    const rowH = Number(await canvas.getAttribute("data-row-height"));
    const width = await page.$eval(".listscroll", (e) => e.clientWidth);
    const cw = Math.max(1, (width - 190 - 8) / T);
    for (const target of [5003, N - 1]) {
      await page.$eval(".listscroll", (e, top) => (e.scrollTop = top), target * rowH);
      await page.waitForFunction(`Number(document.querySelector("canvas.listcanvas")?.dataset.lastRow) >= ${target}`);
      const first = Number(await canvas.getAttribute("data-first-row"));
      assert.ok(first <= target && target - first < 40, `row ${target} is drawn (first row ${first})`);
      const top = await page.$eval(".listscroll", (e) => e.scrollTop);
      // Token 110 of the row: inside the tool span for rollout 5003 (drawn as mask), credit-coloured otherwise.
      for (const k of [0, 110, 255]) {
        const x = Math.floor(190 + (k + 0.5) * cw);
        const y = Math.floor(target * rowH - top + 2 + 4);
        const got = await pixel(page, x, y);
        const masked = target % 10 === 3 && k >= 100 && k < 120;
        if (masked) assert.notEqual(got, binColour(0, 1), `row ${target} token ${k}: a tool token is not drawn as zero credit`);
        else assert.equal(got, binColour(grpo[batch.offsets[target] + k], scale), `row ${target} token ${k}`);
      }
    }
    await page.focus(".listscroll");
    await page.keyboard.press("Home");
    await page.keyboard.press("End");
    assert.equal(await page.textContent(".detail h2"), `rollout r${N - 1}`);
    assert.equal(await page.locator(".detail .tokrow .tok").count(), T);
  });
});
