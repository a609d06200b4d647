/** Every registered method runs through `creditflow assign` on its bundled example file. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { listMethods } from "../../src/core/registry.js";
import "../../src/methods/index.js";
import { cf, ROOT } from "./run.js";

describe("bundled examples", () => {
  for (const spec of listMethods()) {
    it(`${spec.name} runs on examples/${spec.example}`, () => {
      assert.ok(spec.example, `${spec.name} names no example file`);
      const file = join(ROOT, "examples", spec.example);
      assert.ok(existsSync(file), file);
      const r = cf(["assign", "--method", spec.name, "--in", file]);
      assert.equal(r.code, 0, r.stderr);
      const input = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { id: string; tokens: number[]; mask?: number[] });
      const out = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { id: string; advantages: number[]; weights?: number[] });
      assert.equal(out.length, input.length);
      out.forEach((o, i) => {
        assert.equal(o.id, input[i].id);
        assert.equal(o.advantages.length, input[i].tokens.length);
        input[i].mask?.forEach((m, t) => {
          if (m === 0) assert.equal(o.advantages[t], 0, `${o.id} token ${t} is masked`);
        });
        if (o.weights) assert.ok(o.weights.every((w) => w >= 0 && Number.isFinite(w)));
      });
      // A method that gives every token of every response the same value everywhere would not be fine-grained;
      // only check the output is not all zeros (each example is built to exercise its method).
      assert.ok(out.some((o) => o.advantages.some((a) => a !== 0)), `${spec.name}: all advantages are 0 on its example`);
    });
  }
});
