// Builds the page into dist/viewer (`npm run build:viewer`). One classic deferred IIFE script
// and one stylesheet with relative URLs, so the same files work served over http and opened
// from disk (`creditflow view --export`): browsers refuse module scripts on file:// URLs.
import { defineConfig, type Plugin } from "vite";
import { fileURLToPath } from "node:url";

const classicScript: Plugin = {
  name: "creditflow-classic-script",
  transformIndexHtml: {
    order: "post",
    handler: (html) => html.replace(/<script type="module" crossorigin/g, "<script defer").replace(/ crossorigin/g, ""),
  },
};

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "./",
  logLevel: "warn",
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
