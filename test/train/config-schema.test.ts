import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ConfigError } from "../../src/core/errors.js";
import { DEFAULT_TRAIN, mergeConfig, validateConfig } from "../../src/train/config.js";
import { renderTrainingDoc } from "../../src/train/training-doc.js";

test("docs/training.md is the one generated from the schema (npm run docs:training)", () => {
  assert.equal(readFileSync("docs/training.md", "utf8"), renderTrainingDoc());
});

test("the schema names the key path of a wrong type, an out-of-range value or an unknown key", () => {
  // Sets one key of a copy of the defaults to anything (a JSON config can hold anything).
  const bad = (path: string[], value: unknown, pattern: RegExp) => {
    const c = structuredClone(DEFAULT_TRAIN) as unknown as Record<string, unknown>;
    let o = c;
    for (const k of path.slice(0, -1)) o = o[k] as Record<string, unknown>;
    o[path[path.length - 1]] = value;
    assert.throws(() => validateConfig(c as never), (e: unknown) => e instanceof ConfigError && pattern.test(e.message));
  };
  validateConfig(structuredClone(DEFAULT_TRAIN));
  bad(["loss", "clipLow"], 0.2, /^config\.loss\.clipLow: unknown key$/);
  bad(["optim", "lr"], "x", /^config\.optim\.lr: Invalid type: Expected number but received "x"$/);
  bad(["group"], 0, /^config\.group: Invalid value: Expected >=1 but received 0$/);
  bad(["spoTree", "branching"], [2, 1.5], /^config\.spoTree\.branching\[1\]: /);
  bad(["loss", "policyLoss"], "ppx", /^config\.loss\.policyLoss: /);
  bad(["loss", "clipC"], 1, /^config\.loss\.clipC: /);
  bad(["model", "nHeads"], 3, /^config\.model\.nHeads: 3 does not divide dModel 64$/);
  validateConfig({ ...structuredClone(DEFAULT_TRAIN), loss: { ...DEFAULT_TRAIN.loss, clipC: null } });
  // mergeConfig refuses unknown keys with the known ones listed, before the schema sees them.
  assert.throws(() => mergeConfig(structuredClone(DEFAULT_TRAIN), { optim: { lrr: 1 } }), /config\.optim\.lrr: unknown key \(known: lr, /);
});
