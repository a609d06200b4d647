"""CreditflowClient: local mode (the CLI), service mode (a real `creditflow serve`), errors, retries, tensor helpers."""

from __future__ import annotations

import http.server
import json
import math
import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from helpers import CLI, ROOT, Serve, assert_rows_close, cli_assign  # noqa: E402

from creditflow_client import (  # noqa: E402
    CreditflowClient,
    CreditflowInputError,
    CreditflowOverloadedError,
    CreditflowTimeoutError,
    CreditflowTransportError,
    PaddedLayout,
    padded_from_rows,
    rows_from_padded,
)
from creditflow_client.tensors import outcome_split  # noqa: E402


def read_jsonl(name):
    with open(os.path.join(ROOT, "examples", name), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


TWO = [
    {"id": "a", "group": "q", "tokens": [5, 6, 7], "reward": 1.0},
    {"id": "b", "group": "q", "tokens": [8], "reward": 0.0},
    {"id": "c", "group": "solo", "tokens": [9, 9], "reward": 2.0, "mask": [1, 0]},
]


def grpo_by_hand(eps=1e-6):
    # Group q: rewards 1, 0 -> mean 0.5, unbiased std sqrt(0.5); singleton "solo": mean 0, std 1 (verl).
    std = math.sqrt(0.5)
    return [[0.5 / (std + eps)] * 3, [-0.5 / (std + eps)], [2.0 / (1 + eps), 0.0]]


class LocalModeTest(unittest.TestCase):
    client = CreditflowClient(command=CLI)

    def test_grpo_hand_derived(self):
        answer = self.client.assign("grpo", TWO)
        self.assertEqual([r["id"] for r in answer], ["a", "b", "c"])
        for row, expected in zip(answer, grpo_by_hand()):
            for x, y in zip(row["advantages"], expected):
                self.assertAlmostEqual(x, y, places=12)

    def test_equals_cli_on_examples(self):
        for method, example, config in [("pure", "steps.jsonl", None)]:
            rows = read_jsonl(example)
            assert_rows_close(self, self.client.assign(method, rows, config), cli_assign(method, rows, config), tol=0)

    def test_input_error_names_field_and_line(self):
        bad = [dict(TWO[0]), {**TWO[1], "tokens": [1, -2]}]
        with self.assertRaises(CreditflowInputError) as ctx:
            self.client.assign("grpo", bad)
        self.assertEqual((ctx.exception.field, ctx.exception.line), ("tokens", 2))

    def test_nan_refused_before_sending(self):
        bad = [dict(TWO[0]), {**TWO[1], "values": [float("inf")]}]
        with self.assertRaises(CreditflowInputError) as ctx:
            CreditflowClient(command=["/nonexistent/creditflow"]).assign("gae", bad)
        self.assertEqual((ctx.exception.field, ctx.exception.line), ("values", 2))

    def test_unknown_method_and_bad_config(self):
        with self.assertRaises(CreditflowInputError) as ctx:
            self.client.assign("no-such-method", TWO)
        self.assertIn("no-such-method", ctx.exception.message)
        with self.assertRaises(CreditflowInputError) as ctx:
            self.client.assign("grpo", TWO, {"epsilon": 1})
        self.assertEqual(ctx.exception.field, "config")

    def test_missing_command(self):
        with self.assertRaises(CreditflowTransportError):
            CreditflowClient(command=["/nonexistent/creditflow"]).assign("grpo", TWO)

    def test_methods(self):
        names = [m["name"] for m in self.client.methods()]
        self.assertIn("grpo", names)
        self.assertIn("tempo", names)


class TensorHelpersTest(unittest.TestCase):
    def test_right_and_left_padding_round_trip(self):
        np = _numpy_or_skip()
        tokens = np.array([[5, 6, 7, 0], [8, 0, 0, 0]])
        right = PaddedLayout.from_lengths([3, 1], 4, "right")
        rows = rows_from_padded(right, groups=["q", "q"], tokens=tokens, rewards=np.array([1.0, 0.0]))
        self.assertEqual([r["tokens"] for r in rows], [[5, 6, 7], [8]])
        left = PaddedLayout.from_lengths([3, 1], 4, "left")
        rows_left = rows_from_padded(left, groups=["q", "q"], tokens=np.array([[0, 5, 6, 7], [0, 0, 0, 8]]), rewards=[1.0, 0.0])
        self.assertEqual([r["tokens"] for r in rows_left], [[5, 6, 7], [8]])
        back = padded_from_rows(left, [{"advantages": [1.0, 2.0, 3.0]}, {"advantages": [4.0]}], "advantages")
        self.assertEqual(back.tolist(), [[0, 1, 2, 3], [0, 0, 0, 4]])
        self.assertEqual(back.dtype, np.float64)

    def test_mask_span_keeps_inner_tool_tokens(self):
        layout = PaddedLayout.from_mask([[0, 1, 0, 1, 0, 0], [0, 0, 1, 1, 1, 0]])
        self.assertEqual(layout.spans, [(1, 4), (2, 5)])
        rows = rows_from_padded(layout, groups=[0, 0], mask=[[0, 1, 0, 1, 0, 0], [0, 0, 1, 1, 1, 0]], rewards=[1, 2])
        self.assertEqual(rows[0]["mask"], [1, 0, 1])
        self.assertNotIn("mask", rows[1])

    def test_outcome_split_is_exact(self):
        # r_t = token_rewards[t] + (t == last mask-1 token ? reward : 0), the contract's rule.
        reward, rest = outcome_split([0.5, 0.0, 2.0, 0.0], [1, 1, 1, 0])
        self.assertEqual((reward, rest), (2.0, [0.5, 0.0, 0.0, 0.0]))
        self.assertEqual(outcome_split([0.0, 0.0, 3.0], [1, 1, 1]), (3.0, None))

    def test_non_finite_tensor_names_field_and_row(self):
        from creditflow_client import encode_rows

        rows = rows_from_padded(PaddedLayout.from_lengths([2, 2], 2), groups=[0, 0], rewards=[0, 0], per_token={"values": [[0.0, 1.0], [float("nan"), 0.0]]})
        with self.assertRaises(CreditflowInputError) as ctx:
            encode_rows(rows)  # every request encodes its rows this way
        self.assertEqual((ctx.exception.field, ctx.exception.line), ("values", 2))

    def test_bool_masks_and_float_ids_become_ints(self):
        np = _numpy_or_skip()
        layout = PaddedLayout.from_lengths([3], 3)
        rows = rows_from_padded(layout, groups=[0], tokens=np.array([[1.0, 2.0, 3.0]]), mask=np.array([[True, False, True]]), rewards=[1])
        self.assertEqual((rows[0]["tokens"], rows[0]["mask"]), ([1, 2, 3], [1, 0, 1]))
        self.assertEqual(rows_from_padded(layout, groups=[0], mask=[[True, False, True]], rewards=[1])[0]["mask"], [1, 0, 1])


def _numpy_or_skip():
    try:
        import numpy
    except ImportError:
        raise unittest.SkipTest("SKIP: numpy is not installed") from None
    return numpy


class ServiceModeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.serve = Serve().__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.serve.__exit__(None, None, None)

    def test_every_encoding_equals_cli(self):
        import importlib.util

        rows = read_jsonl("plain.jsonl") + read_jsonl("steps.jsonl")
        encodings = ["json", "ndjson"] + (["arrow"] if importlib.util.find_spec("pyarrow") else [])
        for encoding in encodings:
            for method, config in [("grpo", None), ("tempo", {"tdWeight": 0.5}), ("reinforce++", {"gamma": 0.9})]:
                answer = CreditflowClient(self.serve.url, encoding=encoding).assign(method, rows, config)
                assert_rows_close(self, answer, cli_assign(method, rows, config), tol=0)

    def test_input_error_from_service(self):
        bad = [dict(TWO[0]), {**TWO[1], "reward": "high"}]
        with self.assertRaises(CreditflowInputError) as ctx:
            CreditflowClient(self.serve.url).assign("grpo", bad)
        self.assertEqual(ctx.exception.field, "reward")
        self.assertEqual(ctx.exception.line, 2)

    def test_methods_equal_cli(self):
        import subprocess

        expected = json.loads(subprocess.run(CLI + ["methods", "--json"], capture_output=True, text=True, check=True).stdout)
        self.assertEqual(CreditflowClient(self.serve.url).methods(), expected)


class FakeServer:
    """A stdlib HTTP server answering from a script of (status, headers, body, delay) per request."""

    def __init__(self, script):
        self.script = list(script)
        self.times = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.times.append(time.monotonic())
                status, headers, body, delay = outer.script.pop(0) if outer.script else (500, {}, b"{}", 0)
                time.sleep(delay)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                # X-Declared-Length: announce more than is sent, then close (an answer cut off).
                self.send_header("Content-Length", str(headers.get("X-Declared-Length", len(body))))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


OK_BODY = json.dumps({"method": "grpo", "advantages": [{"id": "a", "advantages": [1.0, 1.0, 1.0]}, {"id": "b", "advantages": [-1.0]}, {"id": "c", "advantages": [0.5, 0.0]}]}).encode()
BUSY = (503, {"Retry-After": "1", "Content-Type": "application/json"}, b'{"error": {"message": "busy"}}', 0)


class RetryTest(unittest.TestCase):
    def test_503_is_retried_after_retry_after(self):
        with FakeServer([BUSY, (200, {}, OK_BODY, 0)]) as fake:
            answer = CreditflowClient(fake.url, retries=2).assign("grpo", TWO)
        self.assertEqual(answer[0]["advantages"], [1.0, 1.0, 1.0])
        self.assertGreaterEqual(fake.times[1] - fake.times[0], 0.95, "waited Retry-After: 1")

    def test_503_past_retries_is_overloaded(self):
        with FakeServer([BUSY, BUSY]) as fake:
            with self.assertRaises(CreditflowOverloadedError) as ctx:
                CreditflowClient(fake.url, retries=1).assign("grpo", TWO)
        self.assertEqual(ctx.exception.status, 503)

    def test_slow_server_times_out(self):
        with FakeServer([(200, {}, OK_BODY, 2.0)]) as fake:
            with self.assertRaises(CreditflowTimeoutError):
                CreditflowClient(fake.url, timeout=0.5, retries=0).assign("grpo", TWO)

    def test_mismatched_answer_is_refused(self):
        from creditflow_client import CreditflowServerError

        short = json.dumps({"advantages": [{"id": "a", "advantages": [1.0]}]}).encode()
        with FakeServer([(200, {}, short, 0)]) as fake:
            with self.assertRaises(CreditflowServerError):
                CreditflowClient(fake.url).assign("grpo", TWO)

    def test_ndjson_error_line_after_rows_is_a_typed_error(self):
        # What the service does when a row fails after answer lines went out (docs/serve.md):
        # a last line {"error": {..., "status"}} and a response cut off before its end.
        lines = [json.dumps({"id": "a", "advantages": [1.0, 1.0, 1.0]}), json.dumps({"error": {"field": "reward", "line": 3, "message": "expected a number", "status": 400}})]
        body = ("\n".join(lines) + "\n").encode()
        with FakeServer([(200, {"Content-Type": "application/x-ndjson", "X-Declared-Length": len(body) + 100}, body, 0)]) as fake:
            with self.assertRaises(CreditflowInputError) as ctx:
                CreditflowClient(fake.url, encoding="ndjson").assign("grpo", TWO)
        self.assertEqual((ctx.exception.field, ctx.exception.line), ("reward", 3))

    def test_ndjson_cut_off_without_error_line_is_a_transport_error(self):
        body = (json.dumps({"id": "a", "advantages": [1.0, 1.0, 1.0]}) + "\n").encode()
        with FakeServer([(200, {"Content-Type": "application/x-ndjson", "X-Declared-Length": len(body) + 100}, body, 0)]) as fake:
            with self.assertRaises(CreditflowTransportError):
                CreditflowClient(fake.url, encoding="ndjson", retries=0).assign("grpo", TWO)

    def test_refused_connection(self):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()  # nothing listens there now
        with self.assertRaises(CreditflowTransportError):
            CreditflowClient(f"http://127.0.0.1:{port}", retries=1, backoff=0.05).assign("grpo", TWO)


if __name__ == "__main__":
    unittest.main()
