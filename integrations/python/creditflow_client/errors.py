"""Typed errors of the creditflow client.

Every failure is one of three kinds, so a trainer can decide what to do: fix its data
(CreditflowInputError), wait or scale the service (CreditflowServerError), or check the network /
the command (CreditflowTransportError).
"""

from __future__ import annotations

from typing import Optional


class CreditflowError(Exception):
    """Base class of every error raised by creditflow_client."""


class CreditflowInputError(CreditflowError, ValueError):
    """The rollouts or the config were refused: ``field`` and ``line`` name the culprit.

    ``line`` is 1-based: the rollout's position in the request (line of the JSONL stream);
    ``None`` when the error is not about one rollout (an unknown method, a bad config key).
    """

    def __init__(self, message: str, field: Optional[str] = None, line: Optional[int] = None):
        self.message = message
        self.field = field
        self.line = line
        where = []
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field '{field}'")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class CreditflowServerError(CreditflowError):
    """The service answered with an error that is not about the input (or gave a malformed answer)."""

    def __init__(self, message: str, status: Optional[int] = None):
        self.message = message
        self.status = status
        super().__init__(f"HTTP {status}: {message}" if status is not None else message)


class CreditflowOverloadedError(CreditflowServerError):
    """503 past every retry: the service's concurrency limit stayed full."""


class CreditflowTooLargeError(CreditflowServerError):
    """413: the request is over the service's size limit (send fewer groups per request, or NDJSON)."""


class CreditflowTimeoutError(CreditflowServerError):
    """408 from the service, or no answer within the client's timeout."""


class CreditflowTransportError(CreditflowError):
    """The service could not be reached, or the local command could not be run."""

    def __init__(self, message: str, cause: Optional[BaseException] = None):
        self.message = message
        self.cause = cause
        super().__init__(message)
