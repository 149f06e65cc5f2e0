"""llmhub at the layer its HTTP handlers call (``query_api.reports.BillingReports``), before and
after the read model, interleaved in one process on one data set.

"before" reads every answer from the engine (:class:`storage.clickhouse.reads.ClickHouseReads`,
the read path as it was); "after" is what the service runs with the embedded engine
(:class:`storage.clickhouse.cached.CachedReads`: read model + the engine for ragged edges,
log rows and log details). Both share one engine and one pool of clients (the service's
size). Rounds alternate the order of the two, and every request draws its own parameters
(:mod:`bench.asks`). Concurrency N is N threads calling the reports, as the handlers do from
``asyncio.to_thread``. CPU per request is the process CPU time (engine threads included)
over the requests of a phase.

``--before edges-from-engine`` makes "before" the read model with a period's ragged edges read
from the engine (as before small clients' raw events were held: storage.clickhouse.edges),
so the two differ only by that.

Usage: ``python -m bench.layer --data-dir D --clients C1,C2 [--rounds 3 --requests 100]``;
prints JSON: {"rows": [one per round and variant], "model_loads": n, "clients": {label:
{"client_id", "first", "last", "events", "log_ids"}}} (what the asks were drawn from, so
PostgreSQL can be asked the same).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from bench.asks import PAGE, QUESTIONS, Ask, draw
from bench.common import latency_stats
from core.calendar import GroupBy
from core.errors import NotFound
from core.pricing import load_catalog
from core.settings import ClickHouseSettings
from query_api.reports import BillingReports
from storage import LogFilter
from storage.clickhouse import ClickHouseStorage
from storage.clickhouse.cached import CachedReads
from storage.clickhouse.pool import ClickHousePool
from storage.clickhouse.reads import ClickHouseReads


class _Before:
    """The storage with reads straight from the engine: the read path before the model."""

    def __init__(
        self, storage: ClickHouseStorage, reads: ClickHouseReads | CachedReads | None = None
    ) -> None:
        self.events = storage.events
        self.tenants = storage.tenants
        self.dead_letters = storage.dead_letters
        self.exports = storage.exports
        self.fleet = storage.fleet
        self.sql = storage.sql
        self.alerts = storage.alerts
        self.usage = self.logs = reads or storage.fresh

    def ping(self) -> None: ...

    def close(self) -> None: ...


def answer(reports: BillingReports, client: str, ask: Ask) -> object:
    q = ask.question
    if q in ("summary", "summary_dates"):
        return reports.summary(client, ask.start, ask.end, GroupBy.DAY)
    if q == "by_provider":
        return reports.by_provider(client, ask.start, ask.end)
    if q == "by_endpoint":
        return reports.by_endpoint(client, ask.start, ask.end)
    if q == "current_month":
        return reports.current_month(client)
    if q == "log_details":
        try:
            return reports.log_detail(client, uuid.UUID(ask.log_id))
        except NotFound:
            return None
    flt = LogFilter(client, provider=ask.provider, success=ask.success)
    return reports.logs(flt, PAGE, ask.offset)


def phase(call: Callable[[Ask], object], asks: Sequence[Ask], concurrency: int) -> dict[str, Any]:
    def timed(ask: Ask) -> float:
        t = time.perf_counter()
        call(ask)
        return time.perf_counter() - t

    with ThreadPoolExecutor(concurrency) as pool:
        cpu, wall = time.process_time(), time.perf_counter()
        latencies = list(pool.map(timed, asks))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        **latency_stats(latencies),
        "rps": round(len(asks) / wall, 1),
        "cpu_ms": round(cpu * 1000 / len(asks), 3),
    }


def client_facts(pool: ClickHousePool, client: str) -> tuple[Any, Any, int, list[str]]:
    db = pool.database
    first, last, n = pool.query_rows(
        f"SELECT min(occurred_at), max(occurred_at), count() FROM {db}.generations "
        "WHERE client_id = {c:String}",
        {"c": client},
    )[0]
    ids = pool.query_rows(
        f"SELECT toString(event_id) FROM {db}.generations WHERE client_id = {{c:String}} "
        "ORDER BY cityHash64(event_id) LIMIT 1000",
        {"c": client},
    )
    return first, last, int(n), [r[0] for r in ids]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.layer", description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--clients", required=True, help="label=client_id,...")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100, help="per phase")
    parser.add_argument("--concurrency", default="1,16")
    parser.add_argument("--questions", default=",".join(QUESTIONS))
    parser.add_argument("--before", choices=("engine", "edges-from-engine"), default="engine")
    args = parser.parse_args(argv)

    settings = ClickHouseSettings(data_dir=args.data_dir)
    pool = ClickHousePool(settings)
    storage = ClickHouseStorage(pool, load_catalog(), read_model=True)
    cached = storage.usage
    assert isinstance(cached, CachedReads)
    before = _Before(storage)
    if args.before == "edges-from-engine":
        old = CachedReads(storage.fresh, max_events=0)
        storage.events.subscribe(old)
        before = _Before(storage, old)
    variants = {"before": BillingReports(before), "after": BillingReports(storage)}
    rows: list[dict[str, Any]] = []
    facts: dict[str, dict[str, Any]] = {}
    for spec in args.clients.split(","):
        label, client = spec.split("=")
        first, last, events, log_ids = client_facts(pool, client)
        facts[label] = {
            "client_id": client,
            "first": first.isoformat(),
            "last": last.isoformat(),
            "events": events,
            "log_ids": log_ids,
        }
        t = time.perf_counter()
        cached.model(client)
        if isinstance(before.usage, CachedReads):
            before.usage.model(client)
        load_ms = round((time.perf_counter() - t) * 1000, 1)
        print(f"{label} {client}: {events:,} events, model {load_ms} ms", file=sys.stderr)
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            for question in args.questions.split(","):
                for r in range(args.rounds):
                    seed = r * 1000 + concurrency  # bench.run asks PostgreSQL with c=1's
                    asks = draw(question, args.requests, seed, first, last, events, log_ids)
                    order = ("before", "after") if r % 2 == 0 else ("after", "before")
                    for variant in order:
                        reports = variants[variant]
                        stats = phase(partial(answer, reports, client), asks, concurrency)
                        rows.append(
                            {
                                "client": label,
                                "client_events": events,
                                "model_load_ms": load_ms,
                                "question": question,
                                "concurrency": concurrency,
                                "variant": variant,
                                "round": r,
                                **stats,
                            }
                        )
                    b, a = rows[-2:] if order[1] == "after" else rows[-1:-3:-1]
                    print(
                        f"{label} c{concurrency} {question} r{r}: before p50 {b['p50_ms']} "
                        f"after p50 {a['p50_ms']} (rps {b['rps']} -> {a['rps']})",
                        file=sys.stderr,
                        flush=True,
                    )
    print(json.dumps({"rows": rows, "model_loads": cached.loads, "clients": facts}))
    storage.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
