"""Shared helpers of the Python tests: the repo's CLI, a real `creditflow serve`, skip reasons.

The tests run from the repository root with integrations/python on sys.path (python.test.ts
sets PYTHONPATH), against the built CLI in dist/ (``node bin/creditflow.js``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import unittest
from typing import Any, Dict, List, Optional

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "bin", "creditflow.js")
NODE = os.environ.get("CREDITFLOW_TEST_NODE", "node")
CLI = [NODE, BIN]


_reference_cache: Dict[str, str] = {}


def cli_assign(method: str, rows: List[Dict[str, Any]], config: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
    """`creditflow assign` on JSONL rows, run directly (not through the client): the reference.
    Memoised on (method, rows, config): tests that check several paths against one batch start node once."""
    args = CLI + ["assign", "--method", method] + (["--config", json.dumps(config)] if config else [])
    stdin = "".join(json.dumps(r) + "\n" for r in rows)
    key = json.dumps([method, config]) + stdin
    if key not in _reference_cache:
        done = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise AssertionError(f"creditflow assign failed: {done.stderr}")
        _reference_cache[key] = done.stdout
    return [json.loads(line) for line in _reference_cache[key].splitlines() if line.strip()]


def require(module: str) -> None:
    """Skip the test (with the reason shown by unittest -v) when a package is not installed."""
    if importlib.util.find_spec(module) is None:
        raise unittest.SkipTest(f"SKIP: python package '{module}' is not installed (the CI venv installs it from the local wheel cache)")


def serve_available() -> bool:
    return os.path.exists(os.path.join(ROOT, "dist", "src", "cli", "serve.js"))


class Serve:
    """A real `creditflow serve --port 0` on 127.0.0.1, stopped (SIGTERM) on exit.

    The service prints ``{"listening": URL}`` on stdout (its JSON logs may come around it); both
    pipes are drained by threads for the whole run so a chatty log can never block the server."""

    def __init__(self, *extra: str):
        self.extra = list(extra)
        self.proc: Optional[subprocess.Popen] = None
        self.url = ""
        self.output: List[str] = []

    def _drain(self, stream, found: Optional[threading.Event]) -> None:
        for line in stream:
            if len(self.output) < 2000:
                self.output.append(line)
            if found is not None and not found.is_set():
                try:
                    parsed = json.loads(line)
                except ValueError:
                    continue
                if isinstance(parsed, dict) and isinstance(parsed.get("listening"), str):
                    self.url = parsed["listening"]
                    found.set()

    def __enter__(self) -> "Serve":
        if not serve_available():
            raise unittest.SkipTest("SKIP: `creditflow serve` is not built (dist/src/cli/serve.js missing)")
        self.proc = subprocess.Popen(CLI + ["serve", "--host", "127.0.0.1", "--port", "0", *self.extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        found = threading.Event()
        for stream, event in ((self.proc.stdout, found), (self.proc.stderr, None)):
            threading.Thread(target=self._drain, args=(stream, event), daemon=True).start()
        if not found.wait(30):
            self.__exit__(None, None, None)
            raise AssertionError("creditflow serve did not print {\"listening\": URL} within 30 s: " + "".join(self.output)[-1000:])
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr) if self.proc else ():
            if stream:
                stream.close()


class ServiceCase(unittest.TestCase):
    """A test class whose ``self.client`` talks to one real `creditflow serve` started for the class
    (local mode, the CLI, if the service is not built, so the drop-ins are still exercised)."""

    serve: Optional[Serve] = None

    @classmethod
    def setUpClass(cls) -> None:
        require("numpy")
        cls.serve = Serve().__enter__() if serve_available() else None
        from creditflow_client import CreditflowClient

        cls.client = CreditflowClient(cls.serve.url) if cls.serve else CreditflowClient(command=CLI)

    @classmethod
    def tearDownClass(cls) -> None:
        if cls.serve:
            cls.serve.__exit__(None, None, None)


def assert_rows_close(test: unittest.TestCase, actual: List[Dict[str, Any]], expected: List[Dict[str, Any]], keys=("advantages", "returns", "weights"), tol: float = 1e-12) -> None:
    test.assertEqual([r["id"] for r in actual], [r["id"] for r in expected])
    for a, e in zip(actual, expected):
        for key in keys:
            test.assertEqual(key in a, key in e, f"{key} present in one answer only (row {e['id']})")
            if key in e:
                test.assertEqual(len(a[key]), len(e[key]))
                for x, y in zip(a[key], e[key]):
                    test.assertLessEqual(abs(x - y), tol + tol * abs(y), f"{key} of row {e['id']}: {a[key]} != {e[key]}")


def python_info() -> str:
    return f"{sys.executable} {sys.version.split()[0]}"
