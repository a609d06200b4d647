"""Spreading one batch over several creditflow replicas (Ray tasks, threads, a load balancer).

A method whose credit depends only on a rollout's group (``locality: "group"`` in
``creditflow methods --json``) gives the same advantages whether a batch is sent whole or as
shards of whole groups; a batch-wide method (whitening, batch statistics) does not, so
:func:`check_shardable` refuses it. Nothing here coordinates a cluster: callers submit the shards
however they like and :func:`merge_shards` puts the answers back in input order.
"""

from __future__ import annotations

import heapq
from typing import Any, Dict, Iterable, List, Mapping, Sequence

Row = Dict[str, Any]


def check_shardable(method: str, methods: Iterable[Mapping[str, Any]]) -> None:
    """Raise ValueError unless ``method`` is group-local (``methods`` = ``CreditflowClient.methods()``)."""
    for m in methods:
        if m.get("name") == method:
            if m.get("locality") != "group":
                raise ValueError(f"method '{method}' needs the whole batch (its credit is not group-local): send it to one replica")
            return
    raise ValueError(f"unknown method '{method}'")


def split_by_group(rollouts: Sequence[Mapping[str, Any]], parts: int) -> List[List[int]]:
    """Row indices of ``parts`` shards made of whole groups, balanced by token count (largest group
    to the lightest shard). Rows keep their input order inside each shard; empty shards are dropped."""
    if parts < 1:
        raise ValueError("parts must be >= 1")
    groups: Dict[Any, List[int]] = {}
    for k, row in enumerate(rollouts):
        groups.setdefault(row["group"], []).append(k)
    sizes = sorted(groups.values(), key=lambda idx: -sum(len(rollouts[k]["tokens"]) + 1 for k in idx))
    heap = [(0, p) for p in range(parts)]
    shards: List[List[int]] = [[] for _ in range(parts)]
    for idx in sizes:
        load, p = heapq.heappop(heap)
        shards[p].extend(idx)
        heapq.heappush(heap, (load + sum(len(rollouts[k]["tokens"]) + 1 for k in idx), p))
    return [sorted(s) for s in shards if s]


def merge_shards(shards: Sequence[Sequence[int]], answers: Sequence[Sequence[Row]], total: int) -> List[Row]:
    """The answer rows of every shard back in input order."""
    merged: List[Any] = [None] * total
    for idx, answer in zip(shards, answers):
        if len(idx) != len(answer):
            raise ValueError(f"a shard of {len(idx)} rows got {len(answer)} answers")
        for k, row in zip(idx, answer):
            merged[k] = row
    if any(row is None for row in merged):
        raise ValueError("some rows are in no shard")
    return merged
