"""Padded (B, T) batches straight to Arrow columns and back: no Python object per token.

Used when a client speaks Arrow (``CreditflowClient(url, encoding="arrow")``) and the batch is
numpy or torch: each per-token column is the batch array indexed by the boolean span mask (row
by row, so the flat values are already in contract order) plus list offsets; the answer's list
columns are scattered back with the same mask. The rows path (:mod:`creditflow_client.tensors`)
builds the same rollouts as dicts; ``test_verl.py`` checks both give the same advantages.
Needs numpy and pyarrow, imported when this module is.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.ipc  # noqa: F401 - the submodule used below

from .errors import CreditflowInputError, CreditflowServerError
from .tensors import PaddedLayout

ANSWER_KEYS = ("advantages", "returns", "weights")


def _numpy(array: Any) -> np.ndarray:
    if hasattr(array, "detach"):
        return array.detach().cpu().numpy()
    return np.asarray(array)


class Columns:
    """The span geometry of a layout as numpy: a (B, T) boolean mask and list offsets."""

    def __init__(self, layout: PaddedLayout):
        starts = np.array([s for s, _ in layout.spans], dtype=np.int64).reshape(-1)
        ends = np.array([e for _, e in layout.spans], dtype=np.int64).reshape(-1)
        positions = np.arange(layout.width)[None, :]
        self.layout = layout
        self.span = (positions >= starts[:, None]) & (positions < ends[:, None])
        self.offsets = np.concatenate([[0], np.cumsum(ends - starts)]).astype(np.int32)
        self.starts, self.ends = starts, ends

    def flat(self, array: Any, name: str, dtype: Any) -> np.ndarray:
        values = _numpy(array)
        if values.shape != self.span.shape:
            raise ValueError(f"{name}: expected shape {self.span.shape}, got {values.shape}")
        return values[self.span].astype(dtype, copy=False)

    def check_finite(self, flat: np.ndarray, name: str) -> None:
        bad = np.flatnonzero(~np.isfinite(flat))
        if bad.size:
            row = int(np.searchsorted(self.offsets, bad[0], side="right")) - 1
            raise CreditflowInputError(f"not a finite number (NaN or infinity): {flat[bad[0]]}", field=name, line=row + 1)

    def list_column(self, flat: np.ndarray) -> pa.Array:
        return pa.ListArray.from_arrays(pa.array(self.offsets, type=pa.int32()), pa.array(flat))


def padded_to_arrow(
    layout: PaddedLayout,
    *,
    groups: Sequence[Any],
    tokens: Any = None,
    mask: Any = None,
    token_rewards: Any = None,
    rewards: Any = None,
    ids: Optional[Sequence[Any]] = None,
    per_token: Optional[Mapping[str, Any]] = None,
    signals: Optional[Sequence[Optional[Mapping[str, Any]]]] = None,
    extra: Optional[Sequence[Optional[Mapping[str, Any]]]] = None,
) -> bytes:
    """An Arrow IPC stream of the contract rows :func:`~creditflow_client.tensors.rows_from_padded` would build."""
    cols = Columns(layout)
    B, T = cols.span.shape
    data: Dict[str, Any] = {
        "id": pa.array([str(ids[b]) if ids is not None else str(b) for b in range(B)], type=pa.string()),
        "group": pa.array([str(g) for g in groups], type=pa.string()),
        "tokens": cols.list_column(cols.flat(tokens, "tokens", np.int64) if tokens is not None else np.zeros(int(cols.offsets[-1]), dtype=np.int64)),
    }
    trained = (_numpy(mask) != 0) if mask is not None else np.ones((B, T), dtype=bool)
    trained_in_span = trained & cols.span
    reward = np.zeros(B) if rewards is None else _numpy(rewards).astype(np.float64).reshape(B)
    if token_rewards is not None:
        dense = _numpy(token_rewards).astype(np.float64)
        # The contract puts `reward` on the last trained token of the span (its last token if none is trained).
        has_trained = trained_in_span.any(axis=1)
        last_trained = T - 1 - np.argmax(trained_in_span[:, ::-1], axis=1)
        last = np.where(has_trained, last_trained, cols.ends - 1)
        nonempty = np.flatnonzero(cols.ends > cols.starts)
        reward = reward.copy()
        reward[nonempty] += dense[nonempty, last[nonempty]]
        rest = dense.copy()
        rest[nonempty, last[nonempty]] = 0.0
        rest_flat = cols.flat(rest, "token_rewards", np.float64)
        cols.check_finite(rest_flat, "token_rewards")
        if np.any(rest_flat != 0):
            data["token_rewards"] = cols.list_column(rest_flat)
    bad = np.flatnonzero(~np.isfinite(reward))
    if bad.size:
        raise CreditflowInputError(f"not a finite number (NaN or infinity): {reward[bad[0]]}", field="reward", line=int(bad[0]) + 1)
    data["reward"] = pa.array(reward, type=pa.float64())
    if mask is not None and not bool(trained[cols.span].all()):
        data["mask"] = cols.list_column(trained[cols.span].astype(np.int8))
    for name, array in (per_token or {}).items():
        flat = cols.flat(array, name, np.float64)
        cols.check_finite(flat, name)
        data[name] = cols.list_column(flat)
    if signals is not None and any(signals):
        data["signals"] = pa.array([json.dumps(dict(s), allow_nan=False) if s else None for s in signals], type=pa.string())
    if extra is not None:
        for key in sorted({k for e in extra if e for k in e}):
            data[key] = pa.array([e.get(key) if e else None for e in extra])
    table = pa.table(data)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def arrow_to_padded(raw: bytes, layout: PaddedLayout, ids: Optional[Sequence[Any]] = None) -> Dict[str, np.ndarray]:
    """The answer's ``advantages``, ``returns`` and ``weights`` columns as float64 (B, T) arrays
    (0 outside each span; ``weights`` 1 outside). Checks ids and row lengths against the request."""
    cols = Columns(layout)
    B = cols.span.shape[0]
    table = pa.ipc.open_stream(pa.py_buffer(raw)).read_all()
    expected_ids: List[str] = [str(ids[b]) if ids is not None else str(b) for b in range(B)]
    if table.num_rows != B or table.column("id").to_pylist() != expected_ids:
        raise CreditflowServerError(f"answer has {table.num_rows} rows that do not match the {B} rollouts sent")
    out: Dict[str, np.ndarray] = {}
    for key in ANSWER_KEYS:
        if key not in table.column_names:
            continue
        column = table.column(key).combine_chunks()
        if column.null_count == len(column):
            continue
        if column.null_count:
            raise CreditflowServerError(f"answer column {key} has missing rows")
        offsets = column.offsets.to_numpy()
        if not np.array_equal(offsets - offsets[0], cols.offsets):
            raise CreditflowServerError(f"answer column {key}: row lengths differ from the rollouts sent")
        padded = np.full(cols.span.shape, 1.0 if key == "weights" else 0.0)
        padded[cols.span] = column.flatten().to_numpy(zero_copy_only=False)
        out[key] = padded
    if "advantages" not in out:
        raise CreditflowServerError("answer has no advantages column")
    return out
