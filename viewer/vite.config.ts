// Builds the page into dist/viewer (`npm run build:viewer`). One classic deferred IIFE script
// and one stylesheet with relative URLs, so the same files work served over http and opened
// from disk (`creditflow view --export`): browsers refuse module scripts on file:// URLs.
import { createLogger, defineConfig, type Plugin } from "vite";
import { fileURLToPath } from "node:url";

const classicScript: Plugin = {
  name: "creditflow-classic-script",
  transformIndexHtml: {
    order: "post",
    handler: (html) => html.replace(/<script type="module" crossorigin/g, "<script defer").replace(/ crossorigin/g, ""),
  },
};

// data.js is meant to stay a separate classic script (written by `creditflow view`, not bundled):
// Vite's warning that it cannot bundle it is expected, so it is not printed.
const logger = createLogger("warn");
const warn = logger.warn;
logger.warn = (msg, options) => {
  if (!msg.includes('<script src="./data.js">')) warn(msg, options);
};

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "./",
  logLevel: "warn",
  customLogger: logger,
  plugins: [classicScript],
  build: {
    outDir: fileURLToPath(new URL("../dist/viewer", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    modulePreload: false,
    cssCodeSplit: false,
    reportCompressedSize: false,
    rolldownOptions: {
      output: { format: "iife", entryFileNames: "assets/viewer.js", assetFileNames: "assets/[name][extname]" },
    },
  },
});
