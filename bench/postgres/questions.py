"""The billing API's six questions in SQL on the spend-log table, timed from the client.

Question names are those of :data:`bench.common.QUESTIONS`. ``logs`` is the total count and
one page, two statements timed together, as the API runs them. A latency is
``time.perf_counter`` around executing a question's statements and fetching all their rows
over one connection, at concurrency 1: no HTTP, no JSON shaping.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from bench.asks import Ask
from bench.common import QUESTIONS, latency_stats
from bench.postgres import connect
from bench.postgres.load import TABLE

# The metrics every aggregation returns. Latency the way LiteLLM users compute it:
# "endTime" - "startTime" (date_part gives a float; EXTRACT would give slower numeric).
_METRICS = """
    sum(spend) AS spend,
    sum(prompt_tokens) AS prompt_tokens,
    sum(completion_tokens) AS completion_tokens,
    count(*) AS calls,
    count(*) FILTER (WHERE status = 'success') AS successes,
    avg(date_part('epoch', "endTime" - "startTime") * 1000) AS avg_latency_ms"""

_PERIOD = 'api_key = %(client_id)s AND "startTime" >= %(start)s AND "startTime" < %(end)s'


def _aggregate(*columns: str) -> str:
    """The period's metrics per distinct ``columns`` (none: one row for the whole period)."""
    select = "".join(f"{c}, " for c in columns)
    sql = f"SELECT {select}{_METRICS}\nFROM {TABLE}\nWHERE {_PERIOD}"
    if columns:
        keys = ", ".join(str(i) for i in range(1, len(columns) + 1))
        sql += f"\nGROUP BY {keys}\nORDER BY {keys}"
    return sql


# By day, the API's default grouping (and the bucket bench.postgres.load has statistics on).
SUMMARY_SQL = _aggregate("date_trunc('day', \"startTime\")")
BY_PROVIDER_SQL = _aggregate("custom_llm_provider", "model")
BY_ENDPOINT_SQL = _aggregate("call_type", "custom_llm_provider")
CURRENT_MONTH_SQL = _aggregate()
LOG_COUNT_SQL = f"SELECT count(*) FROM {TABLE} WHERE api_key = %(client_id)s"
LOG_PAGE_SQL = f"""
SELECT request_id, "startTime", "endTime", custom_llm_provider, model, call_type,
       prompt_tokens, completion_tokens, total_tokens, spend, status, metadata, request_tags
FROM {TABLE}
WHERE api_key = %(client_id)s
ORDER BY "startTime" DESC, request_id DESC
LIMIT 100"""  # the API's default page size
LOG_DETAILS_SQL = f"SELECT * FROM {TABLE} WHERE request_id = %(log_id)s AND api_key = %(client_id)s"
# The API's filtered and deep pages: the same page with the filters and an offset.
_FILTER = "api_key = %(client_id)s AND custom_llm_provider = %(provider)s AND status = %(status)s"
LOG_FILTERED_COUNT_SQL = f"SELECT count(*) FROM {TABLE} WHERE {_FILTER}"
LOG_FILTERED_PAGE_SQL = (
    LOG_PAGE_SQL.replace("WHERE api_key = %(client_id)s", f"WHERE {_FILTER}") + " OFFSET %(offset)s"
)
LOG_DEEP_PAGE_SQL = LOG_PAGE_SQL + " OFFSET %(offset)s"

Statement = tuple[str, dict[str, Any]]


