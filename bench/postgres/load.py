"""PostgreSQL baseline: the six billing questions on a LiteLLM-style spend-log table.

The same events the benchmark loads into ClickHouse are loaded into PostgreSQL (Debian's
package, run by ``deploy/bench/postgres.sh``) in the shape a LiteLLM proxy keeps them:
one ``"LiteLLM_SpendLogs"`` row per call, money as a float, details in JSONB. The six
questions of the billing API are then asked in SQL, with bound parameters, and timed
from the client.

Usage::

    python -m bench.postgres --tsv events.tsv --client client-000 \\
        --start 2025-10-01T00:00:00 --end 2025-11-01T00:00:00 [--log-id UUID] [--reps 20]

starts the server (``deploy/bench/postgres.sh start``), loads the TSV, runs the questions
and prints one JSON object on stdout (progress goes to stderr).

The TSV is what ClickHouse writes with ``FORMAT TabSeparated`` (no header) for the
columns of :data:`TSV_COLUMNS`, in that order.

Question names (keys of every result): ``summary``, ``by_provider``, ``by_endpoint``,
``current_month``, ``logs`` (total count + one page, two statements timed together, as
the API runs them) and ``log_details``. Statistics per question: ``p50_ms``, ``p95_ms``,
``p99_ms`` (nearest rank, as ``bench.http_load``), ``mean_ms``, ``max_ms``, ``n`` and
``rows`` (rows returned by one execution, a sanity check); the concurrent run adds
``rps``. A latency is ``time.perf_counter`` around executing the question's
statements and fetching all their rows over one connection: no HTTP, no JSON shaping.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Literal

import psycopg

GroupBy = Literal["hour", "day", "month"]

REPO_ROOT = Path(__file__).resolve().parent.parent
PG_SCRIPT = REPO_ROOT / "deploy" / "bench" / "postgres.sh"
DSN_PREFIX = "BENCH_PG_DSN="

TABLE = '"LiteLLM_SpendLogs"'
STAGE_TABLE = "llmhub_bench_stage"

# Column order of the TSV (ClickHouse `FORMAT TabSeparated`, no header).
TSV_COLUMNS = (
    "event_id",
    "client_id",
    "occurred_at",
    "provider",
    "model",
    "endpoint",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "reasoning_tokens",
    "cost_usd",
    "latency_ms",
    "success",
    "status_code",
    "error_type",
)

# Unlogged, typed staging table: COPY parses the text straight into these types
# (ClickHouse's TabSeparated escaping is PostgreSQL's COPY text format).
STAGE_DDL = f"""
CREATE UNLOGGED TABLE {STAGE_TABLE} (
    event_id            text NOT NULL,
    client_id           text NOT NULL,
    occurred_at         timestamp(3) NOT NULL,
    provider            text NOT NULL,
    model               text NOT NULL,
    endpoint            text NOT NULL,
    input_tokens        integer NOT NULL,
    output_tokens       integer NOT NULL,
    cached_input_tokens integer NOT NULL,
    reasoning_tokens    integer NOT NULL,
    cost_usd            double precision NOT NULL,
    latency_ms          integer NOT NULL,
    success             boolean NOT NULL,
    status_code         integer NOT NULL,
    error_type          text NOT NULL
)
"""

# LiteLLM's spend log, as its Prisma schema creates it (String -> text, Int -> integer,
# Float -> double precision, DateTime -> timestamp(3), Json -> jsonb), restricted to the
# columns the billing questions can use plus the usual companions. LiteLLM's real table
# has more (messages, response, proxy_server_request, session_id, ...), so this one is
# narrower than a production table: that favours PostgreSQL, if anything.
#
# `request_id text PRIMARY KEY` (Prisma's @id) is added after the bulk load, as
# PRIMARY_KEY_DDL, like any bulk load does: maintaining a unique index row by row during
# the insert is slower than building it once.
#
# Our columns -> LiteLLM's:
#   request_id = event_id; api_key = "user" = client_id (the tenant every question filters
#   on); custom_llm_provider = provider; model = model; spend = cost_usd;
#   prompt_tokens = input_tokens; completion_tokens = output_tokens;
#   "startTime" = occurred_at; "endTime" = occurred_at + latency_ms;
#   status = 'success' | 'failure'; request_tags = ["<endpoint>"] (LiteLLM users tag the
#   feature); call_type = endpoint too, a plain column, so the by-endpoint question can
#   group by a column instead of unnesting JSONB (fair to PostgreSQL);
#   metadata = {cached_input_tokens, reasoning_tokens, latency_ms, status_code, error_type}.
SPEND_LOGS_DDL = f"""
CREATE TABLE {TABLE} (
    request_id          text NOT NULL,
    call_type           text NOT NULL,
    api_key             text NOT NULL DEFAULT '',
    -- LiteLLM stores money as a float (Prisma Float): that is the baseline we compare
    -- against, so it stays double precision (llmhub keeps exact Decimal64(9)).
    spend               double precision NOT NULL DEFAULT 0.0,
    total_tokens        integer NOT NULL DEFAULT 0,
    prompt_tokens       integer NOT NULL DEFAULT 0,
    completion_tokens   integer NOT NULL DEFAULT 0,
    "startTime"         timestamp(3) NOT NULL,
    "endTime"           timestamp(3) NOT NULL,
    model               text NOT NULL DEFAULT '',
    custom_llm_provider text DEFAULT '',
    api_base            text DEFAULT '',
    "user"              text DEFAULT '',
    metadata            jsonb DEFAULT '{{}}',
    cache_hit           text DEFAULT '',
    request_tags        jsonb DEFAULT '[]',
    team_id             text,
    end_user            text,
    status              text
)
"""

PRIMARY_KEY_DDL = (
    f'ALTER TABLE {TABLE} ADD CONSTRAINT "LiteLLM_SpendLogs_pkey" PRIMARY KEY (request_id)'
)

# Built after the load, then VACUUM ANALYZE (statistics + visibility map, so that
# index-only scans work). What a competent DBA adds for these questions:
INDEXES_DDL = (
    # log_details: WHERE request_id = $1 AND api_key = $2 -> the primary key.
    PRIMARY_KEY_DDL,
    # Shipped by LiteLLM itself (@@index([startTime])): its spend/log pages filter on
    # time. The planner picks it for a large client's period (the heap is in time order,
    # so the range scan reads the period's pages in order and filters on api_key).
    f'CREATE INDEX "LiteLLM_SpendLogs_startTime_idx" ON {TABLE} ("startTime")',
    # The DBA's addition: every question is one tenant's rows, mostly in a time range,
    # and the log page is one tenant's newest rows first. (LiteLLM itself ships no
    # api_key index on this table.)
    f'CREATE INDEX "LiteLLM_SpendLogs_api_key_startTime_idx" ON {TABLE} (api_key, "startTime")',
)

# Planner statistics on the summary's bucket expressions (PostgreSQL 14+ extended
# statistics on an expression). Without them the planner cannot estimate how many buckets
# date_trunc(...) makes, guesses one group per ~row, and picks a serial sort-based
# aggregate for the summary instead of a parallel hash aggregate (~1.6x slower for the
# largest client at 10M rows). A DBA reading that EXPLAIN adds these; they cost nothing
# but a little ANALYZE time.
STATISTICS_DDL = tuple(
    f'CREATE STATISTICS "LiteLLM_SpendLogs_{unit}_stat" '
    f"ON date_trunc('{unit}', \"startTime\") FROM {TABLE}"
    for unit in ("hour", "day", "month")
)

# Optional (load_tsv(covering=True), CLI --covering): the one covering index a DBA could
# justify - the spend time series and the budget check (summary, current_month) are what
# a LiteLLM dashboard and a budget alert run all day, and they read only these columns,
# so they become index-only scans. Breakdowns by provider/model/endpoint still read the
# heap. Measured: 2-4x faster summary/current_month for the largest client, up to ~6x
# for a typical one; +60% index bytes at 1M rows. Not built by default: the baseline is a
# plain LiteLLM operator's table, and LiteLLM ships nothing like it.
COVERING_INDEX_DDL = (
    f'CREATE INDEX "LiteLLM_SpendLogs_api_key_startTime_cov_idx" ON {TABLE} '
    '(api_key, "startTime") INCLUDE (spend, prompt_tokens, completion_tokens, status, "endTime")'
)

INSERT_SQL_TEMPLATE = f"""
INSERT INTO {TABLE} (
    request_id, call_type, api_key, spend, total_tokens, prompt_tokens, completion_tokens,
    "startTime", "endTime", model, custom_llm_provider, api_base, "user", metadata,
    cache_hit, request_tags, team_id, end_user, status
)
SELECT
    event_id,
    endpoint,
    client_id,
    cost_usd,
    input_tokens + output_tokens,
    input_tokens,
    output_tokens,
    occurred_at,
    occurred_at + latency_ms * interval '1 millisecond',
    model,
    provider,
    'https://' || provider || '.llm-gateway.internal/v1',
    client_id,
    jsonb_build_object(
        'cached_input_tokens', cached_input_tokens,
        'reasoning_tokens', reasoning_tokens,
        'latency_ms', latency_ms,
        'status_code', nullif(status_code, 0),
        'error_type', nullif(error_type, '')
    ),
    'False',
    jsonb_build_array(endpoint),
    NULL,
    NULL,
    CASE WHEN success THEN 'success' ELSE 'failure' END
