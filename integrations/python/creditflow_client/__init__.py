"""creditflow_client: per-token credit from creditflow for Python trainers.

``CreditflowClient(url)`` talks to ``creditflow serve``; ``CreditflowClient()`` runs the
``creditflow`` CLI. The trainer files (``creditflow_client.verl``, ``.trl``, ``.openrlhf``) import
their trainer only when used. Standard library only at import.
"""

from .client import CreditflowClient, default_command, encode_rows
from .errors import (
    CreditflowError,
    CreditflowInputError,
    CreditflowOverloadedError,
    CreditflowServerError,
    CreditflowTimeoutError,
    CreditflowTooLargeError,
    CreditflowTransportError,
)
from .tensors import PaddedLayout, padded_from_rows, rows_from_padded

__all__ = [
    "CreditflowClient",
    "CreditflowError",
    "CreditflowInputError",
    "CreditflowOverloadedError",
    "CreditflowServerError",
    "CreditflowTimeoutError",
    "CreditflowTooLargeError",
    "CreditflowTransportError",
    "PaddedLayout",
    "default_command",
    "encode_rows",
    "padded_from_rows",
    "rows_from_padded",
]
__version__ = "0.1.0"
