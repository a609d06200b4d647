// Lint is part of `npm test`: type-aware rules would double the run time, so the
// recommended (syntactic) typescript-eslint set is used; tsc --strict covers types.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "runs/", "bench/out/", ".venv-ci/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { console: "readonly", process: "readonly", URL: "readonly", setTimeout: "readonly", clearTimeout: "readonly" },
    },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "error",
      "no-constant-condition": ["error", { checkLoops: false }],
    },
  },
  {
    // The core runs in browsers: no Node built-ins, nothing of the CLI, trainer or io.
    files: ["src/core/**/*.ts", "src/methods/**/*.ts", "src/preference/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: ["node:*", "fs", "path", "os", "**/cli/**", "**/train/**", "**/io/**"] }],
    },
  },
  {
    // The viewer's page and the parts of src/view it bundles run in browsers too.
    files: ["viewer/src/**/*.ts", "src/view/records.ts", "src/view/classify.ts", "src/view/types.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: ["node:*", "fs", "path", "os", "**/cli/**", "**/train/**", "**/view/load*", "**/view/server*", "**/view/export*", "**/view/site*", "**/view/vocab*"] }],
    },
  },
);
