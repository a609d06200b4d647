/**
 * Makes docs/img/viewer.png, the README's screenshot of `creditflow view`: the test fixtures
 * (examples/tree.jsonl with the addition vocabulary, an advantage file from `creditflow assign`)
 * with three methods side by side on a rollout that holds a tool token.
 *
 *   npm run docs:viewer
 */
import { writeFileSync } from "node:fs";
import { browserSkipReason, launch, openPage, startView } from "../test/viewer/browser.js";

const skip = browserSkipReason();
if (skip) {
  console.error(`docs:viewer: ${skip}`);
  process.exit(2);
}
const view = await startView(["examples/tree.jsonl", "test/viewer/fixtures/adv-tempo.jsonl", "--vocab", "addition"]);
const ctx = await launch();
await ctx.pages()[0]?.close();
try {
  const page = await openPage(ctx, view.url);
  await page.selectOption('.method-form[data-column="0"] .method-select', "spo-tree");
  await page.click("#add-column");
  await page.selectOption('.method-form[data-column="2"] .method-select', "tempo");
  await page.focus(".listscroll");
  await page.keyboard.press("Home");
  for (let k = 0; k < 5; k++) await page.keyboard.press("ArrowDown");
  await page.$eval("html", (e) => e.ownerDocument.defaultView.scrollTo(0, 0));
  await page.setViewportSize({ width: 1200, height: 1000 });
  await page.hover('.detail .tokrow[data-column="2"] .tok[data-i="4"]');
  writeFileSync("docs/img/viewer.png", await page.screenshot({ clip: { x: 0, y: 0, width: 1200, height: 930 } }));
  console.log("wrote docs/img/viewer.png");
} finally {
  await ctx.close();
  await view.stop();
}
