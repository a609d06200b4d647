"""Padded trainer batches <-> creditflow rollout rows.

Trainers hold responses as padded (B, T) tensors: verl and TRL pad completions on the right,
OpenRLHF's action mask starts after a prompt it also covers, and TRL pads prompts on the left.
A rollout row holds only its response, so each batch row has a *span* [start, end) of real
response positions; everything outside it is padding (or prompt) and gets advantage 0 on the way back.

Arrays may be numpy arrays, torch tensors or nested lists: they are read once with ``.tolist()``
(a C loop for numpy and torch) and sliced as Python lists, so numpy and torch stay optional.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .errors import CreditflowInputError

Row = Dict[str, Any]


def to_list(array: Any) -> list:
    """A (nested) Python list from a numpy array, a torch tensor (any device) or a list."""
    if hasattr(array, "detach"):  # torch: leave the graph and the device first
        array = array.detach().cpu()
    if hasattr(array, "tolist"):
        return array.tolist()
    return [to_list(x) if isinstance(x, (list, tuple)) or hasattr(x, "tolist") else x for x in array]


def to_int_list(array: Any) -> list:
    """Like :func:`to_list`, with bools and integer-valued floats as ints (JSON 0/1, not true/false).
    The cast runs in numpy or torch when the array is theirs."""
    if hasattr(array, "detach"):
        return array.detach().cpu().long().tolist()
    if hasattr(array, "astype"):
        return array.astype("int64").tolist()
    return [to_int_list(x) if isinstance(x, (list, tuple)) or hasattr(x, "tolist") else int(x) for x in array]


def row_sums(array: Any) -> List[int]:
    """Per-row count of non-zero entries of a (B, T) array (in numpy/torch when the array is theirs)."""
    if hasattr(array, "detach"):
        return (array.detach() != 0).sum(-1).tolist()
    if hasattr(array, "astype") and hasattr(array, "sum"):
        return (array != 0).sum(-1).tolist()
    return [sum(1 for x in row if x) for row in array]


class PaddedLayout:
    """Where each batch row's response lies in a (B, T) padded tensor.

    Build it with :meth:`from_mask` (span = first to last position where ``valid`` is non-zero;
    tool tokens inside the span stay, with mask 0) or :meth:`from_lengths` (``padding="right"``:
    [0, len); ``"left"``: [T - len, T)).
    """

    def __init__(self, spans: Sequence[Tuple[int, int]], width: int):
        self.spans = [(int(s), int(e)) for s, e in spans]
        self.width = int(width)
        for s, e in self.spans:
            if not 0 <= s <= e <= self.width:
                raise ValueError(f"span [{s}, {e}) outside width {self.width}")

    @property
    def batch_size(self) -> int:
        return len(self.spans)

    @classmethod
    def from_mask(cls, valid: Any) -> "PaddedLayout":
        rows = to_list(valid)
        width = len(rows[0]) if rows else 0
        spans = []
        for row in rows:
            on = [t for t, x in enumerate(row) if x]
            spans.append((on[0], on[-1] + 1) if on else (0, 0))
        return cls(spans, width)

    @classmethod
    def from_lengths(cls, lengths: Any, width: int, padding: str = "right") -> "PaddedLayout":
        if padding not in ("right", "left"):
            raise ValueError(f"padding must be 'right' or 'left', not {padding!r}")
        spans = []
        for n in to_list(lengths):
            n = int(n)
            spans.append((0, n) if padding == "right" else (width - n, width))
        return cls(spans, width)

    def cut(self, array: Any, name: str = "array", ints: bool = False) -> List[list]:
        """Each row's span of a (B, T) array, as lists (``ints``: cast to int first).

        Values are not checked here: NaN/inf are refused when the rows are encoded
        (:func:`creditflow_client.encode_rows`, which every request goes through), with field and row."""
        if hasattr(array, "shape") and hasattr(array, "tolist"):
            # numpy / torch: convert only each row's span (padding never becomes Python objects).
            if hasattr(array, "detach"):
                array = array.detach().cpu()
            if tuple(array.shape) != (self.batch_size, self.width):
                raise ValueError(f"{name}: expected shape ({self.batch_size}, {self.width}), got {tuple(array.shape)}")
            if ints:
                array = array.long() if hasattr(array, "long") else array.astype("int64")
            return [array[b, s:e].tolist() for b, (s, e) in enumerate(self.spans)]
        rows = to_int_list(array) if ints else to_list(array)
        if len(rows) != self.batch_size or any(len(r) != self.width for r in rows):
            raise ValueError(f"{name}: expected shape ({self.batch_size}, {self.width})")
        return [row[s:e] for row, (s, e) in zip(rows, self.spans)]

    def pad(self, per_row: Sequence[Sequence[float]], like: Any = None, fill: float = 0.0) -> Any:
        """(B, T) array with row b's values at its span and ``fill`` elsewhere.

        ``like``: a torch tensor (result on its device, its float dtype) or a numpy array (numpy
        result); ``None``: numpy when installed, else nested lists."""
        if len(per_row) != self.batch_size:
            raise ValueError(f"{len(per_row)} rows for a batch of {self.batch_size}")
        grid = []
        for values, (s, e) in zip(per_row, self.spans):
            if len(values) != e - s:
                raise ValueError(f"row has {len(values)} values for a span of {e - s}")
            grid.append([fill] * s + list(values) + [fill] * (self.width - e))
        return _like(grid, self.width, like)


def as_like(array: Any, like: Any) -> Any:
    """A float numpy (B, T) array as ``like``'s kind: a torch tensor on its device and float dtype
    (float32 for an integer tensor), or numpy in its float dtype."""
    if like is not None and hasattr(like, "detach"):
        import torch

        dtype = like.dtype if like.is_floating_point() else torch.float32
        return torch.from_numpy(array).to(device=like.device, dtype=dtype)
    import numpy as np

    dtype = like.dtype if like is not None and hasattr(like, "dtype") and np.issubdtype(like.dtype, np.floating) else np.float64
    return array.astype(dtype, copy=False)


def _like(grid: List[list], width: int, like: Any) -> Any:
    if like is not None and hasattr(like, "detach"):
        import torch  # only reached when the caller passed a torch tensor

        dtype = like.dtype if like.is_floating_point() else torch.float32
        return torch.tensor(grid, dtype=dtype, device=like.device)
    try:
        import numpy as np
    except ImportError:
        return grid
    dtype = like.dtype if like is not None and hasattr(like, "dtype") and np.issubdtype(like.dtype, np.floating) else np.float64
    return np.asarray(grid, dtype=dtype).reshape(len(grid), width)


def outcome_split(token_rewards: List[float], mask: List[int]) -> Tuple[float, Optional[List[float]]]:
    """Split a row's token-level rewards into the contract's ``reward`` and ``token_rewards``.

    The contract puts ``reward`` on the last mask-1 token (as verl's ``rm_scores``), so the exact
    decomposition is reward = r[last], token_rewards = r with r[last] = 0 (``None`` when all zero,
    the usual outcome-only case)."""
    last = next((t for t in range(len(mask) - 1, -1, -1) if mask[t]), len(mask) - 1)
    if last < 0:
        return 0.0, None
    reward = float(token_rewards[last])
    rest = list(token_rewards)
    rest[last] = 0.0
    return reward, (rest if any(rest) else None)


def rows_from_padded(
    layout: PaddedLayout,
    *,
    groups: Sequence[Any],
    tokens: Any = None,
    mask: Any = None,
    rewards: Any = None,
    token_rewards: Any = None,
    ids: Optional[Sequence[Any]] = None,
    per_token: Optional[Mapping[str, Any]] = None,
    signals: Optional[Sequence[Optional[Mapping[str, Any]]]] = None,
    extra: Optional[Sequence[Optional[Mapping[str, Any]]]] = None,
) -> List[Row]:
    """Contract rows (docs/rollouts.md §1) from padded (B, T) tensors cut by ``layout``.

    - ``groups``: one group key per row (verl's uid, TRL's prompt index); stringified.
    - ``tokens``: token ids (B, T); ``None`` sends zeros (outcome methods never read ids).
    - ``mask``: 1 = trained token, 0 = tool/environment token; padding is outside the span anyway.
    - ``rewards``: one outcome reward per row (B,), or ``token_rewards`` (B, T) dense rewards
      (split by :func:`outcome_split`); one of the two is required.
    - ``per_token``: more (B, T) arrays by contract name (``values``, ``logprobs``, ``ref_logprobs``, ``entropies``).
    - ``signals`` / ``extra``: per-row dicts (``signals`` becomes the row's ``signals``; ``extra``
      adds top-level contract fields such as ``step_ends``, ``finished``, ``episode``).
    """
    B = layout.batch_size
    if len(groups) != B:
        raise ValueError(f"{len(groups)} groups for a batch of {B}")
    if rewards is None and token_rewards is None:
        raise ValueError("give rewards (B,) or token_rewards (B, T)")
    masks = layout.cut(mask, "mask", ints=True) if mask is not None else [[1] * (e - s) for s, e in layout.spans]
    toks = layout.cut(tokens, "tokens", ints=True) if tokens is not None else [[0] * (e - s) for s, e in layout.spans]
    dense = layout.cut(token_rewards, "token_rewards") if token_rewards is not None else None
    scalar = [float(x) for x in to_list(rewards)] if rewards is not None else None
    if scalar is not None:
        if len(scalar) != B:
            raise ValueError(f"{len(scalar)} rewards for a batch of {B}")
        for b, x in enumerate(scalar):
            if not math.isfinite(x):
                raise CreditflowInputError(f"{x} at batch row {b}", field="reward", line=b + 1)
    cut_extra = {name: layout.cut(arr, name) for name, arr in (per_token or {}).items()}
    rows: List[Row] = []
    for b in range(B):
        m = masks[b]
        row: Row = {
            "id": str(ids[b]) if ids is not None else str(b),
            "group": str(groups[b]),
            "tokens": toks[b],
        }
        if dense is not None:
            reward, rest = outcome_split(dense[b], m)
            if scalar is not None:
                reward += scalar[b]
            row["reward"] = reward
            if rest is not None:
                row["token_rewards"] = rest
        else:
            row["reward"] = scalar[b]  # type: ignore[index]
        if not all(m):
            row["mask"] = m
        for name, values in cut_extra.items():
            row[name] = values[b]
        if signals is not None and signals[b]:
            row["signals"] = dict(signals[b])  # type: ignore[arg-type]
        if extra is not None and extra[b]:
            row.update(extra[b])  # type: ignore[arg-type]
        rows.append(row)
    return rows


def padded_from_rows(layout: PaddedLayout, answer: Sequence[Mapping[str, Any]], key: str, like: Any = None, fill: float = 0.0) -> Any:
    """(B, T) array of ``key`` (``advantages``, ``returns`` or ``weights``) placed back at each row's span.

    A row without ``key`` (``weights`` of a method that emits none) gets ``fill`` over its span."""
    per_row = []
    for out, (s, e) in zip(answer, layout.spans):
        values = out.get(key)
        per_row.append(values if values is not None else [fill] * (e - s))
    return layout.pad(per_row, like=like, fill=fill)


def has_key(answer: Sequence[Mapping[str, Any]], key: str) -> bool:
    return any(out.get(key) is not None for out in answer)


ANSWER_KEYS = ("advantages", "returns", "weights")


def assign_padded(client: Any, method: str, layout: PaddedLayout, config: Optional[Mapping[str, Any]] = None, like: Any = None, **fields: Any) -> Dict[str, Any]:
    """Send a padded batch (``fields`` as for :func:`rows_from_padded`) and get the answer's
    ``advantages`` and, when the method emits them, ``returns`` and ``weights`` as (B, T) arrays
    shaped and typed like ``like`` (0 outside each span; weights 1).

    With a client that speaks Arrow to a service (``client.columnar``) the arrays go as Arrow
    columns (:mod:`creditflow_client.columnar`, no Python object per token); otherwise as rows."""
    if getattr(client, "columnar", False):
        from .columnar import arrow_to_padded, padded_to_arrow

        body = padded_to_arrow(layout, **fields)
        out = arrow_to_padded(client.assign_arrow(method, body, config), layout, fields.get("ids"))
        return {key: as_like(value, like) for key, value in out.items()}
    answer = client.assign(method, rows_from_padded(layout, **fields), config)
    return {key: padded_from_rows(layout, answer, key, like=like, fill=1.0 if key == "weights" else 0.0) for key in ANSWER_KEYS if has_key(answer, key)}
