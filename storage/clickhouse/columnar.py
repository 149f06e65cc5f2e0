"""A columnar batch (:mod:`core.columnar`) -> the Arrow table for ``generations``.

The table is the one :func:`storage.clickhouse.columns.build_table` makes from the same
events, row for row: proven events are priced column-wise (:mod:`core.pricing.columns`), the
few the exact validator accepted go through ``build_table``, and rows are put back in record
order.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core import utc
from core.columnar import ColumnarDecoded, EventColumns
from core.pricing import PriceCatalog
from core.pricing.columns import price_columns
from storage.clickhouse.columns import build_table, decimal_from_nanos

_TOKENS = ("input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens")


def columns_table(
    columns: EventColumns, catalog: PriceCatalog, source: str
) -> tuple[pa.Table, int]:
    """Proven events as ``generations`` rows (same column order as ``build_table``)."""
    a = columns.arrays
    n = len(columns)
    tokens = {name: a[name].to_numpy(zero_copy_only=False).astype(np.int64) for name in _TOKENS}
    priced = price_columns(
        catalog,
        a["provider"],
        a["model"],
        columns.occurred_ms,
        tokens,
        columns.cost_nano,
        columns.has_cost,
    )
    table = pa.table(
        {
            "event_id": pa.array(columns.event_ids, pa.binary(16)),
            "client_id": a["client_id"],
            "occurred_at": pa.array(columns.occurred_ms, pa.timestamp("ms", tz="UTC")),
            "provider": a["provider"],
            "model": a["model"],
            "endpoint": a["endpoint"],
            **{name: a[name] for name in _TOKENS},
            "cost_usd": decimal_from_nanos(priced.cost_nano),
            "cost_source": priced.cost_source,
            "price_version": priced.price_version,
            "latency_ms": a["latency_ms"],
            "success": a["success"],
            "status_code": a["status_code"],
            "error_type": a["error_type"],
            "error_message": a["error_message"],
            "request_id": a["request_id"],
            "end_user_id": a["end_user_id"],
            "request_metadata": a["request_metadata"],
            "response_metadata": a["response_metadata"],
            "schema_version": pa.array(np.ones(n, dtype=np.uint8)),
            "source": pa.array([source] * n, pa.string()),
            "source_partition": pa.array(columns.partitions, pa.int32()),
            "source_offset": pa.array(columns.offsets, pa.int64()),
        }
    )
    return table, priced.unpriced


def batch_table(
    batch: ColumnarDecoded, catalog: PriceCatalog, source: str
) -> tuple[pa.Table, list[bytes], int]:
    """Every accepted event of ``batch`` as rows in record order, their ids, unpriced count."""
    parts: list[pa.Table] = []
    ids: list[bytes] = []
    orders: list[np.ndarray[Any, Any]] = []
    unpriced = 0
    if batch.columns is not None:
        table, count = columns_table(batch.columns, catalog, source)
        parts.append(table)
        ids.extend(batch.columns.event_ids)
        orders.append(batch.columns.order)
        unpriced += count
    if batch.exact.accepted:
        table, count = build_table(batch.exact.accepted, catalog, source)
        parts.append(table)
        ids.extend(item.event.event_id.bytes for item in batch.exact.accepted)
        orders.append(np.asarray(batch.exact_order, np.int64))
        unpriced += count
    if not parts:
        return build_table([], catalog, source)[0], [], 0
    if len(parts) == 1:
        return parts[0], ids, unpriced
    table = pa.concat_tables(parts)
    order = np.argsort(np.concatenate(orders), kind="stable")
    return table.take(pa.array(order)), [ids[i] for i in order.tolist()], unpriced


def sorted_digest(ids: list[bytes]) -> str:
    """sha256 of the 16-byte ids in byte order (the insert's dedup token), sorted in C."""
    if not ids:
        return hashlib.sha256(b"").hexdigest()
    words = np.frombuffer(b"".join(ids), dtype=">u8").reshape(-1, 2)
    order = np.lexsort((words[:, 1], words[:, 0]))
    return hashlib.sha256(np.ascontiguousarray(words[order]).tobytes()).hexdigest()


def client_spans(table: pa.Table) -> dict[str, tuple[datetime, datetime]]:
    """Each client of ``generations`` rows with its first and last occurred_at (naive UTC)."""
    if not table.num_rows:
        return {}
    spans = table.group_by("client_id").aggregate([("occurred_at", "min"), ("occurred_at", "max")])
    return {
        client: (utc.naive(lo), utc.naive(hi))
        for client, lo, hi in zip(
            spans.column("client_id").to_pylist(),
            spans.column("occurred_at_min").to_pylist(),
            spans.column("occurred_at_max").to_pylist(),
            strict=True,
        )
    }


def client_hours(table: pa.Table, rows: np.ndarray[Any, Any]) -> set[tuple[str, datetime]]:
    """The (client_id, naive UTC hour) of the given rows: what a rollup repair is asked for."""
    picked = table.take(pa.array(rows, pa.int64()))
    hours = pc.floor_temporal(picked.column("occurred_at"), unit="hour").to_pylist()
    clients = picked.column("client_id").to_pylist()
    return {(client, utc.naive(hour)) for client, hour in zip(clients, hours, strict=True)}
