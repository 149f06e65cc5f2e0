"""Per-call log queries: a filtered page newest first, its total count, and one call's row.

Counts come from the hourly rollup (its key holds every log filter column), and so do deep
pages: :func:`calls_per_hour` tells how many calls each hour holds, so a page at offset 5M
starts reading raw rows at the right hour instead of skipping 5M of them.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from storage import LOG_COLUMNS, LogFilter
from storage.clickhouse.sql import Query, equalities

DETAIL_COLUMNS = (
    *LOG_COLUMNS,
    "ingested_at",
    "price_version",
    "error_message",
    "request_metadata",
    "response_metadata",
    "schema_version",
    "source",
    "source_partition",
    "source_offset",
)


def condition(flt: LogFilter) -> tuple[str, dict[str, object]]:
    """The filter as a WHERE condition over columns both tables have, and its parameters."""
    clauses, params = equalities(
        ("client_id", "String", flt.client_id),
        ("provider", "String", flt.provider),
        ("endpoint", "String", flt.endpoint),
        ("success", "Bool", flt.success),
    )
    return " AND ".join(clauses), params


def log_page(
    database: str,
    flt: LogFilter,
    limit: int,
    offset: int,
    before: datetime | None = None,
    after: datetime | None = None,
) -> Query:
    """A page newest first; ``before`` (exclusive) starts it at an hour found by calls_per_hour,
    ``after`` (inclusive) ends the read at the hour holding the page's last call."""
    where, params = condition(flt)
    if before is not None:
        where += " AND occurred_at < {before:DateTime('UTC')}"
        params["before"] = before
    if after is not None:
        where += " AND occurred_at >= {after:DateTime('UTC')}"
        params["after"] = after
    sql = (
        f"SELECT {', '.join(LOG_COLUMNS)} FROM {database}.generations WHERE {where} "
        "ORDER BY occurred_at DESC, event_id DESC "
        "LIMIT {limit:UInt32} OFFSET {offset:UInt64}"
    )
    return Query(sql, {**params, "limit": limit, "offset": offset})


def log_count(database: str, flt: LogFilter) -> Query:
    where, params = condition(flt)
    return Query(f"SELECT sum(calls) FROM {database}.usage_hourly WHERE {where}", params)


def calls_per_hour(database: str, flt: LogFilter) -> Query:
    """(hour, calls) newest hour first, for the filtered calls of the client."""
    where, params = condition(flt)
    sql = (
        f"SELECT hour, sum(calls) AS calls FROM {database}.usage_hourly WHERE {where} "
        "GROUP BY hour ORDER BY hour DESC"
    )
    return Query(sql, params)


def log_detail(database: str, client_id: str, log_id: uuid.UUID) -> Query:
    """The call, only if it is this client's: another client's id reads as not found."""
    sql = (
        f"SELECT {', '.join(DETAIL_COLUMNS)} FROM {database}.generations "
        "WHERE client_id = {client_id:String} AND event_id = {log_id:UUID} LIMIT 1"
    )
    return Query(sql, {"client_id": client_id, "log_id": log_id})