FROM {{source}}
"""

# -- the six questions ---------------------------------------------------------------------

QUESTIONS = ("summary", "by_provider", "by_endpoint", "current_month", "logs", "log_details")

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

SUMMARY_SQL = f"""
SELECT date_trunc(%(unit)s, "startTime") AS bucket,{_METRICS}
FROM {TABLE}
WHERE {_PERIOD}
GROUP BY 1
ORDER BY 1"""

BY_PROVIDER_SQL = f"""
SELECT custom_llm_provider, model,{_METRICS}
FROM {TABLE}
WHERE {_PERIOD}
GROUP BY custom_llm_provider, model
ORDER BY custom_llm_provider, model"""

BY_ENDPOINT_SQL = f"""
SELECT call_type, custom_llm_provider,{_METRICS}
FROM {TABLE}
WHERE {_PERIOD}
GROUP BY call_type, custom_llm_provider
ORDER BY call_type, custom_llm_provider"""

CURRENT_MONTH_SQL = f"""
SELECT{_METRICS}
FROM {TABLE}
WHERE {_PERIOD}"""

LOG_COUNT_SQL = f"SELECT count(*) FROM {TABLE} WHERE api_key = %(client_id)s"

_LOG_COLUMNS = """request_id, "startTime", "endTime", custom_llm_provider, model, call_type,
       prompt_tokens, completion_tokens, total_tokens, spend, status, metadata, request_tags"""

LOG_PAGE_SQL = f"""
SELECT {_LOG_COLUMNS}
FROM {TABLE}
WHERE api_key = %(client_id)s
ORDER BY "startTime" DESC, request_id DESC
LIMIT %(limit)s OFFSET %(offset)s"""

LOG_DETAILS_SQL = f"""
SELECT *
FROM {TABLE}
WHERE request_id = %(log_id)s AND api_key = %(client_id)s"""

LOG_PAGE_SIZE = 100


@dataclass(frozen=True)
class QuestionParams:
    """What the six questions are asked with: one client, UTC instants, [start, end)."""

    client_id: str
    start: datetime
    end: datetime
    group_by: GroupBy
    month_start: datetime
    month_end: datetime
    log_id: str
    offset: int = 0

    def __post_init__(self) -> None:
        if self.group_by not in ("hour", "day", "month"):
            raise ValueError(f"group_by must be hour, day or month, not {self.group_by!r}")
        if self.offset < 0:
            raise ValueError("offset must be >= 0")


Statement = tuple[str, dict[str, Any]]


def naive_utc(value: datetime) -> datetime:
    """The columns are `timestamp` (UTC, no zone, as Prisma makes them): bind naive UTC.

    An aware datetime would be sent as timestamptz and compared through the session's
    time zone; a naive one compares with the column as it is.
    """
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value


def statements(question: str, p: QuestionParams) -> list[Statement]:
    """The SQL statements (and their parameters) one answer to ``question`` runs."""
    period = {"client_id": p.client_id, "start": naive_utc(p.start), "end": naive_utc(p.end)}
    if question == "summary":
        return [(SUMMARY_SQL, {**period, "unit": p.group_by})]
    if question == "by_provider":
        return [(BY_PROVIDER_SQL, period)]
    if question == "by_endpoint":
        return [(BY_ENDPOINT_SQL, period)]
    if question == "current_month":
        month = {
            "client_id": p.client_id,
            "start": naive_utc(p.month_start),
            "end": naive_utc(p.month_end),
        }
        return [(CURRENT_MONTH_SQL, month)]
    if question == "logs":
        page = {"client_id": p.client_id, "limit": LOG_PAGE_SIZE, "offset": p.offset}
        return [(LOG_COUNT_SQL, {"client_id": p.client_id}), (LOG_PAGE_SQL, page)]
    if question == "log_details":
        return [(LOG_DETAILS_SQL, {"client_id": p.client_id, "log_id": p.log_id})]
    raise ValueError(f"unknown question {question!r}; known: {', '.join(QUESTIONS)}")


# -- server -------------------------------------------------------------------------------


def _pg_script(command: str, env: dict[str, str] | None = None) -> str:
    # Our own script with a fixed command word: nothing untrusted reaches the shell.
    result = subprocess.run(
        ["bash", str(PG_SCRIPT), command],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    return result.stdout


def start_server(port: int | None = None) -> str:
    """Start (installing/initialising if needed) the benchmark server; returns its DSN."""
    env = {"BENCH_PG_PORT": str(port)} if port is not None else None
    out = _pg_script("start", env)
    lines = [line for line in out.splitlines() if line.startswith(DSN_PREFIX)]
    if not lines:
        raise RuntimeError(f"postgres.sh start printed no {DSN_PREFIX} line: {out!r}")
    return lines[-1][len(DSN_PREFIX) :]


def stop_server(port: int | None = None) -> None:
    env = {"BENCH_PG_PORT": str(port)} if port is not None else None
    _pg_script("stop", env)


def connect(dsn: str, *, autocommit: bool = True) -> psycopg.Connection[tuple[Any, ...]]:
    """A connection in UTC that never prepares statements server-side.

    psycopg prepares a query after 5 executions, and PostgreSQL then switches to a
    generic plan (made without the parameter values) after 5 more if it looks no costlier:
    a measured series would change plans part-way through, and the plan measured would
    not be the one EXPLAIN shows. Unprepared, every execution is planned for its actual
    values (a custom plan), as it would be from most ORMs; planning time (well under a
    millisecond here) is part of each measured latency, as parsing is on ClickHouse.
    """
    return psycopg.connect(
        dsn,
        autocommit=autocommit,
        prepare_threshold=None,
        options="-c TimeZone=UTC",
        application_name="llmhub-bench",
    )


def server_info(dsn: str) -> dict[str, Any]:
    """Version and the settings that matter for the comparison."""
    names = (
        "shared_buffers",
        "work_mem",
        "effective_cache_size",
        "max_parallel_workers_per_gather",
        "jit",
        "random_page_cost",
        "fsync",
    )
    with connect(dsn) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        settings = {
            name: str(row[0])
            for name in names
            if (row := conn.execute(f"SHOW {name}").fetchone()) is not None
        }
    return {"version": str(version[0]) if version else "", "settings": settings}


# -- load ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadResult:
    rows: int
    copy_s: float  # COPY of the TSV into the staging table
    insert_s: float  # INSERT ... SELECT into the spend-log table (JSONB built here)
    load_s: float  # copy_s + insert_s + DDL
    index_s: float  # primary key + secondary indexes (+ CREATE STATISTICS, instant)
    vacuum_s: float  # VACUUM ANALYZE
    table_bytes: int  # heap + TOAST
    index_bytes: int
    database_bytes: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _log(message: str) -> None:
    print(f"bench.postgres: {message}", file=sys.stderr, flush=True)


def _parallel(jobs: Sequence[Callable[[], int]]) -> list[int]:
    """Run the jobs in threads (one connection each, opened by the job); re-raise errors."""
    if len(jobs) == 1:
        return [jobs[0]()]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = [pool.submit(job) for job in jobs]
        return [f.result() for f in futures]


def _copy_stage(dsn: str, path: Path, streams: int, chunk_bytes: int) -> None:
    """Stream the TSV into the staging table over ``streams`` concurrent COPYs.

    One reader cuts the file into chunks that end at a row boundary (a raw newline always
    ends a row: TabSeparated escapes newlines inside values) and hands them to the COPY
    threads, so the server parses on every core.
    """
    chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=2 * streams)

    def copy_stream() -> int:
        try:
            with (
                connect(dsn) as conn,
                conn.cursor() as cur,
                cur.copy(f"COPY {STAGE_TABLE} FROM STDIN") as copy,
            ):
                while (chunk := chunks.get()) is not None:
                    copy.write(chunk)
        except BaseException:
            while chunks.get() is not None:  # keep the reader from blocking on a full queue
                pass
            raise
        return 0

    with ThreadPoolExecutor(max_workers=streams) as pool:
        futures = [pool.submit(copy_stream) for _ in range(streams)]
        try:
            with path.open("rb") as f:
                rest = b""
                while block := f.read(chunk_bytes):
                    block = rest + block
                    cut = block.rfind(b"\n") + 1
                    if cut:
                        chunks.put(block[:cut])
                    rest = block[cut:]
                if rest:
                    chunks.put(rest)
        finally:
            for _ in range(streams):
                chunks.put(None)
        for future in futures:
            future.result()


def _insert_from_stage(dsn: str, streams: int, order_by_time: bool) -> int:
    """INSERT ... SELECT the staging rows, split into ``streams`` block ranges of the stage.

    PostgreSQL 15 runs an INSERT ... SELECT on one core, and building the JSONB is most
    of its cost, so the stage is cut into ``ctid`` ranges (TID range scans) inserted
    concurrently. Each stream writes its rows in time order; the streams advance through
    time together, so the heap ends up roughly in time order, as an append-only log is.
    """
    with connect(dsn) as conn:
        row = conn.execute(
            f"SELECT pg_relation_size('{STAGE_TABLE}') / current_setting('block_size')::int"
        ).fetchone()
    blocks = int(row[0]) if row else 0
    bounds = [blocks * i // streams for i in range(streams)] + [blocks + 1]
    # Sorting in a subquery (OFFSET 0 keeps it from being flattened) sorts the narrow
    # staging rows, not the projected rows with their JSONB: half the time at 10M rows.
    order = " ORDER BY occurred_at, event_id OFFSET 0" if order_by_time else ""

    def insert(i: int) -> int:
        where = f"ctid >= '({bounds[i]},0)'::tid AND ctid < '({bounds[i + 1]},0)'::tid"
        source = f"(SELECT * FROM {STAGE_TABLE} WHERE {where}{order}) AS stage"
        with connect(dsn) as conn:
            conn.execute("SET work_mem = '1GB'")  # the ORDER BY sort
            return conn.execute(INSERT_SQL_TEMPLATE.format(source=source)).rowcount

    return sum(_parallel([partial(insert, i) for i in range(streams)]))


def load_tsv(
    dsn: str,
    tsv_path: str | Path,
    *,
    order_by_time: bool = True,
    covering: bool = False,
    streams: int = 2,
    chunk_bytes: int = 8 << 20,
) -> LoadResult:
    """(Re)create ``"LiteLLM_SpendLogs"`` from the TSV, then index and VACUUM ANALYZE it.

    Any existing table is dropped first. The TSV is streamed over ``streams`` connections
    with ``COPY ... FROM STDIN`` into an unlogged staging table (the server never opens
    the file), then INSERT ... SELECT builds the spend-log rows (also ``streams`` at a
    time) and the stage is dropped.

    ``order_by_time`` (default) writes the rows in "startTime" order: a LiteLLM table is
    appended to as calls happen, so one client's rows are spread over the whole heap;
    keeping the file's order (a ClickHouse export comes sorted by client; use
    ``order_by_time=False, streams=1``) would cluster each client's rows and flatter
    PostgreSQL.
    """
    if streams < 1:
        raise ValueError("streams must be >= 1")
    path = Path(tsv_path)
    if not path.is_file():
        raise FileNotFoundError(path)
    t0 = time.perf_counter()
    with connect(dsn) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(f"DROP TABLE IF EXISTS {STAGE_TABLE}")
        conn.execute(STAGE_DDL)
        conn.execute(SPEND_LOGS_DDL)
    _copy_stage(dsn, path, streams, chunk_bytes)
    t_copy = time.perf_counter()
    _log(f"COPY {path.name} ({streams} streams): {t_copy - t0:.1f}s")
    rows = _insert_from_stage(dsn, streams, order_by_time)
    with connect(dsn) as conn:
        conn.execute(f"DROP TABLE {STAGE_TABLE}")
    t_load = time.perf_counter()
    _log(f"INSERT {rows} rows ({streams} streams): {t_load - t_copy:.1f}s")

    with connect(dsn) as conn:
        for ddl in (*INDEXES_DDL, *((COVERING_INDEX_DDL,) if covering else ()), *STATISTICS_DDL):
            t = time.perf_counter()
            conn.execute(ddl)
            _log(f"{ddl.split(' ON ')[0]}: {time.perf_counter() - t:.2f}s")
        t_index = time.perf_counter()
        conn.execute(f"VACUUM ANALYZE {TABLE}")
        t_vacuum = time.perf_counter()
        _log(f"VACUUM ANALYZE: {t_vacuum - t_index:.1f}s")
        sizes = conn.execute(
            f"SELECT pg_table_size('{TABLE}'), pg_indexes_size('{TABLE}'), "
            "pg_database_size(current_database())"
        ).fetchone()
    assert sizes is not None
    return LoadResult(
        rows=rows,
        copy_s=round(t_copy - t0, 3),
        insert_s=round(t_load - t_copy, 3),
        load_s=round(t_load - t0, 3),
        index_s=round(t_index - t_load, 3),
        vacuum_s=round(t_vacuum - t_index, 3),
        table_bytes=int(sizes[0]),
        index_bytes=int(sizes[1]),
        database_bytes=int(sizes[2]),
    )


def table_sizes(dsn: str) -> dict[str, int]:
    with connect(dsn) as conn:
        row = conn.execute(
            f"SELECT count(*), pg_table_size('{TABLE}'), pg_indexes_size('{TABLE}'), "
            f"pg_database_size(current_database()) FROM {TABLE}"
        ).fetchone()
    assert row is not None
    return {
        "rows": int(row[0]),
        "table_bytes": int(row[1]),
        "index_bytes": int(row[2]),
        "database_bytes": int(row[3]),
    }


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


# -- measurement --------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending non-empty sequence (as bench.http_load)."""
    if not sorted_values:
        raise ValueError("percentile of an empty sequence")
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summarize(latencies_s: Sequence[float], rows: int) -> dict[str, Any]:
    ms = sorted(v * 1000 for v in latencies_s)
    return {
        "p50_ms": round(percentile(ms, 50), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(sum(ms) / len(ms), 3),
        "max_ms": round(ms[-1], 3),
        "n": len(ms),
        "rows": rows,
    }


def execute(conn: psycopg.Connection[tuple[Any, ...]], stmts: Sequence[Statement]) -> int:
    """Run the statements, fetching every row; returns how many rows came back."""
    rows = 0
    with conn.cursor() as cur:
        for query, args in stmts:
            cur.execute(query, args)
            rows += len(cur.fetchall())
    return rows


def answers(dsn: str, params: QuestionParams) -> dict[str, list[list[tuple[Any, ...]]]]:
    """Each question's result rows (one list per statement), to compare with llmhub's."""
    out: dict[str, list[list[tuple[Any, ...]]]] = {}
    with connect(dsn) as conn:
        for question in QUESTIONS:
            out[question] = [conn.execute(q, a).fetchall() for q, a in statements(question, params)]
    return out


def explain(dsn: str, params: QuestionParams) -> dict[str, str]:
    """EXPLAIN (ANALYZE, BUFFERS) of every statement, for the report's honesty."""
    plans: dict[str, str] = {}
    with connect(dsn) as conn:
        for question in QUESTIONS:
            texts = []
            for query, args in statements(question, params):
                rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + query, args).fetchall()
                texts.append("\n".join(str(r[0]) for r in rows))
            plans[question] = "\n--\n".join(texts)
    return plans


