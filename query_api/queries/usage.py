"""Aggregations over a client's calls in a period: by time bucket, by provider/model, endpoint.

Every aggregation returns the same metric columns (:data:`METRIC_COLUMNS`) so one function
shapes them all, and totals are sums of the rows: summary, breakdowns and current month agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from query_api.queries import Query

GroupBy = Literal["hour", "day", "month"]

# Bucket start expressions by group_by: a fixed whitelist, never request text.
BUCKET_EXPR: dict[str, str] = {
    "hour": "toStartOfHour(occurred_at)",
    "day": "toStartOfDay(occurred_at)",
    "month": "toDateTime(toStartOfMonth(occurred_at), 'UTC')",
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

_METRICS_SQL = (
    "sum(cost_usd) AS cost_usd, "
    "sum(input_tokens) AS input_tokens, "
    "sum(output_tokens) AS output_tokens, "
    "sum(cached_input_tokens) AS cached_input_tokens, "
    "sum(reasoning_tokens) AS reasoning_tokens, "
    "count() AS calls, "
    "countIf(success) AS successes, "
    "sum(latency_ms) AS latency_ms_sum, "
    "countIf(cost_source = 'unpriced') AS unpriced_calls"
)

_PERIOD_WHERE = (
    "client_id = {client_id:String} "
    "AND occurred_at >= {start:DateTime64(3, 'UTC')} AND occurred_at < {end:DateTime64(3, 'UTC')}"
)


def _params(client_id: str, start: datetime, end: datetime) -> dict[str, object]:
    return {"client_id": client_id, "start": start, "end": end}


def usage_by_bucket(
    database: str, client_id: str, start: datetime, end: datetime, group_by: GroupBy
) -> Query:
    """One row per non-empty bucket: (bucket_start, *METRIC_COLUMNS), oldest first."""
    bucket = BUCKET_EXPR[group_by]
    sql = (
        f"SELECT {bucket} AS bucket, {_METRICS_SQL} FROM {database}.generations "
        f"WHERE {_PERIOD_WHERE} GROUP BY bucket ORDER BY bucket"
    )
    return Query(sql, _params(client_id, start, end))


def usage_by_provider_model(database: str, client_id: str, start: datetime, end: datetime) -> Query:
    """One row per (provider, model): (provider, model, *METRIC_COLUMNS)."""
    sql = (
        f"SELECT provider, model, {_METRICS_SQL} FROM {database}.generations "
        f"WHERE {_PERIOD_WHERE} GROUP BY provider, model ORDER BY provider, model"
    )
    return Query(sql, _params(client_id, start, end))


def usage_by_endpoint_provider(
    database: str, client_id: str, start: datetime, end: datetime
) -> Query:
    """One row per (endpoint, provider): (endpoint, provider, *METRIC_COLUMNS)."""
    sql = (
        f"SELECT endpoint, provider, {_METRICS_SQL} FROM {database}.generations "
        f"WHERE {_PERIOD_WHERE} GROUP BY endpoint, provider ORDER BY endpoint, provider"
    )
    return Query(sql, _params(client_id, start, end))


def usage_total(database: str, client_id: str, start: datetime, end: datetime) -> Query:
    """A single row of METRIC_COLUMNS for the period."""
    sql = f"SELECT {_METRICS_SQL} FROM {database}.generations WHERE {_PERIOD_WHERE}"
    return Query(sql, _params(client_id, start, end))


def newest_event(database: str, client_id: str) -> Query:
    """Newest stored event time of the client: what the answers are complete up to.

    Reads one granule per part: the sort key is (client_id, occurred_at, ...).
    """
    sql = (
        f"SELECT occurred_at FROM {database}.generations WHERE client_id = {{client_id:String}} "
        "ORDER BY occurred_at DESC LIMIT 1"
    )
    return Query(sql, {"client_id": client_id})
