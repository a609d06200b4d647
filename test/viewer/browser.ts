/**
 * Browser tests' harness: Debian's chromium (CI installs it; a machine without it skips the
 * browser tests with the reason printed), driven by playwright-core, and `creditflow view`
 * started as a user would on a free port.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { BIN } from "../cli/run.js";
import { decodePng, diffShare } from "./png.js";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Why the browser tests cannot run here, or null. */
export function browserSkipReason(): string | null {
  if (!existsSync(CHROMIUM)) return `no chromium at ${CHROMIUM} (apt-get install -y chromium; .ci/run installs it)`;
  if (!existsSync(join(process.cwd(), "dist", "viewer", "index.html"))) return "the page is not built (npm run build:viewer; npm test builds it)";
  return null;
}

/** Chromium with the flags that keep it off the (closed) network, fixed viewport and scale. */
export async function launch(): Promise<BrowserContext> {
  return chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "cf-chromium-")), {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--font-render-hinting=none", "--disable-lcd-text"],
    viewport: { width: 1200, height: 900 },
    deviceScaleFactor: 1,
    colorScheme: "light",
    reducedMotion: "reduce",
  });
}

export interface ViewProcess {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** `creditflow view ARGS --port 0`; resolves with the URL it prints. */
export async function startView(args: string[]): Promise<ViewProcess> {
  const child = spawn(process.execPath, [BIN, "view", ...args, "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  child.stderr?.on("data", (d) => (err += d));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on("data", (d) => {
      out += d;
      const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on("exit", (code) => reject(new Error(`creditflow view exited ${code}: ${err}`)));
  });
  return {
    url,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.on("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

export async function openPage(ctx: BrowserContext, url: string, timeout = 20000): Promise<Page> {
  const page = await ctx.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForSelector("body[data-ready]", { timeout }).catch((e) => {
    throw new Error(`page not ready: ${e.message}; page errors: ${errors.join("; ")}`);
  });
  assert.deepEqual(errors, [], "no script errors");
  return page;
}

/**
 * Compares a screenshot with the committed reference test/viewer/ref/NAME.png: at most `share`
 * of the pixels may differ by more than the per-channel tolerance (font rasterisation moves a
 * few edge pixels between machines). UPDATE_VIEWER_REFS=1 rewrites the reference.
 */
export function matchReference(name: string, png: Buffer, share = 0.01): void {
  const ref = join(process.cwd(), "test", "viewer", "ref", `${name}.png`);
  if (process.env.UPDATE_VIEWER_REFS === "1") {
    writeFileSync(ref, png);
    return;
  }
  assert.ok(existsSync(ref), `no reference ${ref} (UPDATE_VIEWER_REFS=1 writes it)`);
  const a = decodePng(png), b = decodePng(readFileSync(ref));
  assert.deepEqual([a.width, a.height], [b.width, b.height], `${name}: size differs from the reference`);
  const d = diffShare(a, b);
  if (d > share) {
    const actual = join(tmpdir(), `viewer-${name}-actual.png`);
    writeFileSync(actual, png);
    assert.fail(`${name}: ${(100 * d).toFixed(2)}% of pixels differ from the reference (limit ${100 * share}%); actual screenshot: ${actual}`);
  }
}
