"""Export and fleet queries as pure builders: SQL text plus bound parameters.

Exports are single queries read as a stream of blocks, so each is one statement: a usage
export is the rollup for the whole UTC hours and the raw rows of the ragged edges in one
``UNION ALL``, grouped again outside, which keeps it exact for any bounds (the same split as
:mod:`storage.clickhouse.sql.usage`, whose helpers it reuses).
"""

from __future__ import annotations

from datetime import datetime

from core.calendar import GroupBy
from storage import LOG_COLUMNS, Dimension, ExportFilter, LogFilter
from storage.clickhouse.sql import Query
from storage.clickhouse.sql.logs import condition
from storage.clickhouse.sql.usage import ROLLUP_SUMS, bucket_expr, whole_hours

_DIMENSIONS: frozenset[str] = frozenset({"provider", "model", "endpoint"})

# One row of the rollup, and one raw row shaped like it (a call is one call, its own sums).
_ROLLUP_METRICS = (
    "cost_usd, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, "
    "calls, successes, latency_ms_sum, unpriced_calls"
)
_RAW_METRICS = (
    "toDecimal128(cost_usd, 9) AS cost_usd, toUInt64(input_tokens) AS input_tokens, "
    "toUInt64(output_tokens) AS output_tokens, "
    "toUInt64(cached_input_tokens) AS cached_input_tokens, "
    "toUInt64(reasoning_tokens) AS reasoning_tokens, toUInt64(1) AS calls, "
    "toUInt64(success) AS successes, toUInt64(latency_ms) AS latency_ms_sum, "
    "toUInt64(cost_source = 'unpriced') AS unpriced_calls"
)


def _filter(flt: ExportFilter) -> tuple[str, dict[str, object]]:
    where, params = condition(LogFilter(flt.client_id, flt.provider, flt.endpoint, flt.success))
    where += (
        " AND occurred_at >= {start:DateTime64(3, 'UTC')}"
        " AND occurred_at < {end:DateTime64(3, 'UTC')}"
    )
    return where, {**params, "start": flt.start, "end": flt.end}


def log_rows(database: str, flt: ExportFilter) -> Query:
    """The filtered calls oldest first: the table's own sort order, so it reads in order."""
    where, params = _filter(flt)
    sql = (
        f"SELECT {', '.join(LOG_COLUMNS)} FROM {database}.generations WHERE {where} "
        "ORDER BY occurred_at, event_id"
    )
    return Query(sql, params)


def log_count(database: str, flt: ExportFilter) -> Query:
    where, params = _filter(flt)
    return Query(f"SELECT count() FROM {database}.generations WHERE {where}", params)


def usage_rows(
    database: str,
    client_id: str,
    start: datetime,
    end: datetime,
    group_by: GroupBy,
    dims: tuple[Dimension, ...],
) -> Query:
    """Rows (bucket, *dims, *METRIC_NAMES) ordered by bucket then dims; empty buckets absent.

    ``dims`` are column names from a fixed set (storage.Dimension), never request text.
    """
    unknown = set(dims) - _DIMENSIONS
    if unknown:
        raise ValueError(f"not a usage dimension: {sorted(unknown)}")
    keys = ", ".join(("bucket", *dims))
    dim_select = "".join(f", {d}" for d in dims)
    params: dict[str, object] = {"client_id": client_id}
    parts = []
    full_start, full_end = whole_hours(start, end)
    if full_start < full_end:
        parts.append(
            f"SELECT {bucket_expr(group_by).format(col='hour')} AS bucket{dim_select}, "
            f"{_ROLLUP_METRICS} FROM {database}.usage_hourly "
            "WHERE client_id = {client_id:String} "
            "AND hour >= {full_start:DateTime('UTC')} AND hour < {full_end:DateTime('UTC')}"
        )
        params["full_start"], params["full_end"] = full_start, full_end
    edges = (
        [(start, end)]
        if full_start == full_end
        else [(a, b) for a, b in ((start, full_start), (full_end, end)) if a < b]
    )
    if edges:
        ranges = []
        for n, (a, b) in enumerate(edges):
            ranges.append(
                f"(occurred_at >= {{lo{n}:DateTime64(3, 'UTC')}} "
                f"AND occurred_at < {{hi{n}:DateTime64(3, 'UTC')}})"
            )
            params[f"lo{n}"], params[f"hi{n}"] = a, b
        parts.append(
            f"SELECT {bucket_expr(group_by).format(col='occurred_at')} AS bucket{dim_select}, "
            f"{_RAW_METRICS} FROM {database}.generations "
            f"WHERE client_id = {{client_id:String}} AND ({' OR '.join(ranges)})"
        )
    union = " UNION ALL ".join(parts)
    sql = f"SELECT {keys}, {ROLLUP_SUMS} FROM ({union}) GROUP BY {keys} ORDER BY {keys}"
    return Query(sql, params)


def usage_by_client(database: str, start: datetime, end: datetime) -> Query:
    """Every client's metrics over whole UTC hours ``[start, end)``, from the rollup."""
    sql = (
        f"SELECT client_id, {ROLLUP_SUMS} FROM {database}.usage_hourly "
        "WHERE hour >= {start:DateTime('UTC')} AND hour < {end:DateTime('UTC')} "
        "GROUP BY client_id ORDER BY client_id"
    )
    return Query(sql, {"start": start, "end": end})