def run_questions(
    dsn: str,
    params: QuestionParams,
    repetitions: int = 20,
    warmup: int = 3,
    questions: Sequence[str] = QUESTIONS,
) -> dict[str, dict[str, Any]]:
    """Latency of each question at concurrency 1, after ``warmup`` unmeasured runs."""
    if repetitions < 1:
        raise ValueError("repetitions must be >= 1")
    results: dict[str, dict[str, Any]] = {}
    with connect(dsn) as conn:
        for question in questions:
            stmts = statements(question, params)
            rows = 0
            for _ in range(warmup):
                rows = execute(conn, stmts)
            latencies = []
            for _ in range(repetitions):
                t = time.perf_counter()
                rows = execute(conn, stmts)
                latencies.append(time.perf_counter() - t)
            results[question] = summarize(latencies, rows)
    return results


def run_questions_concurrent(
    dsn: str,
    params: QuestionParams,
    concurrency: int,
    repetitions: int,
    questions: Sequence[str] = QUESTIONS,
) -> dict[str, dict[str, Any]]:
    """Closed-loop load: ``concurrency`` threads, one connection each, per question.

    ``repetitions`` is the number of executions of each question in total, shared by
    the threads (like ``bench.http_load``'s requests_per_endpoint). Each connection runs
    the question once, unmeasured, before the measured phase; ``rps`` is the measured
    executions over the phase's wall time. psycopg is synchronous, but waiting for the
    server releases the GIL, so threads do run queries in parallel.
    """
    if concurrency < 1 or repetitions < 1:
        raise ValueError("concurrency and repetitions must be >= 1")
    results: dict[str, dict[str, Any]] = {}
    conns = [connect(dsn) for _ in range(concurrency)]
    try:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for question in questions:
                results[question] = _concurrent_phase(
                    pool, conns, statements(question, params), repetitions
                )
    finally:
        for conn in conns:
            conn.close()
    return results


