"""The package imports with the standard library only; trainers load only when their hook is used."""

from __future__ import annotations

import os
import subprocess
import sys
import unittest

PACKAGE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "integrations", "python"))

# Runs in a fresh interpreter where numpy, torch and every trainer are made unimportable.
PROBE = r"""
import importlib.abc, sys
BLOCKED = {"numpy", "torch", "trl", "transformers", "verl", "openrlhf", "ray", "pyarrow", "accelerate"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError("blocked: " + name)
        return None
sys.meta_path.insert(0, Block())
import creditflow_client, creditflow_client.verl, creditflow_client.trl, creditflow_client.openrlhf, creditflow_client.sharding, creditflow_client.tensors, creditflow_client.arrow
layout = creditflow_client.PaddedLayout.from_lengths([2, 1], 3, "right")
rows = creditflow_client.rows_from_padded(layout, groups=["g", "g"], tokens=[[1, 2, 0], [3, 0, 0]], rewards=[1.0, 0.0])
assert [r["tokens"] for r in rows] == [[1, 2], [3]], rows
padded = creditflow_client.padded_from_rows(layout, [{"advantages": [0.5, 0.5]}, {"advantages": [-0.5]}], "advantages")
assert padded == [[0.5, 0.5, 0.0], [-0.5, 0.0, 0.0]], padded  # nested lists without numpy
for hook in ("creditflow_client.trl.CreditflowGRPOTrainer", "creditflow_client.verl_plugin"):
    try:
        if hook.endswith("Trainer"):
            creditflow_client.trl.CreditflowGRPOTrainer
        else:
            import creditflow_client.verl_plugin
    except ImportError as err:
        assert "blocked" in str(err), err
    else:
        raise AssertionError(hook + " imported without its trainer")
leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
assert not leaked, leaked
print("stdlib-only")
"""


class ImportTest(unittest.TestCase):
    def test_stdlib_only_at_import(self):
        done = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {PACKAGE_DIR!r})\n" + PROBE], capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout.strip(), "stdlib-only")

    def test_installable_with_verl_entry_point(self):
        # `pip install ./integrations/python` is what the README says: build the wheel offline and look inside.
        import importlib.util
        import tempfile
        import zipfile

        if importlib.util.find_spec("setuptools") is None or importlib.util.find_spec("pip") is None:
            raise unittest.SkipTest("SKIP: building the wheel needs pip and setuptools in this python")
        probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('wheel') is None and importlib.util.find_spec('setuptools.command.bdist_wheel') is None)"
        if subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=60).returncode != 0:
            raise unittest.SkipTest("SKIP: this python's setuptools cannot build wheels offline (no bdist_wheel; the CI venv's can)")
        import shutil

        with tempfile.TemporaryDirectory() as out, tempfile.TemporaryDirectory() as build:
            # setuptools writes build/ and *.egg-info next to the sources: build from a copy.
            source = os.path.join(build, "src")
            shutil.copytree(PACKAGE_DIR, source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
            done = subprocess.run(
                [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index", "--wheel-dir", out, source],
                capture_output=True, text=True, timeout=300, cwd=build, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
            )
            self.assertEqual(done.returncode, 0, done.stderr[-2000:])
            wheels = [f for f in os.listdir(out) if f.endswith(".whl")]
            self.assertEqual(len(wheels), 1, wheels)
            with zipfile.ZipFile(os.path.join(out, wheels[0])) as whl:
                names = set(whl.namelist())
                for module in ("__init__", "client", "errors", "tensors", "verl", "verl_plugin", "trl", "openrlhf", "sharding", "arrow"):
                    self.assertIn(f"creditflow_client/{module}.py", names)
                entry = next(n for n in names if n.endswith("entry_points.txt"))
                self.assertIn("creditflow = creditflow_client.verl_plugin", whl.read(entry).decode())


if __name__ == "__main__":
    unittest.main()