def naive_utc(value: datetime) -> datetime:
    """The columns are `timestamp` (UTC, no zone, as Prisma makes them): bind naive UTC.

    An aware datetime would be sent as timestamptz and compared through the session's
    time zone; a naive one compares with the column as it is.
    """
    return value.astimezone(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class QuestionParams:
    """What the questions are asked with: one client, UTC instants, [start, end)."""

    client_id: str
    start: datetime
    end: datetime
    month_start: datetime
    month_end: datetime
    log_id: str

    def statements(self, question: str) -> list[Statement]:
        """The SQL statements (and their parameters) one answer to ``question`` runs."""
        client = {"client_id": self.client_id}
        period = {**client, "start": naive_utc(self.start), "end": naive_utc(self.end)}
        month = {**client, "start": naive_utc(self.month_start), "end": naive_utc(self.month_end)}
        by_name: dict[str, list[Statement]] = {
            "summary": [(SUMMARY_SQL, period)],
            "by_provider": [(BY_PROVIDER_SQL, period)],
            "by_endpoint": [(BY_ENDPOINT_SQL, period)],
            "current_month": [(CURRENT_MONTH_SQL, month)],
            "logs": [(LOG_COUNT_SQL, client), (LOG_PAGE_SQL, client)],
            "log_details": [(LOG_DETAILS_SQL, {**client, "log_id": self.log_id})],
        }
        return by_name[question]


def ask_statements(client_id: str, ask: Ask, month: tuple[datetime, datetime]) -> list[Statement]:
    """The statements that answer one random ask (bench.asks), as the API answers it."""
    client: dict[str, Any] = {"client_id": client_id}
    period = {**client, "start": naive_utc(ask.start), "end": naive_utc(ask.end)}
    q = ask.question
    if q in ("summary", "summary_dates"):
        return [(SUMMARY_SQL, period)]
    if q == "by_provider":
        return [(BY_PROVIDER_SQL, period)]
    if q == "by_endpoint":
        return [(BY_ENDPOINT_SQL, period)]
    if q == "current_month":
        return [(CURRENT_MONTH_SQL, {**client, "start": month[0], "end": month[1]})]
    if q == "logs":
        return [(LOG_COUNT_SQL, client), (LOG_PAGE_SQL, client)]
    if q == "logs_filtered":
        status = "success" if ask.success else "failure"
        flt = {**client, "provider": ask.provider, "status": status, "offset": ask.offset}
        return [(LOG_FILTERED_COUNT_SQL, flt), (LOG_FILTERED_PAGE_SQL, flt)]
    if q == "logs_deep":
        return [(LOG_COUNT_SQL, client), (LOG_DEEP_PAGE_SQL, {**client, "offset": ask.offset})]
    return [(LOG_DETAILS_SQL, {**client, "log_id": ask.log_id})]


def run_asks(
    dsn: str, client_id: str, asks: Sequence[Ask], month: tuple[datetime, datetime]
) -> dict[str, Any]:
    """Latency statistics of the asks, one after the other on one connection (the layer the
    API's handlers would call if llmhub kept its data in PostgreSQL)."""
    latencies = []
    with connect(dsn) as conn:
        _execute(conn, ask_statements(client_id, asks[0], month))  # warm the connection
        for ask in asks:
            stmts = ask_statements(client_id, ask, month)
            t = time.perf_counter()
            _execute(conn, stmts)
            latencies.append(time.perf_counter() - t)
    return latency_stats(latencies)


def pick_log_id(dsn: str, client_id: str) -> str:
    """The client's newest request_id (a real row for the log_details question)."""
    with connect(dsn) as conn:
        row = conn.execute(
            f'SELECT request_id FROM {TABLE} WHERE api_key = %s ORDER BY "startTime" DESC LIMIT 1',
            (client_id,),
        ).fetchone()
    if row is None:
        raise LookupError(f"client {client_id!r} has no rows")
    return str(row[0])


def _execute(conn: psycopg.Connection[tuple[Any, ...]], stmts: Sequence[Statement]) -> int:
    """Run the statements, fetching every row; returns how many rows came back."""
    rows = 0
    with conn.cursor() as cur:
        for query, args in stmts:
            cur.execute(query, args)
            rows += len(cur.fetchall())
    return rows


def run_questions(
    dsn: str, params: QuestionParams, repetitions: int, warmup: int
) -> dict[str, dict[str, Any]]:
    """Latency statistics of each question after ``warmup`` unmeasured runs, and ``rows``,
    the rows one execution returned (a sanity check)."""
    results: dict[str, dict[str, Any]] = {}
    with connect(dsn) as conn:
        for question in QUESTIONS:
            stmts = params.statements(question)
            rows = 0
            for _ in range(warmup):
                rows = _execute(conn, stmts)
            latencies = []
            for _ in range(repetitions):
                t = time.perf_counter()
                rows = _execute(conn, stmts)
                latencies.append(time.perf_counter() - t)
            results[question] = {**latency_stats(latencies), "rows": rows}
    return results
