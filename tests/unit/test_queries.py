"""The billing queries are pure builders: exact SQL text, values only as bound parameters."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

import pytest

from query_api.queries import Query
from query_api.queries import logs as logq
from query_api.queries import usage as usageq

DB = "llmhub"
START = datetime(2026, 1, 1)
END = datetime(2026, 2, 1)
EVIL = "x' OR 1=1 --"

SUMS = (
    "sum(cost_usd) AS cost_usd, sum(input_tokens) AS input_tokens, "
    "sum(output_tokens) AS output_tokens, sum(cached_input_tokens) AS cached_input_tokens, "
    "sum(reasoning_tokens) AS reasoning_tokens, sum(calls) AS calls, "
    "sum(successes) AS successes, sum(latency_ms_sum) AS latency_ms_sum, "
    "sum(unpriced_calls) AS unpriced_calls"
)
ROLLUP_METRICS = (
    "cost_usd, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, calls, "
    "successes, latency_ms_sum, unpriced_calls"
)
RAW_METRICS = (
    "toDecimal128(cost_usd, 9) AS cost_usd, toUInt64(input_tokens) AS input_tokens, "
    "toUInt64(output_tokens) AS output_tokens, "
    "toUInt64(cached_input_tokens) AS cached_input_tokens, "
    "toUInt64(reasoning_tokens) AS reasoning_tokens, toUInt64(1) AS calls, "
    "toUInt64(success) AS successes, toUInt64(latency_ms) AS latency_ms_sum, "
    "toUInt64(cost_source = 'unpriced') AS unpriced_calls"
)
ROLLUP_WHERE = (
    "client_id = {client_id:String} "
    "AND hour >= {full_start:DateTime('UTC')} AND hour < {full_end:DateTime('UTC')}"
)
EDGES_WHERE = (
    "client_id = {client_id:String} AND ("
    "(occurred_at >= {start:DateTime64(3, 'UTC')} AND occurred_at < {full_start:DateTime('UTC')})"
    " OR "
    "(occurred_at >= {full_end:DateTime('UTC')} AND occurred_at < {end:DateTime64(3, 'UTC')}))"
)
PARAMS = {"client_id": "acme", "start": START, "end": END, "full_start": START, "full_end": END}


def hybrid(keys_rollup: str, keys_raw: str, aliases: str) -> str:
    head = f"SELECT {aliases}, " if aliases else "SELECT "
    tail = f" GROUP BY {aliases} ORDER BY {aliases}" if aliases else ""
    return (
        f"{head}{SUMS} FROM ("
        f"SELECT {keys_rollup}{ROLLUP_METRICS} FROM llmhub.usage_hourly WHERE {ROLLUP_WHERE} "
        "UNION ALL "
        f"SELECT {keys_raw}{RAW_METRICS} FROM llmhub.generations WHERE {EDGES_WHERE}"
        f"){tail}"
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
def test_usage_by_bucket(group_by: usageq.GroupBy, bucket: str) -> None:
    rollup = bucket.format(col="hour") + " AS bucket, "
    raw = bucket.format(col="occurred_at") + " AS bucket, "
    assert usageq.usage_by_bucket(DB, "acme", START, END, group_by) == Query(
        hybrid(rollup, raw, "bucket"), PARAMS
    )


def test_usage_by_provider_model() -> None:
    keys = "provider AS provider, model AS model, "
    assert usageq.usage_by_provider_model(DB, "acme", START, END) == Query(
        hybrid(keys, keys, "provider, model"), PARAMS
    )


def test_usage_by_endpoint_provider() -> None:
    keys = "endpoint AS endpoint, provider AS provider, "
    assert usageq.usage_by_endpoint_provider(DB, "acme", START, END) == Query(
        hybrid(keys, keys, "endpoint, provider"), PARAMS
    )


def test_usage_total() -> None:
    assert usageq.usage_total(DB, "acme", START, END) == Query(hybrid("", "", ""), PARAMS)


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
    for select in (SUMS, RAW_METRICS):
        assert tuple(re.findall(r" AS (\w+)", select)) == usageq.METRIC_COLUMNS


def test_log_page_without_filters() -> None:
    assert logq.log_page(DB, logq.LogFilter("acme"), 100, 0) == Query(
        f"SELECT {LOG_COLUMNS} FROM llmhub.generations WHERE client_id = {{client_id:String}} "
        "ORDER BY occurred_at DESC, event_id DESC LIMIT {limit:UInt32} OFFSET {offset:UInt64}",
        {"client_id": "acme", "limit": 100, "offset": 0},
    )


def test_log_page_with_every_filter() -> None:
    # success=False is a filter too: falsy must not mean "absent".
    flt = logq.LogFilter("acme", provider="openai", endpoint="chat", success=False)
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
    flt = logq.LogFilter("acme", endpoint="translation", success=True)
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
    flt = logq.LogFilter(value, provider=value, endpoint=value, success=True)
    queries = {
        **{
            f"usage_by_bucket_{g}": usageq.usage_by_bucket(DB, value, START, END, g)
            for g in ("hour", "day", "month")
        },
        "usage_by_provider_model": usageq.usage_by_provider_model(DB, value, START, END),
        "usage_by_endpoint_provider": usageq.usage_by_endpoint_provider(DB, value, START, END),
        "usage_total": usageq.usage_total(DB, value, START, END),
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
    assert set(usageq.BUCKET_EXPR) == {"hour", "day", "month"}
    for bad in ("week", "HOUR", "toStartOfDay(occurred_at)", "day; DROP TABLE x"):
        with pytest.raises(KeyError):
            usageq.usage_by_bucket(DB, "acme", START, END, bad)  # type: ignore[arg-type]