def _concurrent_phase(
    pool: ThreadPoolExecutor,
    conns: Sequence[psycopg.Connection[tuple[Any, ...]]],
    stmts: Sequence[Statement],
    repetitions: int,
) -> dict[str, Any]:
    # Warm each connection (plan cache, buffers) before the clock starts.
    rows_seen = list(pool.map(lambda c: execute(c, stmts), conns))
    barrier = threading.Barrier(len(conns) + 1)
    lock = threading.Lock()
    remaining = [repetitions]

    def take() -> bool:
        with lock:
            if remaining[0] <= 0:
                return False
            remaining[0] -= 1
            return True

    def worker(conn: psycopg.Connection[tuple[Any, ...]]) -> list[float]:
        latencies: list[float] = []
        barrier.wait()
        while take():
            t = time.perf_counter()
            execute(conn, stmts)
            latencies.append(time.perf_counter() - t)
        return latencies

    futures = [pool.submit(worker, conn) for conn in conns]
    barrier.wait()
    t0 = time.perf_counter()
    latencies = [v for f in futures for v in f.result()]
    wall = time.perf_counter() - t0
    stats = summarize(latencies, rows_seen[0])
    stats["rps"] = round(len(latencies) / wall, 2) if wall > 0 else 0.0
    return stats


# -- CLI ----------------------------------------------------------------------------------


