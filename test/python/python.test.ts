/**
 * Runs the Python client's tests (test/python/test_*.py, unittest) so `npm test` covers them.
 *
 * Python: the CI venv (.venv-ci, made by .ci/run from the local wheel cache, with torch, trl,
 * transformers, pyarrow and ray) when present, else the machine's python3 (standard library and
 * numpy: the TRL and Ray tests then skip and say why). One node test per Python file, so a failure
 * names the file; unittest's verbose output (with every SKIP reason) is printed.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import assert from "node:assert/strict";

const ROOT = process.cwd();
const DIR = join(ROOT, "test", "python");
const VENV_PYTHON = join(ROOT, ".venv-ci", "bin", "python");

function pythonCommand(): string | null {
  if (process.env.CREDITFLOW_TEST_PYTHON) return process.env.CREDITFLOW_TEST_PYTHON;
  if (existsSync(VENV_PYTHON)) return VENV_PYTHON;
  const probe = spawnSync("python3", ["--version"], { encoding: "utf8" });
  return probe.status === 0 ? "python3" : null;
}

const python = pythonCommand();
const files = readdirSync(DIR).filter((f) => /^test_.*\.py$/.test(f)).sort();

test("the Python test files exist", () => {
  assert.ok(files.length >= 5, `found ${files.join(", ")}`);
});

for (const file of files) {
  test(`python ${file}`, { skip: python === null ? "SKIP: no python3 on this machine" : false }, () => {
    const r = spawnSync(python as string, ["-m", "unittest", "discover", "-s", DIR, "-t", DIR, "-p", file, "-v"], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, PYTHONPATH: join(ROOT, "integrations", "python"), PYTHONDONTWRITEBYTECODE: "1" },
      maxBuffer: 1 << 26,
      timeout: 600_000,
    });
    const output = `${r.stdout}${r.stderr}`;
    process.stdout.write(`# ${python} ${file}\n${output.replace(/^/gm, "# ")}\n`);
    assert.equal(r.status, 0, `${file} failed:\n${output}`);
    assert.match(output, /\nOK/, `${file}: unittest did not end with OK`);
  });
}
