#!/usr/bin/env node
// The creditflow command. The TypeScript sources are compiled to dist/ by `npm ci` (prepare).
import { existsSync } from "node:fs";
const entry = new URL("../dist/src/cli/main.js", import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write("creditflow: not built yet; run 'npm ci' (or 'npm run build') in the checkout first\n");
  process.exit(1);
}
await import(entry.href);