def _parse_time(text: str) -> datetime:
    """ISO 8601; naive means UTC."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def month_bounds(instant: datetime) -> tuple[datetime, datetime]:
    """[first instant of the month, first instant of the next month) containing instant."""
    start = instant.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start, end


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.postgres",
        description="PostgreSQL baseline: load a TSV into a LiteLLM-style spend-log table "
        "and time the six billing questions.",
    )
    parser.add_argument("--tsv", type=Path, help="events TSV (ClickHouse TabSeparated)")
    parser.add_argument(
        "--skip-load", action="store_true", help="use the table already loaded (no --tsv)"
    )
    parser.add_argument("--client", required=True, help="client_id (= api_key) to query")
    parser.add_argument("--start", required=True, type=_parse_time, help="period start (UTC)")
    parser.add_argument("--end", required=True, type=_parse_time, help="period end, exclusive")
    parser.add_argument("--group-by", default="day", choices=("hour", "day", "month"))
    parser.add_argument("--month-start", type=_parse_time, help="default: month of end - 1ms")
    parser.add_argument("--month-end", type=_parse_time, help="default: month of end - 1ms")
    parser.add_argument("--log-id", help="request_id for log_details (default: newest)")
    parser.add_argument("--offset", type=int, default=0, help="log page offset")
    parser.add_argument("--reps", type=int, default=20, help="measured runs per question")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured runs per question")
    parser.add_argument(
        "--concurrency", type=int, default=0, help="also run with N threads (0 = skip)"
    )
    parser.add_argument(
        "--concurrent-reps", type=int, default=0, help="executions per question (default: reps*N)"
    )
    parser.add_argument("--port", type=int, help="server port (default: BENCH_PG_PORT/55432)")
    parser.add_argument("--dsn", help="use this server instead of starting one")
    parser.add_argument(
        "--file-order",
        action="store_true",
        help="keep the TSV's row order in the heap instead of time order (one stream)",
    )
    parser.add_argument("--streams", type=int, default=2, help="parallel COPY/INSERT streams")
    parser.add_argument("--covering", action="store_true", help="also build the covering index")
    parser.add_argument("--explain", action="store_true", help="print query plans to stderr")
    parser.add_argument("--stop", action="store_true", help="stop the server when done")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if not args.skip_load and args.tsv is None:
        print("error: --tsv is required unless --skip-load", file=sys.stderr)
        return 2
    dsn: str = args.dsn or start_server(args.port)
    try:
        out: dict[str, Any] = {"dsn": dsn, "server": server_info(dsn)}
        if not args.skip_load:
            out["load"] = load_tsv(
                dsn,
                args.tsv,
                order_by_time=not args.file_order,
                covering=args.covering,
                streams=1 if args.file_order else args.streams,
            ).as_dict()
        out["sizes"] = table_sizes(dsn)
        default_month = month_bounds(args.end - timedelta(milliseconds=1))
        params = QuestionParams(
            client_id=args.client,
            start=args.start,
            end=args.end,
            group_by=args.group_by,
            month_start=args.month_start or default_month[0],
            month_end=args.month_end or default_month[1],
            log_id=args.log_id or pick_log_id(dsn, args.client),
            offset=args.offset,
        )
        out["params"] = {k: str(v) for k, v in asdict(params).items()}
        if args.explain:
            for question, plan in explain(dsn, params).items():
                print(f"== {question}\n{plan}\n", file=sys.stderr)
        out["questions"] = run_questions(dsn, params, args.reps, args.warmup)
        if args.concurrency > 0:
            reps = args.concurrent_reps or args.reps * args.concurrency
            out["concurrency"] = args.concurrency
            out["concurrent"] = run_questions_concurrent(dsn, params, args.concurrency, reps)
    finally:
        if args.stop and not args.dsn:
            stop_server(args.port)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
