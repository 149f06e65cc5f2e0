"""Pure parts of exports, statements and the SQL console: SQL text, encoding, calendar fill."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest

from core.calendar import GroupBy
from core.errors import ValidationFailed
from query_api import export_rows
from query_api.statements import parse_month
from storage import LOG_COLUMNS, ExportFilter, SqlLimits
from storage.clickhouse.console import session_settings
from storage.clickhouse.sql import exports as exportq

T0 = datetime(2026, 10, 1, 5, 30)
T1 = datetime(2026, 10, 3, 17, 0)


def test_usage_rows_reads_rollup_for_whole_hours_and_raw_rows_for_edges() -> None:
    q = exportq.usage_rows("db", "acme", T0, T1, GroupBy.DAY, ("provider",))
    assert "FROM db.usage_hourly" in q.sql and "FROM db.generations" in q.sql
    assert q.params["full_start"] == datetime(2026, 10, 1, 6) and q.params["full_end"] == T1
    assert (q.params["lo0"], q.params["hi0"]) == (T0, datetime(2026, 10, 1, 6))
    assert "lo1" not in q.params  # the end is a whole hour: no second edge
    assert q.sql.endswith("GROUP BY bucket, provider ORDER BY bucket, provider")
    assert "acme" not in q.sql  # values are bound, never spliced


def test_usage_rows_inside_one_hour_reads_raw_rows_only() -> None:
    q = exportq.usage_rows("db", "c", T0, T0.replace(minute=45), GroupBy.HOUR, ())
    assert "usage_hourly" not in q.sql and "full_start" not in q.params


def test_usage_rows_refuses_a_dimension_outside_the_fixed_set() -> None:
    with pytest.raises(ValueError, match="not a usage dimension"):
        exportq.usage_rows("db", "c", T0, T1, GroupBy.DAY, ("provider; DROP",))  # type: ignore[arg-type]


def test_log_rows_binds_every_filter() -> None:
    q = exportq.log_rows("db", ExportFilter("c", T0, T1, provider="openai", success=False))
    assert q.params == {
        "client_id": "c",
        "start": T0,
        "end": T1,
        "provider": "openai",
        "success": False,
    }
    assert "endpoint" not in q.params and q.sql.endswith("ORDER BY occurred_at, event_id")


def _log_row(cost: str, source: str = "catalog") -> tuple[object, ...]:
    values = {
        "event_id": uuid.UUID(int=1),
        "occurred_at": datetime(2026, 10, 1, 12, 0, 0, 123000),
        "provider": "openai",
        "model": "gpt-4o",
        "endpoint": "chat",
        "input_tokens": 10,
        "output_tokens": 5,
        "cached_input_tokens": 2,
        "reasoning_tokens": 0,
        "cost_usd": Decimal(cost),
        "cost_source": source,
        "latency_ms": 7,
        "success": True,
        "status_code": 0,
        "error_type": "",
        "request_id": "r1",
        "end_user_id": "",
    }
    return tuple(values[c] for c in LOG_COLUMNS)


def test_log_records_keep_exact_money_in_csv_and_jsonl() -> None:
    block = [_log_row("0.000000001"), _log_row("0", "unpriced")]
    records = next(export_rows.log_records([block]))
    csv_enc = export_rows.Encoder("csv", export_rows.LOG_FIELDS)
    text = (csv_enc.encode(records) + csv_enc.encode([])).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["cost_usd"] for r in rows] == ["0.000000001", ""]  # unpriced: no cost, not 0
    assert rows[0]["success"] == "true" and rows[0]["status_code"] == ""
    assert rows[0]["occurred_at"] == "2026-10-01T12:00:00.123000+00:00"
    assert text.count("log_id") == 1  # one header
    lines = export_rows.Encoder("jsonl", export_rows.LOG_FIELDS).encode(records).splitlines()
    assert [orjson.loads(x)["cost_usd"] for x in lines] == ["0.000000001", None]


def _usage_row(bucket: datetime, cost: str) -> tuple[object, ...]:
    return (bucket, Decimal(cost), 1, 1, 0, 0, 1, 1, 10, 0)


def test_usage_records_fill_empty_buckets_in_order() -> None:
    start, end = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 5, tzinfo=UTC)
    blocks = [[_usage_row(datetime(2026, 10, 2), "1.5")], [_usage_row(datetime(2026, 10, 3), "2")]]
    records = [
        r for chunk in export_rows.usage_records(blocks, start, end, GroupBy.DAY, ()) for r in chunk
    ]
    assert [(r["bucket_start"][:10], r["cost_usd"], r["calls"]) for r in records] == [
        ("2026-10-01", "0.000000000", 0),
        ("2026-10-02", "1.500000000", 1),
        ("2026-10-03", "2.000000000", 1),
        ("2026-10-04", "0.000000000", 0),
    ]


def test_usage_records_never_drop_a_bucket_outside_the_calendar() -> None:
    start, end = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 2, tzinfo=UTC)
    blocks = [[_usage_row(datetime(2026, 10, 1, 12), "1")]]  # not a day start
    with pytest.raises(RuntimeError, match="outside"):
        list(export_rows.usage_records(blocks, start, end, GroupBy.DAY, ()))


def test_console_sets_readonly_last() -> None:
    names = [n for n, _ in session_settings(SqlLimits(1.5, 10, 2048))]
    assert names[-1] == "readonly"
    assert {"max_execution_time", "max_result_rows", "max_result_bytes"} <= set(names)
    assert dict(session_settings(SqlLimits(1.5, 10, 2048)))["result_overflow_mode"] == "throw"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2026-01", datetime(2026, 1, 1, tzinfo=UTC)), ("2026-12", datetime(2026, 12, 1, tzinfo=UTC))],
)
def test_month_parsing_boundaries(text: str, expected: datetime) -> None:
    assert parse_month(text, ["path", "month"]) == expected


@pytest.mark.parametrize("text", ["2026-00", "2026-13", "26-10", "2026-1", "1969-12", "2026-10-01"])
def test_month_parsing_refuses(text: str) -> None:
    with pytest.raises(ValidationFailed):
        parse_month(text, ["path", "month"])
