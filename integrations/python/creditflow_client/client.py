"""CreditflowClient: per-token advantages from `creditflow serve`, or from the `creditflow` CLI.

Both modes speak the same contract (docs/rollouts.md): rollout rows in (dicts with id, group,
tokens, reward, ...), advantage rows out (id, advantages, returns?, weights?, diag?), in input
order. Standard library only.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import math
import os
import re
import shlex
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

from .errors import (
    CreditflowError,
    CreditflowInputError,
    CreditflowOverloadedError,
    CreditflowServerError,
    CreditflowTimeoutError,
    CreditflowTooLargeError,
    CreditflowTransportError,
)

Row = Dict[str, Any]

# One line of the CLI's stderr on bad input: "creditflow: FILE:LINE: field 'x': message",
# where the FILE:LINE and field parts are present when they apply.
_CLI_ERROR = re.compile(r"^creditflow: (?:(?P<file>.+?):(?P<line>\d+): )?(?:field '(?P<field>[^']+)': )?(?P<message>.*)$")

ARROW_TYPE = "application/vnd.apache.arrow.stream"

# Retry-After may be seconds or an HTTP date; never wait longer than this per attempt.
_MAX_RETRY_WAIT = 30.0


def encode_rows(rollouts: Iterable[Mapping[str, Any]]) -> List[bytes]:
    """One JSON line per rollout. NaN and infinity are refused here, naming the row and field,
    because JSON cannot carry them and a silently nulled value would corrupt the credit."""
    lines = []
    for k, row in enumerate(rollouts):
        try:
            lines.append(json.dumps(row, allow_nan=False, separators=(",", ":")).encode("utf-8"))
        except ValueError:
            field = _non_finite_field(row) or "?"
            raise CreditflowInputError("not a finite number (NaN or infinity)", field=field, line=k + 1) from None
        except TypeError as err:
            raise CreditflowInputError(f"not JSON-serialisable: {err}", line=k + 1) from None
    return lines


def _non_finite_field(row: Mapping[str, Any]) -> Optional[str]:
    """The dotted path of the first NaN/inf inside a row (e.g. 'values', 'signals.cut_values')."""

    def walk(value: Any, path: str) -> Optional[str]:
        if isinstance(value, float):
            return path if not math.isfinite(value) else None
        if isinstance(value, Mapping):
            for key, inner in value.items():
                found = walk(inner, f"{path}.{key}" if path else str(key))
                if found:
                    return found
        elif isinstance(value, (list, tuple)):
            for inner in value:
                found = walk(inner, path)
                if found:
                    return found
        return None

    return walk(row, "")


def _check_answer(rollouts: Sequence[Mapping[str, Any]], answer: List[Row]) -> List[Row]:
    """The contract promises one row per rollout, in input order: check it rather than trust it."""
    if len(answer) != len(rollouts):
        raise CreditflowServerError(f"answer has {len(answer)} rows for {len(rollouts)} rollouts")
    for k, (row, out) in enumerate(zip(rollouts, answer)):
        if not isinstance(out, dict) or out.get("id") != row.get("id") or not isinstance(out.get("advantages"), list):
            raise CreditflowServerError(f"answer row {k + 1} does not match rollout id {row.get('id')!r}")
    return answer


def _retry_after_seconds(value: Optional[str], fallback: float) -> float:
    if not value:
        return fallback
    value = value.strip()
    if value.isdigit():
        return min(float(value), _MAX_RETRY_WAIT)
    try:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, min(when.timestamp() - time.time(), _MAX_RETRY_WAIT))
    except (TypeError, ValueError):
        return fallback


def default_command() -> List[str]:
    """The CLI to run in local mode: $CREDITFLOW_COMMAND, else `creditflow` on PATH, else `npx creditflow`."""
    env = os.environ.get("CREDITFLOW_COMMAND")
    if env:
        return shlex.split(env)
    found = shutil.which("creditflow")
    if found:
        return [found]
    return ["npx", "--no-install", "creditflow"]


class CreditflowClient:
    """Per-token credit from a creditflow service (``url``) or, without one, the local CLI.

    - ``url``: base URL of ``creditflow serve`` (e.g. ``http://127.0.0.1:8421``). ``None`` = local mode.
    - ``command``: local mode's command (list or shell-style string); default :func:`default_command`.
    - ``timeout``: seconds for one HTTP request or one CLI run.
    - ``retries``: how many times a 503 (honouring Retry-After) or a connection failure is retried.
    - ``encoding``: ``"json"`` (one body), ``"ndjson"`` (a header line, then one line per rollout;
      the service streams it with bounded memory) or ``"arrow"`` (Arrow IPC stream both ways; needs pyarrow).
    """

    def __init__(
        self,
        url: Optional[str] = None,
        *,
        command: Optional[Sequence[str] | str] = None,
        timeout: float = 120.0,
        retries: int = 5,
        backoff: float = 0.5,
        encoding: str = "json",
        cwd: Optional[str] = None,
    ):
        if encoding not in ("json", "ndjson", "arrow"):
            raise ValueError(f"encoding must be 'json', 'ndjson' or 'arrow', not {encoding!r}")
        self.url = url.rstrip("/") if url else None
        if isinstance(command, str):
            command = shlex.split(command)
        self.command = list(command) if command else None
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.encoding = encoding
        self.cwd = cwd

    @property
    def mode(self) -> str:
        return "service" if self.url else "local"

    def assign(self, method: str, rollouts: Sequence[Mapping[str, Any]], config: Optional[Mapping[str, Any]] = None) -> List[Row]:
        """Advantage rows for ``rollouts`` (one per rollout, same order) under ``method``."""
        if not isinstance(method, str) or not method:
            raise ValueError("method must be a non-empty string")
        rollouts = list(rollouts)
        lines = encode_rows(rollouts)
        if self.url and self.encoding == "arrow":
            answer = self._assign_arrow(method, dict(config or {}), rollouts)
        elif self.url:
            answer = self._assign_http(method, dict(config or {}), lines)
        else:
            answer = self._assign_local(method, dict(config or {}), lines)
        return _check_answer(rollouts, answer)

    def methods(self) -> List[Dict[str, Any]]:
        """What `creditflow methods --json` prints: every method with its options and inputs."""
        if self.url:
            return json.loads(self._request("GET", "/v1/methods", None, {}).decode("utf-8"))
        out = self._run_cli(["methods", "--json"], b"")
        return json.loads(out.decode("utf-8"))

    # --- service mode -------------------------------------------------------------------

    def _assign_http(self, method: str, config: Dict[str, Any], lines: List[bytes]) -> List[Row]:
        if self.encoding == "ndjson":
            header = json.dumps({"method": method, "config": config}).encode("utf-8")
            body = b"\n".join([header, *lines]) + b"\n"
            try:
                raw = self._request("POST", "/v1/assign", body, {"Content-Type": "application/x-ndjson", "Accept": "application/x-ndjson"}, partial_ok=True)
            except _CutOff as cut:
                # A failure after the first answer line comes as a last line {"error": {..., "status"}}
                # on a stream cut short (docs/serve.md): the whole request failed.
                tail = [line for line in cut.partial.splitlines() if line.strip()][-1:]
                try:
                    last = json.loads(tail[0]) if tail else None
                except ValueError:
                    last = None
                if isinstance(last, dict) and isinstance(last.get("error"), dict):
                    status = last["error"].get("status")
                    raise _http_error(status if isinstance(status, int) else 500, tail[0]) from None
                raise CreditflowTransportError(f"the answer from {self.url} was cut off without an error line") from None
            return [json.loads(line) for line in raw.splitlines() if line.strip()]
        body = b'{"method":' + json.dumps(method).encode("utf-8") + b',"config":' + json.dumps(config).encode("utf-8") + b',"rollouts":[' + b",".join(lines) + b"]}"
        raw = self._request("POST", "/v1/assign", body, {"Content-Type": "application/json", "Accept": "application/json"})
        try:
            answer = json.loads(raw.decode("utf-8"))
        except ValueError as err:
            raise CreditflowServerError(f"answer is not JSON: {err}") from None
        if not isinstance(answer, dict) or not isinstance(answer.get("advantages"), list):
            raise CreditflowServerError("answer has no 'advantages' list")
        return answer["advantages"]

    def assign_arrow(self, method: str, body: bytes, config: Optional[Mapping[str, Any]] = None) -> bytes:
        """Send an Arrow IPC stream of rollouts (e.g. from :mod:`creditflow_client.columnar`), get the
        answer's Arrow IPC stream. Service mode only."""
        if not self.url:
            raise ValueError("assign_arrow needs a service URL (local mode speaks JSON lines)")
        query = urllib.parse.urlencode({"method": method, "config": json.dumps(dict(config or {}))})
        return self._request("POST", "/v1/assign?" + query, body, {"Content-Type": ARROW_TYPE, "Accept": ARROW_TYPE})

    @property
    def columnar(self) -> bool:
        """True when padded numpy/torch batches can go as Arrow columns: a service spoken to in
        Arrow, with numpy and pyarrow installed."""
        import importlib.util

        return bool(self.url) and self.encoding == "arrow" and all(importlib.util.find_spec(m) is not None for m in ("numpy", "pyarrow"))

    def _assign_arrow(self, method: str, config: Dict[str, Any], rollouts: List[Mapping[str, Any]]) -> List[Row]:
        from .arrow import answer_from_arrow, rollouts_to_arrow  # pyarrow only when asked for

        return answer_from_arrow(self.assign_arrow(method, rollouts_to_arrow(rollouts), config))

    def _request(self, verb: str, path: str, body: Optional[bytes], headers: Dict[str, str], partial_ok: bool = False) -> bytes:
        """The answer's body. ``partial_ok``: an answer cut off mid-way raises ``_CutOff`` with what
        arrived (NDJSON's error line is in it) rather than a transport error."""
        assert self.url is not None
        url = self.url + path
        attempt = 0
        while True:
            request = urllib.request.Request(url, data=body, method=verb, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    try:
                        return response.read()
                    except http.client.IncompleteRead as cut:
                        if partial_ok:
                            raise _CutOff(cut.partial) from None
                        raise CreditflowTransportError(f"the answer from {url} was cut off", cause=cut) from None
            except urllib.error.HTTPError as err:
                payload = err.read()
                if err.code == 503 and attempt < self.retries:
                    time.sleep(_retry_after_seconds(err.headers.get("Retry-After"), self.backoff * 2**attempt))
                    attempt += 1
                    continue
                raise _http_error(err.code, payload) from None
            except (socket.timeout, TimeoutError) as err:
                raise CreditflowTimeoutError(f"no answer from {url} within {self.timeout} s") from err
            except (urllib.error.URLError, ConnectionError, OSError) as err:
                if attempt < self.retries:
                    time.sleep(self.backoff * 2**attempt)
                    attempt += 1
                    continue
                reason = getattr(err, "reason", err)
                raise CreditflowTransportError(f"cannot reach {url}: {reason}", cause=err) from None

    # --- local mode ---------------------------------------------------------------------

    def _assign_local(self, method: str, config: Dict[str, Any], lines: List[bytes]) -> List[Row]:
        args = ["assign", "--method", method]
        if config:
            args += ["--config", json.dumps(config)]
        out = self._run_cli(args, b"\n".join(lines) + b"\n" if lines else b"")
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def _run_cli(self, args: List[str], stdin: bytes) -> bytes:
        command = (self.command or default_command()) + args
        try:
            done = subprocess.run(command, input=stdin, capture_output=True, timeout=self.timeout, cwd=self.cwd)
        except FileNotFoundError as err:
            raise CreditflowTransportError(f"cannot run {command[0]!r}: {err}", cause=err) from None
        except subprocess.TimeoutExpired as err:
            raise CreditflowTimeoutError(f"{' '.join(command[:3])} ran longer than {self.timeout} s") from err
        if done.returncode == 0:
            return done.stdout
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        first = message[0] if message else f"exit code {done.returncode}"
        if done.returncode == 2:
            raise _cli_input_error(first)
        raise CreditflowTransportError(f"{' '.join(command[:3])} failed (exit {done.returncode}): {first}")


def _cli_input_error(line: str) -> CreditflowInputError:
    match = _CLI_ERROR.match(line)
    if not match:
        return CreditflowInputError(line)
    field = match.group("field")
    message = match.group("message")
    if field is None and message.startswith("--config"):
        field = "config"
    return CreditflowInputError(message, field=field, line=int(match.group("line")) if match.group("line") else None)


class _CutOff(Exception):
    """An answer that ended before its end (NDJSON after a mid-stream failure)."""

    def __init__(self, partial: bytes):
        super().__init__("answer cut off")
        self.partial = partial


def _http_error(status: int, payload: bytes) -> CreditflowError:
    detail: Dict[str, Any] = {}
    try:
        parsed = json.loads(payload.decode("utf-8"))
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
            detail = parsed["error"]
    except ValueError:
        pass
    message = str(detail.get("message") or payload[:200].decode("utf-8", "replace") or f"HTTP {status}")
    if status == 400:
        line = detail.get("line")
        return CreditflowInputError(message, field=detail.get("field"), line=line if isinstance(line, int) else None)
    if status == 413:
        return CreditflowTooLargeError(message, status)
    if status == 408:
        return CreditflowTimeoutError(message, status)
    if status == 503:
        return CreditflowOverloadedError(message, status)
    return CreditflowServerError(message, status)
