"""Accepted events -> one Arrow table for ``generations``: priced, columnar, one pass.

Arrow is the fastest insert path clickhouse-connect has (about twice the native column insert
measured here), and it lets money travel as exact integers: costs are computed in integer
nano-USD and handed over as Decimal(18, 9) values built straight from those integers, without
a Python Decimal per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from core.decode import Accepted
from core.money import NANO_PER_USD
from core.pricing import PriceCatalog

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_COST_TYPE = pa.decimal128(18, 9)


def decimal_from_nanos(nanos: Sequence[int] | np.ndarray[Any, Any]) -> pa.Array:
    """Decimal(18, 9) Arrow array whose values are ``nanos`` x 1e-9, exactly."""
    low = np.asarray(nanos, dtype=np.int64)
    words = np.empty((len(low), 2), dtype=np.int64)
    words[:, 0] = low
    words[:, 1] = low >> 63  # sign extension to 128 bits (little-endian two's complement)
    return pa.Array.from_buffers(_COST_TYPE, len(low), [None, pa.py_buffer(words.tobytes())])


def build_table(
    items: Sequence[Accepted], catalog: PriceCatalog, source: str
) -> tuple[pa.Table, int]:
    """The Arrow table of ``items`` (column names as in ``generations``) and the unpriced count."""
    n = len(items)
    event_id: list[bytes] = []
    client_id: list[str] = []
    occurred_ms: list[int] = []
    provider: list[str] = []
    model: list[str] = []
    endpoint: list[str] = []
    input_tokens: list[int] = []
    output_tokens: list[int] = []
    cached: list[int] = []
    reasoning: list[int] = []
    cost_nano: list[int] = []
    cost_source: list[str] = []
    price_version: list[str] = []
    latency: list[int] = []
    success: list[bool] = []
    status: list[int] = []
    error_type: list[str] = []
    error_message: list[str] = []
    request_id: list[str] = []
    end_user: list[str] = []
    req_meta: list[bytes] = []
    resp_meta: list[bytes] = []
    partition: list[int] = []
    offset: list[int] = []
    unpriced = 0
    lookup = catalog.lookup
    prices: dict[tuple[str, str, Any], Any] = {}  # one catalog lookup per model and day
    for item in items:
        e = item.event
        when = e.occurred_at.astimezone(UTC)
        event_id.append(e.event_id.bytes)
        client_id.append(e.client_id)
        occurred_ms.append((when - _EPOCH) // _MS)
        provider.append(e.provider)
        model.append(e.model)
        endpoint.append(e.endpoint)
        input_tokens.append(e.input_tokens)
        output_tokens.append(e.output_tokens)
        cached.append(e.cached_input_tokens)
        reasoning.append(e.reasoning_tokens)
        if e.cost_usd is not None:
            cost_nano.append(int(e.cost_usd * NANO_PER_USD))
            cost_source.append("provider")
            price_version.append("")
        else:
            key = (e.provider, e.model, when.date())
            if key not in prices:
                prices[key] = lookup(e.provider, e.model, when)
            price = prices[key]
            if price is None:
                cost_nano.append(0)
                cost_source.append("unpriced")
                price_version.append("")
                unpriced += 1
            else:
                cost_nano.append(
                    price.cost_nano(
                        e.input_tokens, e.output_tokens, e.cached_input_tokens, e.reasoning_tokens
                    )
                )
                cost_source.append("catalog")
                price_version.append(price.version)
        latency.append(e.latency_ms)
        success.append(e.success)
        status.append(e.status_code or 0)
        error_type.append(e.error_type or "")
        error_message.append(e.error_message or "")
        request_id.append(e.request_id or "")
        end_user.append(e.end_user_id or "")
        req_meta.append(orjson.dumps(e.request_metadata, default=str))
        resp_meta.append(orjson.dumps(e.response_metadata, default=str))
        partition.append(item.record.partition)
        offset.append(item.record.offset)
    table = pa.table(
        {
            "event_id": pa.array(event_id, pa.binary(16)),
            "client_id": pa.array(client_id, pa.string()),
            "occurred_at": pa.array(occurred_ms, pa.timestamp("ms", tz="UTC")),
            "provider": pa.array(provider, pa.string()),
            "model": pa.array(model, pa.string()),
            "endpoint": pa.array(endpoint, pa.string()),
            "input_tokens": pa.array(input_tokens, pa.uint32()),
            "output_tokens": pa.array(output_tokens, pa.uint32()),
            "cached_input_tokens": pa.array(cached, pa.uint32()),
            "reasoning_tokens": pa.array(reasoning, pa.uint32()),
            "cost_usd": decimal_from_nanos(cost_nano),
            "cost_source": pa.array(cost_source, pa.string()),
            "price_version": pa.array(price_version, pa.string()),
            "latency_ms": pa.array(latency, pa.uint32()),
            "success": pa.array(success, pa.bool_()),
            "status_code": pa.array(status, pa.uint16()),
            "error_type": pa.array(error_type, pa.string()),
            "error_message": pa.array(error_message, pa.string()),
            "request_id": pa.array(request_id, pa.string()),
            "end_user_id": pa.array(end_user, pa.string()),
            "request_metadata": pa.array(req_meta, pa.binary()),
            "response_metadata": pa.array(resp_meta, pa.binary()),
            "schema_version": pa.array(np.ones(n, dtype=np.uint8)),
            "source": pa.array([source] * n, pa.string()),
            "source_partition": pa.array(partition, pa.int32()),
            "source_offset": pa.array(offset, pa.int64()),
        }
    )
    return table, unpriced
