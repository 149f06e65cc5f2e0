"""Loads N synthetic generation events server-side (``INSERT ... SELECT FROM numbers()``).

Realistic shape: ~1,000 clients where the largest has ~10% of all events and the rest follow a
long tail; 5 providers, 20+ models with catalog prices, 7 endpoints, ~2% failures, prompt
caching and reasoning tokens, six months of history. Costs are computed in SQL from the catalog
prices with integer nano-USD arithmetic (rounded half-up; the pipeline rounds half-even).
Rows go through the materialized view, so the hourly rollup is filled as live ingestion fills it.

The commands own the embedded engine, so the benchmark runs them in child processes:
``python -m bench.datagen generate --data-dir D --events N`` fills D (kept when it already holds
N events) and prints the clients' sizes as JSON; ``python -m bench.datagen export --data-dir D
--out F`` writes the events as the TSV the PostgreSQL baseline loads.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.postgres.load import export_sql
from core.pricing import load_catalog
from core.settings import ClickHouseSettings
from ingest.synthetic import ENDPOINTS
from storage.clickhouse.migrate import migrate
from storage.clickhouse.pool import ClickHousePool

CLIENTS = 1000
LARGEST = "client-0000"
LARGEST_SHARE = 0.10
DAYS = 180
CHUNK = 5_000_000
# (provider, model, weight): models of the shipped catalog, so every row is priced.
MODELS = (
    ("openai", "gpt-4o-mini", 22),
    ("openai", "gpt-4o", 8),
    ("openai", "gpt-4.1", 5),
    ("openai", "gpt-4.1-mini", 6),
    ("openai", "o4-mini", 3),
    ("openai", "gpt-5", 3),
    ("openai", "gpt-5-mini", 6),
    ("anthropic", "claude-sonnet-4-5", 8),
    ("anthropic", "claude-sonnet-4", 3),
    ("anthropic", "claude-haiku-4-5", 6),
    ("anthropic", "claude-3-5-haiku", 3),
    ("anthropic", "claude-opus-4-1", 1),
    ("groq", "llama-3.3-70b-versatile", 6),
    ("groq", "llama-3.1-8b-instant", 5),
    ("groq", "openai/gpt-oss-120b", 2),
    ("google", "gemini-2.5-flash", 6),
    ("google", "gemini-2.5-pro", 2),
    ("google", "gemini-2.0-flash", 3),
    ("mistral", "mistral-small-latest", 3),
    ("mistral", "mistral-large-latest", 1),
    ("mistral", "codestral-latest", 2),
)


def _arrays(now: datetime) -> dict[str, str]:
    catalog = load_catalog()
    day = (now - timedelta(days=DAYS)).date()
    prices = []
    for provider, model, _ in MODELS:
        # The price in force at the start of the window (no price changes for these models).
        price = catalog.lookup(provider, model, day) or catalog.lookup(provider, model, now)
        assert price is not None, (provider, model)
        prices.append(price)
    total = sum(w for *_, w in MODELS)
    cumulative, acc = [], 0
    for *_, w in MODELS:
        acc += w
        cumulative.append(acc / total)
    cumulative[-1] = 1.0

    def arr(values: Sequence[object]) -> str:
        return "[" + ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values) + "]"

    return {
        "providers": arr([p for p, _, _ in MODELS]),
        "models": arr([m for _, m, _ in MODELS]),
        "cum": arr(cumulative),
        "p_in": arr([p.input for p in prices]),
        "p_out": arr([p.output for p in prices]),
        "p_cached": arr([p.cached_input for p in prices]),
        "p_reason": arr([p.reasoning for p in prices]),
        "versions": arr([p.version for p in prices]),
        "endpoints": arr(list(ENDPOINTS)),
    }


def insert_sql(database: str, first: int, count: int, now: datetime) -> str:
    a = _arrays(now)
    start = int((now - timedelta(days=DAYS)).timestamp())
    span_ms = DAYS * 86_400_000
    # u(k): a uniform [0, 1) number per row and purpose, reproducible from the row number.
    u = "(cityHash64(number, {k}) / 18446744073709551616.0)"

    def uk(k: int) -> str:
        return u.format(k=k)

    return f"""
INSERT INTO {database}.generations
(event_id, client_id, occurred_at, provider, model, endpoint, input_tokens, output_tokens,
 cached_input_tokens, reasoning_tokens, cost_usd, cost_source, price_version, latency_ms,
 success, status_code, error_type, error_message, request_id, end_user_id, request_metadata,
 response_metadata, schema_version, source, source_partition, source_offset)
