"""Where a log-detail lookup's time goes on the embedded engine: three ways to find one call.

Issue 10 asks for log details under 10 ms. The lookup today is one statement over the client's
key range with the ``event_id`` bloom-filter skip index. A locator table (``event_id ->
occurred_at``, sorted by id) was designed to turn it into a one-granule read; this probe
measures, interleaved on the same table and ids, before building it:

- ``bloom``: today's statement (client range + skip index);
- ``exact_time``: the one-granule read a locator would allow (time already known);
- ``locator_sub``: locator + raw read in one statement (``occurred_at IN (SELECT ...)``);
- ``locator_only``: the locator read alone; ``select_1``: the engine's floor.

Run: ``python -m bench.detail_probe [--events N] [--asks K]`` (a throwaway engine directory
under .cache/bench/probe; the table has the generations table's columns that matter: several
monthly partitions, a payload column). Prints medians and p90 in milliseconds.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time

import clickhouse_connect

from bench.common import ROOT

_COLUMNS = (
    "event_id UUID, client_id LowCardinality(String), occurred_at DateTime64(3, 'UTC'), "
    "provider LowCardinality(String), input_tokens UInt32, cost_usd Decimal64(9), "
    "request_metadata String"
)
_WAYS = {
    "bloom": "SELECT * FROM p.g WHERE client_id = {c:String} AND event_id = {id:UUID} LIMIT 1",
    "exact_time": (
        "SELECT * FROM p.g WHERE client_id = {c:String} AND occurred_at = "
        "{t:DateTime64(3, 'UTC')} AND event_id = {id:UUID} LIMIT 1"
    ),
    "locator_sub": (
        "SELECT * FROM p.g WHERE client_id = {c:String} AND occurred_at IN "
        "(SELECT occurred_at FROM p.loc WHERE event_id = {id:UUID}) "
        "AND event_id = {id:UUID} LIMIT 1"
    ),
    "locator_only": "SELECT occurred_at FROM p.loc WHERE event_id = {id:UUID} LIMIT 1",
    "select_1": "SELECT 1",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--asks", type=int, default=100)
    args = ap.parse_args()
    path = ROOT / ".cache" / "bench" / "probe"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    c = clickhouse_connect.get_client(dsn=f"chdb://{path}")
    c.command("CREATE DATABASE p")
    c.command(
        f"CREATE TABLE p.g ({_COLUMNS}, INDEX idx event_id TYPE bloom_filter(0.001) "
        "GRANULARITY 4) ENGINE = MergeTree PARTITION BY toYYYYMM(occurred_at) "
        "ORDER BY (client_id, occurred_at, event_id)"
    )
    c.command(
        "CREATE TABLE p.loc (event_id UUID, occurred_at DateTime64(3, 'UTC')) "
        "ENGINE = ReplacingMergeTree ORDER BY event_id"
    )
    c.command("CREATE MATERIALIZED VIEW p.loc_mv TO p.loc AS SELECT event_id, occurred_at FROM p.g")
    chunk = 1_000_000
    for k in range(0, args.events, chunk):
        # 10% of calls by one large client, the rest over 1,500 small ones; 3 s apart.
        c.command(
            "INSERT INTO p.g SELECT generateUUIDv4(), if(number % 10 = 0, 'big', "
            "concat('c', toString(number % 1500))), toDateTime64('2026-01-01', 3, 'UTC') + "
            f"toIntervalMillisecond((number + {k}) * 3000), 'openai', 100, 0.001, "
            f"repeat('x', 200) FROM numbers({min(chunk, args.events - k)})"
        )
    asks = c.query(
        f"SELECT event_id, client_id, occurred_at FROM p.g ORDER BY rand() LIMIT {args.asks}"
    ).result_rows
    times: dict[str, list[float]] = {way: [] for way in _WAYS}
    for event_id, client, at in asks:
        params = {"c": client, "id": event_id, "t": at.replace(tzinfo=None)}
        for way, sql in _WAYS.items():  # interleaved: every way sees the same moment's load
            started = time.perf_counter()
            c.query(sql, parameters=params)
            times[way].append((time.perf_counter() - started) * 1000)
    print(f"{args.events:,} events, {args.asks} random ids, ms")
    for way, xs in times.items():
        xs.sort()
        p90 = xs[int(len(xs) * 0.9) - 1]
        print(f"{way:13s} p50 {statistics.median(xs):7.2f}  p90 {p90:7.2f}")
    c.close()
    shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
