"""Loads the benchmark's events into PostgreSQL as LiteLLM keeps them: one
``"LiteLLM_SpendLogs"`` row per call, money as a float, details in JSONB.

The file is what ClickHouse writes with ``FORMAT TabSeparated`` (no header) for
:data:`TSV_COLUMNS` (:func:`export_sql`); :func:`load_tsv` streams it in, builds the
spend-log rows, then indexes the table as a competent DBA would for these questions.
"""

from __future__ import annotations

import queue
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import log
from bench.postgres import connect

TABLE = '"LiteLLM_SpendLogs"'
STAGE_TABLE = "llmhub_bench_stage"
# Parallel COPY and INSERT streams: the benchmark machine has two cores.
STREAMS = 2

# The export, in file order, with the type of each staging column: ClickHouse's TabSeparated
# escaping is PostgreSQL's COPY text format, so COPY parses the file straight into these types.
TSV_COLUMNS = (
    ("event_id", "text"),
    ("client_id", "text"),
    ("occurred_at", "timestamp(3)"),
    ("provider", "text"),
    ("model", "text"),
    ("endpoint", "text"),
    ("input_tokens", "integer"),
    ("output_tokens", "integer"),
    ("cached_input_tokens", "integer"),
    ("reasoning_tokens", "integer"),
    ("cost_usd", "double precision"),
    ("latency_ms", "integer"),
    ("success", "boolean"),
    ("status_code", "integer"),
    ("error_type", "text"),
)
# How ClickHouse writes the columns whose own text form PostgreSQL would not parse as above.
_EXPORT_AS = {
    "event_id": "toString(event_id)",
    "occurred_at": "formatDateTime(occurred_at, '%Y-%m-%d %H:%i:%S.%f')",
    "cost_usd": "toString(cost_usd)",
}
# Unlogged: the stage is dropped right after the load.
STAGE_DDL = f"CREATE UNLOGGED TABLE {STAGE_TABLE} (%s)" % ", ".join(
    f"{name} {kind} NOT NULL" for name, kind in TSV_COLUMNS
)


def export_sql(database: str, out: Path) -> str:
    """The ClickHouse statement that writes the events of ``database`` to ``out``."""
    columns = ", ".join(_EXPORT_AS.get(name, name) for name, _ in TSV_COLUMNS)
    return f"SELECT {columns} FROM {database}.generations INTO OUTFILE '{out}' FORMAT TabSeparated"


# LiteLLM's spend log, as its Prisma schema creates it (String -> text, Int -> integer,
# Float -> double precision, DateTime -> timestamp(3), Json -> jsonb), restricted to the
# columns the billing questions can use plus the usual companions. LiteLLM's real table
# has more (messages, response, proxy_server_request, session_id, ...), so this one is
# narrower than a production table: that favours PostgreSQL, if anything.
#
# `request_id text PRIMARY KEY` (Prisma's @id) is added after the bulk load, in INDEXES_DDL,
# like any bulk load does: maintaining a unique index row by row during the insert is slower
# than building it once.
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

# Built after the load, then VACUUM ANALYZE (statistics + visibility map, so that
# index-only scans work). What a competent DBA adds for these questions:
INDEXES_DDL = (
    # log_details: WHERE request_id = $1 AND api_key = $2 -> the primary key.
    f'ALTER TABLE {TABLE} ADD CONSTRAINT "LiteLLM_SpendLogs_pkey" PRIMARY KEY (request_id)',
    # Shipped by LiteLLM itself (@@index([startTime])): its spend/log pages filter on
    # time. The planner picks it for a large client's period (the heap is in time order,
    # so the range scan reads the period's pages in order and filters on api_key).
    f'CREATE INDEX "LiteLLM_SpendLogs_startTime_idx" ON {TABLE} ("startTime")',
    # The DBA's addition: every question is one tenant's rows, mostly in a time range,
    # and the log page is one tenant's newest rows first. (LiteLLM itself ships no
    # api_key index on this table.) No covering index: one on (api_key, "startTime")
    # INCLUDE (spend, tokens, status, "endTime") makes summary and current_month index-only
    # scans, 2-4x faster for the largest client, but LiteLLM ships nothing like it and the
    # baseline is a plain LiteLLM operator's table.
    f'CREATE INDEX "LiteLLM_SpendLogs_api_key_startTime_idx" ON {TABLE} (api_key, "startTime")',
)

# Planner statistics on the summary's bucket expression (PostgreSQL 14+ extended statistics
# on an expression). Without them the planner cannot estimate how many buckets
# date_trunc(...) makes, guesses one group per ~row, and picks a serial sort-based
# aggregate for the summary instead of a parallel hash aggregate (~1.6x slower for the
# largest client at 10M rows). A DBA reading that EXPLAIN adds them; they cost nothing
# but a little ANALYZE time.
STATISTICS_DDL = (
    f'CREATE STATISTICS "LiteLLM_SpendLogs_day_stat" '
    f"ON date_trunc('day', \"startTime\") FROM {TABLE}"
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


def _copy_stage(dsn: str, path: Path) -> None:
    """Stream the TSV into the staging table over ``STREAMS`` concurrent COPYs.

    One reader cuts the file into chunks that end at a row boundary (a raw newline always
    ends a row: TabSeparated escapes newlines inside values) and hands them to the COPY
    threads, so the server parses on every core.
    """
    chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=2 * STREAMS)

    def copy_stream() -> None:
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

    with ThreadPoolExecutor(max_workers=STREAMS) as pool:
        futures = [pool.submit(copy_stream) for _ in range(STREAMS)]
        try:
            with path.open("rb") as f:
                rest = b""
                while block := f.read(8 << 20):
                    block = rest + block
                    cut = block.rfind(b"\n") + 1
                    if cut:
                        chunks.put(block[:cut])
                    rest = block[cut:]
                if rest:
                    chunks.put(rest)
        finally:
            for _ in range(STREAMS):
                chunks.put(None)
        for future in futures:
            future.result()


