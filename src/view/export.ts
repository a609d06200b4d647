/**
 * `creditflow view --export DIR`: a static copy of the page with its data that opens from disk
 * (file://). The page's script is a classic deferred script (see viewer/vite.config.ts) and the
 * data a classic script too, because browsers refuse module scripts and fetch on file:// URLs.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../core/errors.js";
import { writeFileAtomic } from "../io/files.js";
import { SITE_DIR, siteFiles } from "./site.js";

/**
 * Writes the page and data.js into `dir`. A folder that exists must be empty or a previous
 * export (it holds data.js and index.html), so nothing else is ever overwritten.
 */
export function exportSite(dir: string, dataJs: string, siteDir = SITE_DIR): string[] {
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw new ConfigError(`--export: '${dir}' exists and is not a folder`);
    const present = readdirSync(dir);
    const previous = present.includes("data.js") && present.includes("index.html");
    if (present.length > 0 && !previous) throw new ConfigError(`--export: '${dir}' is not empty and is not a previous export (no data.js and index.html); choose an empty or new folder`);
  }
  const written: string[] = [];
  for (const rel of siteFiles(siteDir)) {
    writeFileAtomic(join(dir, rel), readFileSync(join(siteDir, rel)));
    written.push(rel);
  }
  writeFileAtomic(join(dir, "data.js"), dataJs);
  written.push("data.js");
  return written;
}
