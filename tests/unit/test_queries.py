"""The billing queries are pure builders: exact SQL text, values only as bound parameters."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

import pytest

from core.calendar import GroupBy
from storage import LogFilter
from storage.clickhouse.sql import Query
from storage.clickhouse.sql import logs as logq
from storage.clickhouse.sql import usage as usageq

DB = "llmhub"
START = datetime(2026, 1, 1)
END = datetime(2026, 2, 1)
EVIL = "x' OR 1=1 --"
RAGGED_START = datetime(2026, 1, 1, 0, 30)

SUMS = (
    "sum(cost_usd) AS cost_usd, sum(input_tokens) AS input_tokens, "
    "sum(output_tokens) AS output_tokens, sum(cached_input_tokens) AS cached_input_tokens, "
    "sum(reasoning_tokens) AS reasoning_tokens, sum(calls) AS calls, "
    "sum(successes) AS successes, sum(latency_ms_sum) AS latency_ms_sum, "
    "sum(unpriced_calls) AS unpriced_calls"
)
RAW_SUMS = (
    "sum(cost_usd) AS cost_usd, sum(input_tokens) AS input_tokens, "
    "sum(output_tokens) AS output_tokens, sum(cached_input_tokens) AS cached_input_tokens, "
    "sum(reasoning_tokens) AS reasoning_tokens, count() AS calls, "
    "countIf(success) AS successes, sum(latency_ms) AS latency_ms_sum, "
    "countIf(cost_source = 'unpriced') AS unpriced_calls"
)
ROLLUP_WHERE = (
    "client_id = {client_id:String} "
    "AND hour >= {full_start:DateTime('UTC')} AND hour < {full_end:DateTime('UTC')}"
)
LO = "occurred_at >= {{lo{n}:DateTime64(3, 'UTC')}}"
HI = "occurred_at < {{hi{n}:DateTime64(3, 'UTC')}}"
RANGE = f"({LO} AND {HI})"
# Aligned period: only the rollup part.
ALIGNED = {"client_id": "acme", "full_start": START, "full_end": END}


def rollup(keys: str, group: str) -> str:
    group_sql = f" GROUP BY {group}" if group else ""
    return f"SELECT {keys}{SUMS} FROM llmhub.usage_hourly WHERE {ROLLUP_WHERE}{group_sql}"


def raw(keys: str, group: str, ranges: int) -> str:
    group_sql = f" GROUP BY {group}" if group else ""
    cond = " OR ".join(RANGE.format(n=n) for n in range(ranges))
    return (
        f"SELECT {keys}{RAW_SUMS} FROM llmhub.generations WHERE client_id = {{client_id:String}} "
        f"AND ({cond}){group_sql}"
    )


LOG_COLUMNS = (
    "event_id, occurred_at, provider, model, endpoint, input_tokens, output_tokens, "
    "cached_input_tokens, reasoning_tokens, cost_usd, cost_source, latency_ms, success, "
    "status_code, error_type, request_id, end_user_id"
)
DETAIL_COLUMNS = (
    f"{LOG_COLUMNS}, ingested_at, price_version, error_message, request_metadata, "
    "response_metadata, schema_version, source, source_partition, source_offset"
)


@pytest.mark.parametrize(
    ("group_by", "bucket"),
    [
        ("hour", "toDateTime(toStartOfHour({col}), 'UTC')"),
        ("day", "toDateTime(toStartOfDay({col}), 'UTC')"),
        ("month", "toDateTime(toStartOfMonth({col}), 'UTC')"),
    ],
)
def test_usage_by_bucket(group_by: str, bucket: str) -> None:
    keys = bucket.format(col="hour") + " AS bucket, "
    assert usageq.usage_by_bucket(DB, "acme", START, END, GroupBy(group_by)) == [
        Query(rollup(keys, "bucket"), ALIGNED)
    ]


def test_usage_by_provider_model() -> None:
    keys = "provider AS provider, model AS model, "
    assert usageq.usage_by_pair(DB, "acme", START, END, ("provider", "model")) == [
        Query(rollup(keys, "provider, model"), ALIGNED)
    ]


def test_usage_by_endpoint_provider() -> None:
    keys = "endpoint AS endpoint, provider AS provider, "
    assert usageq.usage_by_pair(DB, "acme", START, END, ("endpoint", "provider")) == [
        Query(rollup(keys, "endpoint, provider"), ALIGNED)
    ]


def test_usage_total_with_ragged_edges_reads_rollup_and_raw_edges() -> None:
    start, end = datetime(2026, 1, 1, 10, 30), datetime(2026, 1, 2, 8, 15)
    whole = {
        "client_id": "acme",
        "full_start": datetime(2026, 1, 1, 11),
        "full_end": datetime(2026, 1, 2, 8),
    }
    edges = {
        "client_id": "acme",
        "lo0": start,
        "hi0": datetime(2026, 1, 1, 11),
        "lo1": datetime(2026, 1, 2, 8),
        "hi1": end,
    }
    assert usageq.usage_total(DB, "acme", start, end) == [
        Query(rollup("", ""), whole),
        Query(raw("", "", 2), edges),
    ]


def test_usage_total_without_a_whole_hour_reads_raw_rows_only() -> None:
    start, end = datetime(2026, 1, 1, 10, 5), datetime(2026, 1, 1, 10, 55)
    assert usageq.usage_total(DB, "acme", start, end) == [
        Query(raw("", "", 1), {"client_id": "acme", "lo0": start, "hi0": end})
    ]


def test_usage_one_ragged_edge() -> None:
    start, end = datetime(2026, 1, 1, 10), datetime(2026, 1, 1, 12, 1)
    keys = "toDateTime(toStartOfDay({col}), 'UTC') AS bucket, "
    assert usageq.usage_by_bucket(DB, "acme", start, end, GroupBy.DAY) == [
        Query(
            rollup(keys.format(col="hour"), "bucket"),
            {"client_id": "acme", "full_start": start, "full_end": datetime(2026, 1, 1, 12)},
        ),
        Query(
            raw(keys.format(col="occurred_at"), "bucket", 1),
            {"client_id": "acme", "lo0": datetime(2026, 1, 1, 12), "hi0": end},
        ),
    ]


@pytest.mark.parametrize(
    ("start", "end", "whole"),
    [
        # Aligned: all of it from the rollup.
        (datetime(2026, 1, 1, 10), datetime(2026, 1, 1, 13), (10, 13)),
        # Ragged edges: the inner hours from the rollup, the edges raw.
        (datetime(2026, 1, 1, 10, 0, 1), datetime(2026, 1, 1, 13, 59), (11, 13)),
        # No whole hour: an empty rollup range at start, everything raw.
        (datetime(2026, 1, 1, 10, 5), datetime(2026, 1, 1, 10, 55), None),
        (datetime(2026, 1, 1, 10, 5), datetime(2026, 1, 1, 11, 55), None),
    ],
)
def test_whole_hours(start: datetime, end: datetime, whole: tuple[int, int] | None) -> None:
    got = usageq.whole_hours(start, end)
    if whole is None:
        assert got == (start, start)
    else:
        assert got == (datetime(2026, 1, 1, whole[0]), datetime(2026, 1, 1, whole[1]))


def test_newest_event() -> None:
    assert usageq.newest_event(DB, "acme") == Query(
        "SELECT occurred_at FROM llmhub.generations WHERE client_id = {client_id:String} "
        "ORDER BY occurred_at DESC LIMIT 1",
        {"client_id": "acme"},
    )


def test_metric_columns_match_the_select_lists() -> None:
    for select in (SUMS, RAW_SUMS):
        assert tuple(re.findall(r" AS (\w+)", select)) == usageq.METRIC_COLUMNS


def test_log_page_without_filters() -> None:
    assert logq.log_page(DB, LogFilter("acme"), 100, 0) == Query(
        f"SELECT {LOG_COLUMNS} FROM llmhub.generations WHERE client_id = {{client_id:String}} "
        "ORDER BY occurred_at DESC, event_id DESC LIMIT {limit:UInt32} OFFSET {offset:UInt64}",
        {"client_id": "acme", "limit": 100, "offset": 0},
    )


def test_log_page_with_every_filter() -> None:
    # success=False is a filter too: falsy must not mean "absent".
    flt = LogFilter("acme", provider="openai", endpoint="chat", success=False)
    assert logq.log_page(DB, flt, 10, 20) == Query(
        f"SELECT {LOG_COLUMNS} FROM llmhub.generations WHERE client_id = {{client_id:String}} "
        "AND provider = {provider:String} AND endpoint = {endpoint:String} "
        "AND success = {success:Bool} "
        "ORDER BY occurred_at DESC, event_id DESC LIMIT {limit:UInt32} OFFSET {offset:UInt64}",
        {
            "client_id": "acme",
            "provider": "openai",
            "endpoint": "chat",
            "success": False,
            "limit": 10,
            "offset": 20,
        },
    )


def test_log_count() -> None:
    flt = LogFilter("acme", endpoint="translation", success=True)
    assert logq.log_count(DB, flt) == Query(
        "SELECT sum(calls) FROM llmhub.usage_hourly WHERE client_id = {client_id:String} "
        "AND endpoint = {endpoint:String} AND success = {success:Bool}",
        {"client_id": "acme", "endpoint": "translation", "success": True},
    )


def test_log_detail_is_bound_to_the_client() -> None:
    log_id = uuid.UUID("6f1c2b0e-9a4d-4c3e-8f7a-1b2c3d4e5f60")
    assert logq.log_detail(DB, "acme", log_id) == Query(
        f"SELECT {DETAIL_COLUMNS} FROM llmhub.generations "
        "WHERE client_id = {client_id:String} AND event_id = {log_id:UUID} LIMIT 1",
        {"client_id": "acme", "log_id": log_id},
    )


def _all_queries(value: str) -> list[object]:
    flt = LogFilter(value, provider=value, endpoint=value, success=True)
    queries = {
        **{
            f"usage_by_bucket_{g}_{n}": q
            for g in GroupBy
            for n, q in enumerate(usageq.usage_by_bucket(DB, value, RAGGED_START, END, g))
        },
        **{
            f"usage_by_provider_model_{n}": q
            for n, q in enumerate(
                usageq.usage_by_pair(DB, value, RAGGED_START, END, ("provider", "model"))
            )
        },
        **{
            f"usage_by_endpoint_provider_{n}": q
            for n, q in enumerate(
                usageq.usage_by_pair(DB, value, RAGGED_START, END, ("endpoint", "provider"))
            )
        },
        **{
            f"usage_total_{n}": q
            for n, q in enumerate(usageq.usage_total(DB, value, RAGGED_START, END))
        },
        "newest_event": usageq.newest_event(DB, value),
        "log_page": logq.log_page(DB, flt, 5, 0),
        "log_count": logq.log_count(DB, flt),
        "calls_per_hour": logq.calls_per_hour(DB, flt),
        "log_page_before": logq.log_page(DB, flt, 5, 3, START),
        "log_detail": logq.log_detail(DB, value, uuid.uuid4()),
    }
    return [pytest.param(q, id=name) for name, q in queries.items()]


@pytest.mark.parametrize("query", _all_queries(EVIL))
def test_request_values_are_only_parameters(query: Query) -> None:
    assert EVIL not in query.sql
    assert "OR 1=1" not in query.sql
    assert query.params["client_id"] == EVIL
    for name in ("provider", "endpoint"):
        if name in query.params:
            assert query.params[name] == EVIL


def test_group_by_is_a_whitelist() -> None:
    assert set(GroupBy) == {"hour", "day", "month"}
    for bad in ("week", "HOUR", "toStartOfDay(occurred_at)", "day; DROP TABLE x"):
        # Only a GroupBy member reaches the SQL builder, and text never becomes one.
        with pytest.raises(ValueError):
            GroupBy(bad)
        with pytest.raises(AttributeError):
            usageq.usage_by_bucket(DB, "acme", START, END, bad)  # type: ignore[arg-type]
