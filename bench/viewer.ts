/**
 * The viewer on 10,000 rollouts of 256 tokens in Chromium: time from the script's start to an
 * interactive page, and the time to draw the rollout list's visible window after a scroll
 * (canvas, what the page does) against the same window built as DOM token spans and laid out
 * (the reference, measured in the same page and run). Medians over the same scroll positions.
 *
 *   npm run bench:viewer [-- --rows 10000 --positions 30]
 */
import { mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { mulberry32 } from "../src/core/random.js";
import { browserSkipReason, launch, openPage, startView } from "../test/viewer/browser.js";

const { values } = parseArgs({ options: { rows: { type: "string", default: "10000" }, positions: { type: "string", default: "30" } } });
const N = Number(values.rows), T = 256, P = Number(values.positions);
const skip = browserSkipReason();
if (skip) {
  console.error(`bench:viewer: ${skip}`);
  process.exit(2);
}

const rng = mulberry32(7);
const file = join(mkdtempSync(join(tmpdir(), "cf-viewer-bench-")), "rollouts.jsonl");
const lines: string[] = [];
for (let i = 0; i < N; i++) {
  const tokens = Array.from({ length: T }, () => Math.floor(rng() * 50000));
  lines.push(JSON.stringify({ id: `q${Math.floor(i / 8)}-${i % 8}`, group: `q${Math.floor(i / 8)}`, tokens, reward: rng() < 0.5 ? 1 : 0 }));
}
writeFileSync(file, lines.join("\n") + "\n");

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// The reference, run in the page: the list's visible rows as DOM spans (one per token and
// column, coloured like the canvas cells), appended where the list is and laid out.
const DOM_WINDOW = `(() => {
  const scroller = document.querySelector(".listscroll");
  const canvas = document.querySelector("canvas.listcanvas");
  const first = Number(canvas.dataset.firstRow), last = Number(canvas.dataset.lastRow);
  const cols = canvas.dataset.columns.split(",").length;
  const t0 = performance.now();
  const box = document.createElement("div");
  box.style.cssText = "position:absolute;left:0;top:0;width:" + scroller.clientWidth + "px;font:11px monospace;background:#fff";
  for (let i = first; i <= last; i++) {
    for (let c = 0; c < cols; c++) {
      const row = document.createElement("div");
      row.style.cssText = "display:flex;height:8px;margin-left:190px";
      for (let k = 0; k < ${T}; k++) {
        const s = document.createElement("span");
        s.style.cssText = "flex:1;background:rgb(" + ((i * 31 + k) % 255) + ",120,200)";
        row.append(s);
      }
      box.append(row);
    }
  }
  document.querySelector(".list").append(box);
  void box.offsetHeight;
  const ms = performance.now() - t0;
  box.remove();
  return ms;
})()`;

const view = await startView([file]);
const ctx = await launch();
try {
  const t0 = Date.now();
  const page = await openPage(ctx, view.url, 300_000);
  const wall = Date.now() - t0;
  const loadMs = Number(await page.getAttribute("body", "data-load-ms"));
  const rowH = Number(await page.getAttribute("canvas.listcanvas", "data-row-height"));
  const canvasMs: number[] = [], domMs: number[] = [];
  for (let p = 0; p < P; p++) {
    const row = Math.floor(rng() * (N - 20));
    const frames = Number(await page.getAttribute("canvas.listcanvas", "data-frames"));
    await page.$eval(".listscroll", (e, top) => (e.scrollTop = top), row * rowH);
    await page.waitForFunction(`Number(document.querySelector("canvas.listcanvas").dataset.frames) > ${frames}`);
    canvasMs.push(Number(await page.getAttribute("canvas.listcanvas", "data-draw-ms")));
    domMs.push(await page.evaluate(DOM_WINDOW) as number);
  }
  const c = median(canvasMs), d = median(domMs);
  const mb = statSync(file).size / 1e6;
  console.log(`viewer, ${N} rollouts x ${T} tokens (${mb.toFixed(1)} MB of JSONL), Chromium ${ctx.browser()?.version() ?? ""}`);
  console.log(`| measure | median |`);
  console.log(`|---|---|`);
  console.log(`| navigation to interactive page (server already up) | ${wall} ms |`);
  console.log(`| page script: parse data, pack, GRPO, first list frame | ${loadMs} ms |`);
  console.log(`| list window after a scroll, canvas (the page) | ${c.toFixed(2)} ms |`);
  console.log(`| same window as DOM spans + layout (reference) | ${d.toFixed(2)} ms |`);
  console.log(`| ratio DOM / canvas | ${(d / c).toFixed(1)}x |`);
} finally {
  await ctx.close();
  await view.stop();
}