def _insert_from_stage(dsn: str) -> int:
    """INSERT ... SELECT the staging rows, split into ``STREAMS`` block ranges of the stage.

    PostgreSQL 15 runs an INSERT ... SELECT on one core, and building the JSONB is most
    of its cost, so the stage is cut into ``ctid`` ranges (TID range scans) inserted
    concurrently. Each stream writes its rows in "startTime" order and the streams advance
    through time together, so the heap ends up roughly in time order, as an append-only log
    is: one client's rows are spread over the whole heap. Keeping the file's order (the
    export comes sorted by client) would cluster each client's rows and flatter PostgreSQL.
    """
    with connect(dsn) as conn:
        row = conn.execute(
            f"SELECT pg_relation_size('{STAGE_TABLE}') / current_setting('block_size')::int"
        ).fetchone()
    blocks = int(row[0]) if row else 0
    bounds = [blocks * i // STREAMS for i in range(STREAMS)] + [blocks + 1]

    def insert(i: int) -> int:
        where = f"ctid >= '({bounds[i]},0)'::tid AND ctid < '({bounds[i + 1]},0)'::tid"
        # Sorting in a subquery (OFFSET 0 keeps it from being flattened) sorts the narrow
        # staging rows, not the projected rows with their JSONB: half the time at 10M rows.
        source = (
            f"(SELECT * FROM {STAGE_TABLE} WHERE {where} "
            "ORDER BY occurred_at, event_id OFFSET 0) AS stage"
        )
        with connect(dsn) as conn:
            conn.execute("SET work_mem = '1GB'")  # the ORDER BY sort
            return conn.execute(INSERT_SQL_TEMPLATE.format(source=source)).rowcount

    with ThreadPoolExecutor(max_workers=STREAMS) as pool:
        return sum(pool.map(insert, range(STREAMS)))


def load_tsv(dsn: str, path: Path) -> dict[str, Any]:
    """(Re)create ``"LiteLLM_SpendLogs"`` from the TSV, then index and VACUUM ANALYZE it;
    returns the times and sizes of the load.

    The TSV is streamed with ``COPY ... FROM STDIN`` into an unlogged staging table (the
    server never opens the file), then INSERT ... SELECT builds the spend-log rows.
    """
    t0 = time.perf_counter()
    with connect(dsn) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(f"DROP TABLE IF EXISTS {STAGE_TABLE}")
        conn.execute(STAGE_DDL)
        conn.execute(SPEND_LOGS_DDL)
    _copy_stage(dsn, path)
    t_copy = time.perf_counter()
    log(f"PostgreSQL: COPY {path.name} ({STREAMS} streams): {t_copy - t0:.1f}s")
    rows = _insert_from_stage(dsn)
    with connect(dsn) as conn:
        conn.execute(f"DROP TABLE {STAGE_TABLE}")
    t_load = time.perf_counter()
    log(f"PostgreSQL: INSERT {rows} rows ({STREAMS} streams): {t_load - t_copy:.1f}s")

    with connect(dsn) as conn:
        for ddl in (*INDEXES_DDL, STATISTICS_DDL):
            t = time.perf_counter()
            conn.execute(ddl)
            log(f"PostgreSQL: {ddl.split(' ON ')[0]}: {time.perf_counter() - t:.2f}s")
        t_index = time.perf_counter()
        conn.execute(f"VACUUM ANALYZE {TABLE}")
        t_vacuum = time.perf_counter()
        log(f"PostgreSQL: VACUUM ANALYZE: {t_vacuum - t_index:.1f}s")
        sizes = conn.execute(
            f"SELECT pg_table_size('{TABLE}'), pg_indexes_size('{TABLE}'), "
            "pg_database_size(current_database())"
        ).fetchone()
    assert sizes is not None
    return {
        "rows": rows,
        "copy_s": round(t_copy - t0, 3),  # COPY of the TSV into the staging table
        "insert_s": round(t_load - t_copy, 3),  # INSERT ... SELECT (JSONB built here)
        "load_s": round(t_load - t0, 3),  # copy_s + insert_s + DDL
        "index_s": round(t_index - t_load, 3),  # primary key, indexes, statistics
        "vacuum_s": round(t_vacuum - t_index, 3),  # VACUUM ANALYZE
        "table_bytes": int(sizes[0]),  # heap + TOAST
        "index_bytes": int(sizes[1]),
        "database_bytes": int(sizes[2]),
    }
