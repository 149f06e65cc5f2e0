"""Request parameters of the seed operations: defaults, and every problem reported at once."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from core.errors import ValidationFailed
from query_api import contract
from query_api.contract import Operation

KEY = {"x-api-key": "llmh_test"}


def parse(
    op: Operation,
    query: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    path: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    return op.params.parse(KEY if headers is None else headers, query or {}, path or {})


def problems(op: Operation, **kwargs: Any) -> list[dict[str, Any]]:
    with pytest.raises(ValidationFailed) as caught:
        parse(op, **kwargs)
    return caught.value.errors


def test_logs_defaults() -> None:
    assert parse(contract.LOGS) == {
        "x-api-key": "llmh_test",
        "limit": 100,
        "offset": 0,
        "provider": None,
        "endpoint": None,
        "success": None,
    }


def test_summary_defaults() -> None:
    assert parse(contract.SUMMARY) == {
        "x-api-key": "llmh_test",
        "start_date": None,
        "end_date": None,
        "group_by": "day",
    }


def test_values_are_typed() -> None:
    values = parse(
        contract.LOGS,
        {
            "limit": "25",
            "offset": "50",
            "provider": "openai",
            "endpoint": "chat",
            "success": "false",
        },
    )
    assert (values["limit"], values["offset"], values["success"]) == (25, 50, False)
    values = parse(
        contract.SUMMARY,
        # As the generated client writes datetimes: strftime("%Y-%m-%dT%H:%M:%S.%f%z").
        {"start_date": "2026-10-01T00:00:00.000000+0100", "end_date": "2026-10-02T00:00:00Z"},
    )
    assert values["start_date"] == datetime(2026, 10, 1, tzinfo=timezone(timedelta(hours=1)))
    assert values["end_date"] == datetime(2026, 10, 2, tzinfo=UTC)


def test_several_problems_at_once_in_fastapi_shape() -> None:
    errors = problems(contract.LOGS, headers={}, query={"limit": "abc", "success": "maybe"})
    assert [(e["loc"], e["type"]) for e in errors] == [
        (["header", "x-api-key"], "missing"),
        (["query", "limit"], "int_parsing"),
        (["query", "success"], "bool_parsing"),
    ]
    assert all(isinstance(e["msg"], str) and e["msg"] for e in errors)


def test_page_bounds_are_reported_together() -> None:
    errors = problems(contract.LOGS, query={"limit": "0", "offset": "-1"})
    assert [e["loc"] for e in errors] == [["query", "limit"], ["query", "offset"]]
    errors = problems(contract.LOGS, query={"limit": str(contract.MAX_LOG_LIMIT + 1)})
    assert [e["loc"] for e in errors] == [["query", "limit"]]
    assert parse(contract.LOGS, {"limit": str(contract.MAX_LOG_LIMIT)})["limit"] == 1000


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-10-02T00:00:00Z", "2026-10-01T00:00:00Z"),
        ("2026-10-01T00:00:00.001Z", "2026-10-01T00:00:00Z"),
        # A naive time is taken as UTC.
        ("2026-10-01T00:30:00", "2026-10-01T00:00:00+00:00"),
    ],
)
def test_start_must_not_be_after_end(start: str, end: str) -> None:
    for op in (contract.SUMMARY, contract.BY_PROVIDER, contract.BY_ENDPOINT):
        errors = problems(op, query={"start_date": start, "end_date": end})
        assert [e["loc"] for e in errors] == [["query", "end_date"]]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-10-01T00:00:00Z", "2026-10-01T00:00:00Z"),
        # The same instant written in two offsets.
        ("2026-10-01T01:00:00+01:00", "2026-10-01T00:00:00Z"),
    ],
)
def test_equal_bounds_are_an_empty_period(start: str, end: str) -> None:
    for op in (contract.SUMMARY, contract.BY_PROVIDER, contract.BY_ENDPOINT):
        values = parse(op, {"start_date": start, "end_date": end})
        assert values["start_date"] == values["end_date"]


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00Z",
        "0999-12-31T23:59:59Z",
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "9999-12-31T23:00:00-05:00",  # after year 9999 in UTC
        "9999-12-31T00:00:00Z",
        "1969-12-31T23:59:59.999Z",
        "1970-01-01T00:59:59+01:00",
        "2106-01-01T00:00:00.001Z",
        "2106-01-01T00:00:00-00:01",
    ],
)
def test_dates_outside_the_supported_range(value: str) -> None:
    for name in ("start_date", "end_date"):
        errors = problems(contract.SUMMARY, query={name: value})
        assert [e["loc"] for e in errors] == [["query", name]]
        assert "1970-01-01T00:00:00Z to 2106-01-01T00:00:00Z" in errors[0]["msg"]


@pytest.mark.parametrize(
    "value",
    ["1970-01-01T00:00:00Z", "1970-01-01T01:00:00+01:00", "2106-01-01T00:00:00Z", "1970-01-01"],
)
def test_the_supported_range_is_inclusive(value: str) -> None:
    assert parse(contract.BY_ENDPOINT, {"start_date": value})["start_date"] is not None


@pytest.mark.parametrize("value", ["20260101", "1700000000", "1700000000000", "-1", "0", "1_0"])
def test_numbers_are_not_dates(value: str) -> None:
    errors = problems(contract.SUMMARY, query={"end_date": value})
    assert [e["loc"] for e in errors] == [["query", "end_date"]]


def test_start_before_end_across_offsets_is_fine() -> None:
    # 00:30+01:00 is 23:30 UTC the day before: earlier than midnight UTC.
    values = parse(
        contract.BY_PROVIDER,
        {"start_date": "2026-10-01T00:30:00+01:00", "end_date": "2026-10-01T00:00:00Z"},
    )
    assert values["start_date"] < values["end_date"]


def test_unparseable_date() -> None:
    errors = problems(contract.SUMMARY, query={"start_date": "last tuesday"})
    assert [e["loc"] for e in errors] == [["query", "start_date"]]


@pytest.mark.parametrize("group_by", ["week", "DAY", "", "toStartOfDay(occurred_at)"])
def test_group_by_must_be_hour_day_or_month(group_by: str) -> None:
    errors = problems(contract.SUMMARY, query={"group_by": group_by})
    assert [e["loc"] for e in errors] == [["query", "group_by"]]


@pytest.mark.parametrize("group_by", ["hour", "day", "month"])
def test_group_by_values(group_by: str) -> None:
    assert parse(contract.SUMMARY, {"group_by": group_by})["group_by"] == group_by


@pytest.mark.parametrize("log_id", ["not-a-uuid", "123", "' OR 1=1 --", "x" * 5000])
def test_a_log_id_of_any_shape_is_a_value(log_id: str) -> None:
    # Not a UUID means no such log: the route answers 404, as for any unknown id.
    assert parse(contract.LOG_DETAILS, path={"log_id": log_id})["log_id"] == log_id


def test_log_id_and_key() -> None:
    log_id = "6f1c2b0e-9a4d-4c3e-8f7a-1b2c3d4e5f60"
    assert parse(contract.LOG_DETAILS, path={"log_id": log_id}) == {
        "log_id": log_id,
        "x-api-key": "llmh_test",
    }
    errors = problems(contract.LOG_DETAILS, headers={}, path={})
    assert [e["loc"] for e in errors] == [["path", "log_id"], ["header", "x-api-key"]]


def test_current_month_needs_only_the_key() -> None:
    assert parse(contract.CURRENT_MONTH) == {"x-api-key": "llmh_test"}
    assert [e["loc"] for e in problems(contract.CURRENT_MONTH, headers={})] == [
        ["header", "x-api-key"]
    ]
