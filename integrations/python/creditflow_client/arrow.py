"""Arrow IPC encoding of rollouts and answers (``CreditflowClient(url, encoding="arrow")``).

Columns are the contract's fields, as the service reads them: strings for ids and groups, lists
for per-token and per-step arrays, ``signals``/``meta`` (and the answer's ``diag``) as JSON text;
a null cell is an absent field. Needs pyarrow, imported only here.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Sequence

JSON_COLUMNS = ("signals", "meta", "diag")


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.ipc  # noqa: F401 - the submodule used below
    except ImportError as err:
        raise ImportError("encoding='arrow' needs pyarrow (pip install pyarrow)") from err
    return pyarrow


def rollouts_to_arrow(rollouts: Sequence[Mapping[str, Any]]) -> bytes:
    pa = _pyarrow()
    prepared = []
    for row in rollouts:
        row = dict(row)
        for key in JSON_COLUMNS:
            if key in row:
                row[key] = json.dumps(row[key], allow_nan=False)
        if "reward" in row:
            row["reward"] = float(row["reward"])  # one float column even when every reward is an integer
        prepared.append(row)
    table = pa.Table.from_pylist(prepared)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def answer_from_arrow(raw: bytes) -> List[Dict[str, Any]]:
    pa = _pyarrow()
    rows = pa.ipc.open_stream(pa.py_buffer(raw)).read_all().to_pylist()
    out = []
    for row in rows:
        clean = {k: v for k, v in row.items() if v is not None}
        for key in JSON_COLUMNS:
            if isinstance(clean.get(key), str):
                clean[key] = json.loads(clean[key])
        out.append(clean)
    return out