SELECT
    event_id, client_id, occurred_at, {a["providers"]}[m] AS provider, {a["models"]}[m] AS model,
    endpoint, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens,
    CAST(intDiv(
        toUInt64(input_tokens - cached_input_tokens) * {a["p_in"]}[m]
        + toUInt64(cached_input_tokens) * {a["p_cached"]}[m]
        + toUInt64(output_tokens - reasoning_tokens) * {a["p_out"]}[m]
        + toUInt64(reasoning_tokens) * {a["p_reason"]}[m] + 500000, 1000000), 'Decimal64(0)')
        * toDecimal64('0.000000001', 9) AS cost_usd,
    'catalog', {a["versions"]}[m], latency_ms, success,
    if(success, 200, 500), if(success, '', 'server_error'), if(success, '', 'upstream failed'),
    concat('req_', toString(number)), concat('user_', toString(number % 5000)),
    '{{"temperature":0.7}}', '{{"finish_reason":"stop"}}', 1, 'bench', -1, -1
FROM
(
    SELECT
        number,
        generateUUIDv4(number) AS event_id,
        if({uk(1)} < {LARGEST_SHARE}, '{LARGEST}',
           concat('client-', leftPad(toString(1 + toUInt32(({CLIENTS} - 1) * pow({uk(2)}, 2))),
                  4, '0'))) AS client_id,
        fromUnixTimestamp64Milli(toInt64({start} * 1000 + {span_ms} * {uk(3)}), 'UTC')
            AS occurred_at,
        arrayFirstIndex(x -> x >= {uk(4)}, {a["cum"]}) AS m,
        {a["endpoints"]}[1 + toUInt32({len(ENDPOINTS)} * {uk(5)}) % {len(ENDPOINTS)}] AS endpoint,
        {uk(6)} >= 0.02 AS success,
        toUInt32(1 + 900 * -log(1 - {uk(7)})) AS input_tokens,
        if(success, toUInt32(1 + 350 * -log(1 - {uk(8)})), 0) AS output_tokens,
        toUInt32(input_tokens * [0, 0, 0, 0.5, 0.9][1 + toUInt32(5 * {uk(9)}) % 5])
            AS cached_input_tokens,
        if(m IN (5, 6, 7, 12, 17), toUInt32(output_tokens * 0.4), 0) AS reasoning_tokens,
        toUInt32(150 + 900 * -log(1 - {uk(10)})) AS latency_ms
    FROM numbers({first}, {count})
)
"""


def generate(pool: ClickHousePool, total: int, now: datetime | None = None) -> float:
    """Insert ``total`` events in chunks; returns the seconds it took."""
    now = now or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    started = time.perf_counter()
    for first in range(0, total, CHUNK):
        count = min(CHUNK, total - first)
        pool.command(insert_sql(pool.database, first, count, now))
    return time.perf_counter() - started


def client_sizes(pool: ClickHousePool) -> list[tuple[str, int]]:
    """(client, events) largest first, from the rollup."""
    rows = pool.query_rows(
        f"SELECT client_id, sum(calls) AS n FROM {pool.database}.usage_hourly "
        "GROUP BY client_id ORDER BY n DESC"
    )
    return [(str(r[0]), int(r[1])) for r in rows]


def open_pool(data_dir: Path) -> ClickHousePool:
    """One client on the embedded engine in ``data_dir``."""
    return ClickHousePool(ClickHouseSettings(data_dir=data_dir), size=1)


def fill(data_dir: Path, events: int) -> dict[str, object]:
    """Make ``data_dir`` hold exactly ``events`` generated events (kept when it already does)."""
    pool = open_pool(data_dir)
    migrate(pool)
    have = pool.query_rows(f"SELECT count() FROM {pool.database}.generations")[0][0]
    seconds = 0.0
    if have != events:
        pool.command(f"TRUNCATE TABLE {pool.database}.generations")
        pool.command(f"TRUNCATE TABLE {pool.database}.usage_hourly")
        seconds = generate(pool, events)
        # Steady state: parts merged as a long-running server would have them.
        pool.command(f"OPTIMIZE TABLE {pool.database}.generations FINAL")
        pool.command(f"OPTIMIZE TABLE {pool.database}.usage_hourly FINAL")
    version = pool.query_rows("SELECT version()")[0][0]
    return {"seconds": seconds, "sizes": client_sizes(pool), "clickhouse": version}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.datagen", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, option, kind in (("generate", "--events", int), ("export", "--out", Path)):
        command = sub.add_parser(name)
        command.add_argument("--data-dir", type=Path, required=True)
        command.add_argument(option, type=kind, required=True)
    args = parser.parse_args(argv)
    if args.command == "generate":
        print(json.dumps(fill(args.data_dir, args.events)))
    else:
        args.out.unlink(missing_ok=True)  # INTO OUTFILE refuses to overwrite
        pool = open_pool(args.data_dir)
        pool.command(export_sql(pool.database, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
