"""How long a verl-sized batch takes through the Python client: rows as JSON, rows as NDJSON, and
numpy columns as Arrow, against one `creditflow serve` on 127.0.0.1 started here.

The three paths run in turn (A B C A B C ...) on the same batch in the same process, so the ratios
hold while the machine's speed drifts; medians are printed. Every path's advantages are checked
equal before timing. Usage (from the repository root, after `npm run build`):

    .venv-ci/bin/python integrations/python/bench/verl_batch.py [--bs 512] [--T 1024] [--runs 3] [--method grpo]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "integrations", "python"))

import numpy as np  # noqa: E402

from creditflow_client import CreditflowClient  # noqa: E402
from creditflow_client.verl import assign_batch  # noqa: E402


def make_batch(bs: int, T: int, group: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(T // 4, T + 1, size=bs)
    mask = (np.arange(T)[None, :] < lengths[:, None]).astype(np.int64)
    rewards = np.zeros((bs, T), dtype=np.float32)
    rewards[np.arange(bs), lengths - 1] = rng.random(bs) < 0.5
    batch = {
        "responses": rng.integers(0, 150_000, size=(bs, T)) * mask,
        "response_mask": mask,
        "attention_mask": np.concatenate([np.ones((bs, 64), dtype=np.int64), mask], axis=1),
        "token_level_rewards": rewards,
        "values": (rng.standard_normal((bs, T)) * mask).astype(np.float32),
        "old_log_probs": (-rng.random((bs, T)) * mask).astype(np.float32),
    }
    return batch, {"uid": np.array([f"p{b // group}" for b in range(bs)], dtype=object)}, int(mask.sum())


def start_serve():
    proc = subprocess.Popen(["node", os.path.join(ROOT, "bin", "creditflow.js"), "serve", "--host", "127.0.0.1", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    found = threading.Event()
    url = []

    def drain():
        for line in proc.stdout:
            try:
                parsed = json.loads(line)
            except ValueError:
                continue
            if isinstance(parsed, dict) and isinstance(parsed.get("listening"), str) and not found.is_set():
                url.append(parsed["listening"])
                found.set()

    threading.Thread(target=drain, daemon=True).start()
    if not found.wait(30):
        proc.kill()
        raise SystemExit("creditflow serve did not start (run `npm run build` first)")
    return proc, url[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bs", type=int, default=512)
    parser.add_argument("--T", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--method", default="grpo")
    args = parser.parse_args()
    batch, non_tensor, tokens = make_batch(args.bs, args.T)
    proc, url = start_serve()
    try:
        paths = {
            "rows, JSON": CreditflowClient(url, encoding="json", timeout=600),
            "rows, NDJSON": CreditflowClient(url, encoding="ndjson", timeout=600),
            "numpy columns, Arrow": CreditflowClient(url, encoding="arrow", timeout=600),
        }
        results = {}
        for name, client in paths.items():  # warm-up, and the paths must agree
            fresh = dict(batch)
            assign_batch(fresh, non_tensor, method=args.method, client=client)
            results[name] = fresh["advantages"]
        first = next(iter(results.values()))
        for name, adv in results.items():
            np.testing.assert_allclose(adv, first, rtol=1e-6, atol=1e-7, err_msg=name)
        times = {name: [] for name in paths}
        for _ in range(args.runs):
            for name, client in paths.items():
                fresh = dict(batch)
                start = time.perf_counter()
                assign_batch(fresh, non_tensor, method=args.method, client=client)
                times[name].append(time.perf_counter() - start)
    finally:
        proc.terminate()
        proc.wait()
    reference = statistics.median(times["rows, JSON"])
    print(f"verl batch bs={args.bs} T={args.T}: {tokens} response tokens, method {args.method}, 3 per-token arrays; median of {args.runs} runs, paths interleaved")
    print(f"{'path':<24}{'median s':>10}{'tokens/s':>14}{'vs rows JSON':>14}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<24}{median:>10.3f}{tokens / median:>14,.0f}{median / reference:>13.2f}x")


if __name__ == "__main__":
    main()
