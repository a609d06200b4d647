/**
 * The built page (dist/viewer, from `npm run build:viewer`) and the data script it reads:
 * shared by the server and `--export`.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join, relative } from "node:path";
import { ConfigError } from "../core/errors.js";
import { DATA_GLOBAL, type ViewData } from "./types.js";

/** dist/viewer: this file compiles to dist/src/view/site.js. */
export const SITE_DIR = fileURLToPath(new URL("../../viewer/", import.meta.url));

export function checkSiteBuilt(dir = SITE_DIR): void {
  if (!existsSync(join(dir, "index.html"))) {
    throw new ConfigError(`view: the page is not built (${join(dir, "index.html")} is missing); run 'npm run build:viewer'`);
  }
}

/** Every file of the built page, as paths relative to its folder. */
export function siteFiles(dir = SITE_DIR): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

/**
 * data.js: a classic script assigning the data to a global, so it loads from file:// too
 * (fetch and module scripts do not). The JSON goes in as a string for JSON.parse, which V8
 * reads several times faster than the same data as an object literal; "<" is escaped so no
 * string can close the script tag.
 */
export function dataScript(data: ViewData): string {
  const literal = JSON.stringify(JSON.stringify(data)).replace(/</g, "\\u003c");
  return `window.${DATA_GLOBAL} = JSON.parse(${literal});\n`;
}
