"""The billing queries are pure builders: exact SQL text, values only as bound parameters."""

from __future__ import annotations

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

METRICS = (
    "sum(cost_usd) AS cost_usd, sum(input_tokens) AS input_tokens, "
    "sum(output_tokens) AS output_tokens, sum(cached_input_tokens) AS cached_input_tokens, "
    "sum(reasoning_tokens) AS reasoning_tokens, count() AS calls, countIf(success) AS successes, "
    "sum(latency_ms) AS latency_ms_sum, countIf(cost_source = 'unpriced') AS unpriced_calls"
)
PERIOD = (
    "client_id = {client_id:String} AND occurred_at >= {start:DateTime64(3, 'UTC')} "
    "AND occurred_at < {end:DateTime64(3, 'UTC')}"
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
        ("hour", "toStartOfHour(occurred_at)"),
        ("day", "toStartOfDay(occurred_at)"),
        ("month", "toDateTime(toStartOfMonth(occurred_at), 'UTC')"),
    ],
)
def test_usage_by_bucket(group_by: usageq.GroupBy, bucket: str) -> None:
    assert usageq.usage_by_bucket(DB, "acme", START, END, group_by) == Query(
        f"SELECT {bucket} AS bucket, {METRICS} FROM llmhub.generations "
        f"WHERE {PERIOD} GROUP BY bucket ORDER BY bucket",
        {"client_id": "acme", "start": START, "end": END},
    )


def test_usage_by_provider_model() -> None:
    assert usageq.usage_by_provider_model(DB, "acme", START, END) == Query(
        f"SELECT provider, model, {METRICS} FROM llmhub.generations "
        f"WHERE {PERIOD} GROUP BY provider, model ORDER BY provider, model",
        {"client_id": "acme", "start": START, "end": END},
    )


def test_usage_by_endpoint_provider() -> None:
    assert usageq.usage_by_endpoint_provider(DB, "acme", START, END) == Query(
        f"SELECT endpoint, provider, {METRICS} FROM llmhub.generations "
        f"WHERE {PERIOD} GROUP BY endpoint, provider ORDER BY endpoint, provider",
        {"client_id": "acme", "start": START, "end": END},
    )


def test_usage_total() -> None:
    assert usageq.usage_total(DB, "acme", START, END) == Query(
        f"SELECT {METRICS} FROM llmhub.generations WHERE {PERIOD}",
        {"client_id": "acme", "start": START, "end": END},
    )


def test_newest_event() -> None:
    assert usageq.newest_event(DB, "acme") == Query(
        "SELECT occurred_at FROM llmhub.generations WHERE client_id = {client_id:String} "
        "ORDER BY occurred_at DESC LIMIT 1",
        {"client_id": "acme"},
    )


def test_metric_columns_match_the_select_list() -> None:
    aliases = [part.rsplit(" AS ", 1)[1] for part in METRICS.split(", ")]
    assert tuple(aliases) == usageq.METRIC_COLUMNS


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
        "SELECT count() FROM llmhub.generations WHERE client_id = {client_id:String} "
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
