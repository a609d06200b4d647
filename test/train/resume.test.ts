/**
 * A run killed with SIGKILL mid-way and resumed with --resume produces exactly the metrics of
 * an uninterrupted run (wall-clock fields aside), on a tiny configuration.
 */
import test from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { WALL_CLOCK_FIELDS } from "../../src/train/trainer.js";

const entry = fileURLToPath(new URL("../../src/cli/train.js", import.meta.url));

function trainProcess(args: string[]) {
  const code = `import(${JSON.stringify(entry)}).then(async (m) => { process.exitCode = await m.runTrainCommand(${JSON.stringify(args)}); })`;
  return spawn(process.execPath, ["--input-type=module", "-e", code], { stdio: ["ignore", "ignore", "pipe"] });
}

function run(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = trainProcess(args);
    let err = "";
    p.stderr.on("data", (d: Buffer) => (err += d.toString()));
    p.on("error", reject);
    p.on("exit", (code) => (code === 0 ? resolve(0) : reject(new Error(`train exited ${code}: ${err}`))));
  });
}

function metrics(dir: string): Record<string, unknown>[] {
  return readFileSync(join(dir, "metrics.jsonl"), "utf8").split("\n").filter((l) => l.trim()).map((l) => {
    const o = JSON.parse(l) as Record<string, unknown>;
    for (const f of WALL_CLOCK_FIELDS) delete o[f];
    return o;
  });
}

const TINY = {
  task: "addition-1d", steps: 6, group: 4, promptsPerStep: 3, checkpointEvery: 1,
  model: { dModel: 16, nHeads: 2, nLayers: 1, dFF: 32, maxSeqLen: 32 },
  sft: { steps: 8, batch: 8 },
  eval: { n: 16, every: 2 },
  loss: { minibatches: 2, epochs: 2 },
};

test("SIGKILL mid-run + --resume reproduces the uninterrupted run exactly", { timeout: 120_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), "cf-resume-"));
  try {
    const cfg = join(root, "cfg.json");
    writeFileSync(cfg, JSON.stringify(TINY));
    const full = join(root, "full"), cut = join(root, "cut");
    await run(["--config", cfg, "--out", full, "--quiet"]);
    // Start the same run, kill it hard once a few steps are on disk, then resume.
    const p = trainProcess(["--config", cfg, "--out", cut, "--quiet"]);
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        const f = join(cut, "metrics.jsonl");
        if (existsSync(f) && readFileSync(f, "utf8").split("\n").filter((l) => l.trim()).length >= 3) {
          clearInterval(timer);
          p.kill("SIGKILL");
        }
      }, 20);
      p.on("exit", (_code, signal) => {
        clearInterval(timer);
        if (signal === "SIGKILL") resolve();
        else reject(new Error("the run finished before it could be killed"));
      });
    });
    const before = metrics(cut).length;
    assert.ok(before >= 3 && before < TINY.steps, `killed after ${before} steps`);
    await run(["--out", cut, "--resume", "--quiet"]);
    assert.deepEqual(metrics(cut), metrics(full));
    assert.equal(metrics(full).length, TINY.steps);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
