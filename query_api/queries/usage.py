"""Aggregations over a client's calls in a period: by time bucket, by provider/model, endpoint.

They read the hourly rollup (``usage_hourly``) for the whole UTC hours inside the period and the
raw ``generations`` rows only for the partial hours at its two edges, so answers are exact for
any start/end while the bulk of the work is done on pre-aggregated rows.

Every aggregation returns the same metric columns (:data:`METRIC_COLUMNS`) so one function
shapes them all, and totals are sums of the rows: summary, breakdowns and current month agree.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from query_api.queries import Query

GroupBy = Literal["hour", "day", "month"]

# Bucket start expressions by group_by, over a time column: a fixed whitelist, never request text.
BUCKET_EXPR: dict[str, str] = {
    "hour": "toDateTime(toStartOfHour({col}), 'UTC')",
    "day": "toDateTime(toStartOfDay({col}), 'UTC')",
    "month": "toDateTime(toStartOfMonth({col}), 'UTC')",
}

METRIC_COLUMNS = (
    "cost_usd",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "reasoning_tokens",
    "calls",
    "successes",
    "latency_ms_sum",
    "unpriced_calls",
)

# The same metrics from a raw row, typed like the rollup's columns so UNION ALL lines up.
_RAW_METRICS = (
    "toDecimal128(cost_usd, 9) AS cost_usd, toUInt64(input_tokens) AS input_tokens, "
    "toUInt64(output_tokens) AS output_tokens, "
    "toUInt64(cached_input_tokens) AS cached_input_tokens, "
    "toUInt64(reasoning_tokens) AS reasoning_tokens, toUInt64(1) AS calls, "
    "toUInt64(success) AS successes, toUInt64(latency_ms) AS latency_ms_sum, "
    "toUInt64(cost_source = 'unpriced') AS unpriced_calls"
)
_ROLLUP_METRICS = ", ".join(METRIC_COLUMNS)
_SUMS = ", ".join(f"sum({c}) AS {c}" for c in METRIC_COLUMNS)

_ROLLUP_WHERE = (
    "client_id = {client_id:String} "
    "AND hour >= {full_start:DateTime('UTC')} AND hour < {full_end:DateTime('UTC')}"
)
_EDGES_WHERE = (
    "client_id = {client_id:String} AND ("
    "(occurred_at >= {start:DateTime64(3, 'UTC')} AND occurred_at < {full_start:DateTime('UTC')})"
    " OR "
    "(occurred_at >= {full_end:DateTime('UTC')} AND occurred_at < {end:DateTime64(3, 'UTC')}))"
)


def whole_hours(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The whole UTC hours inside [start, end): served by the rollup; the rest by raw rows.

    Returns an empty range (start, start) when the period holds no whole hour.
    """
    floor_start = start.replace(minute=0, second=0, microsecond=0)
    full_start = floor_start if floor_start == start else floor_start + timedelta(hours=1)
    full_end = end.replace(minute=0, second=0, microsecond=0)
    if full_start >= full_end:
        return start, start
    return full_start, full_end


def _hybrid(
    database: str,
    client_id: str,
    start: datetime,
    end: datetime,
    keys: list[tuple[str, str]],
) -> Query:
    """Sum METRIC_COLUMNS by ``keys`` ((alias, expression over {col}) pairs) over the period."""
    full_start, full_end = whole_hours(start, end)
    rollup_keys = ", ".join(f"{expr.format(col='hour')} AS {alias}" for alias, expr in keys)
    raw_keys = ", ".join(f"{expr.format(col='occurred_at')} AS {alias}" for alias, expr in keys)
    aliases = ", ".join(alias for alias, _ in keys)
    select = f"SELECT {aliases}, " if keys else "SELECT "
    group = f" GROUP BY {aliases} ORDER BY {aliases}" if keys else ""
    sql = (
        f"{select}{_SUMS} FROM ("
        f"SELECT {rollup_keys + ', ' if keys else ''}{_ROLLUP_METRICS} "
        f"FROM {database}.usage_hourly WHERE {_ROLLUP_WHERE} "
        "UNION ALL "
        f"SELECT {raw_keys + ', ' if keys else ''}{_RAW_METRICS} "
        f"FROM {database}.generations WHERE {_EDGES_WHERE}"
        f"){group}"
    )
    params = {
        "client_id": client_id,
        "start": start,
        "end": end,
        "full_start": full_start,
        "full_end": full_end,
    }
    return Query(sql, params)


def usage_by_bucket(
    database: str, client_id: str, start: datetime, end: datetime, group_by: GroupBy
) -> Query:
    """One row per non-empty bucket: (bucket_start, *METRIC_COLUMNS), oldest first."""
    return _hybrid(database, client_id, start, end, [("bucket", BUCKET_EXPR[group_by])])


def usage_by_provider_model(database: str, client_id: str, start: datetime, end: datetime) -> Query:
    """One row per (provider, model): (provider, model, *METRIC_COLUMNS)."""
    return _hybrid(database, client_id, start, end, [("provider", "provider"), ("model", "model")])


def usage_by_endpoint_provider(
    database: str, client_id: str, start: datetime, end: datetime
) -> Query:
    """One row per (endpoint, provider): (endpoint, provider, *METRIC_COLUMNS)."""
    return _hybrid(
        database, client_id, start, end, [("endpoint", "endpoint"), ("provider", "provider")]
    )


def usage_total(database: str, client_id: str, start: datetime, end: datetime) -> Query:
    """A single row of METRIC_COLUMNS for the period."""
    return _hybrid(database, client_id, start, end, [])


def newest_event(database: str, client_id: str) -> Query:
    """Newest stored event time of the client: what the answers are complete up to.

    Reads one granule per part: the sort key is (client_id, occurred_at, ...).
    """
    sql = (
        f"SELECT occurred_at FROM {database}.generations WHERE client_id = {{client_id:String}} "
        "ORDER BY occurred_at DESC LIMIT 1"
    )
    return Query(sql, {"client_id": client_id})
