"""``python -m tests.faults [--quick]``: every fault scenario, then docs/reliability.md.

Full size: 10 SIGKILLs during a 1M-event stream, a broker restart, a 60 s storage outage, and
64 concurrent API clients for 60 s during ingestion. ``--quick`` runs them small (what
``make test`` runs through tests/integration/test_faults.py) and writes nowhere by default.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from core.settings import ClickHouseSettings, Settings
from storage.clickhouse.migrate import migrate
from storage.clickhouse.pool import ClickHousePool
from tests import hostile
from tests.faults import hostile_feed, report, scenarios
from tests.faults.outage import storage_outage
from tests.services import TEST_PORT, kafka_broker

# Rates spread a stream over the time its faults take, so every fault lands mid-stream.
FULL = {
    "kill_events": 1_000_000,
    "kill_rate": 15_000,
    "kills": 10,
    "restart_events": 200_000,
    "broker_down_s": 15,
    "outage_events": 100_000,
    "outage_s": 60,
    "load_clients": 64,
    "load_s": 60,
    "load_rate": 2_000,
    "fuzz_examples": 100,
}
QUICK = {
    "kill_events": 10_000,
    "kill_rate": 1_000,
    "kills": 2,
    "restart_events": 5_000,
    "broker_down_s": 5,
    "outage_events": 3_000,
    "outage_s": 5,
    "load_clients": 16,
    "load_s": 5,
    "load_rate": 1_000,
    "fuzz_examples": 0,
}


async def run_all(size: dict[str, int], workdir: Path, bootstrap: str) -> list[scenarios.Outcome]:
    out = []
    records = hostile_feed.corpus()
    sent = scenarios.events(size["restart_events"], 3, seed=5)
    out.append(
        await scenarios.run_with_service(
            "hostile corpus",
            workdir / "hostile",
            bootstrap,
            sent,
            hostile_feed.send_corpus(records),
            drain_timeout=900,
            rate=size["load_rate"],
            also_stored=hostile.stored_events(records),
        )
    )
    sent = scenarios.events(size["kill_events"], 20, seed=1)
    out.append(
        await scenarios.run_with_service(
            "SIGKILL storm",
            workdir / "kill",
            bootstrap,
            sent,
            scenarios.sigkills(size["kills"], seed=1),
            drain_timeout=1800,
            rate=size["kill_rate"],
        )
    )
    sent = scenarios.events(size["restart_events"], 10, seed=2)
    out.append(
        await scenarios.run_with_service(
            "broker restart",
            workdir / "broker",
            bootstrap,
            sent,
            scenarios.broker_restart(TEST_PORT, size["broker_down_s"]),
            drain_timeout=900,
        )
    )
    pool = ClickHousePool(
        ClickHouseSettings(data_dir=workdir / "outage" / "engine", database="outage"), size=4
    )
    migrate(pool)
    sent = scenarios.events(size["outage_events"], 10, seed=3)
    out.append(
        await storage_outage(
            pool, Settings(), bootstrap, sent, size["outage_s"], workdir / "outage"
        )
    )
    pool.close()
    sent = scenarios.events(size["load_rate"] * size["load_s"], 10, seed=4)
    out.append(
        await scenarios.run_with_service(
            "API load during ingest",
            workdir / "load",
            bootstrap,
            sent,
            scenarios.http_load(size["load_clients"], size["load_s"], sent),
            drain_timeout=900,
            rate=size["load_rate"],
        )
    )
    if size["fuzz_examples"]:
        out.append(await asyncio.to_thread(hostile_feed.fuzz, size["fuzz_examples"]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--out", type=Path, help="write the markdown table here")
    args = parser.parse_args(argv)
    size = QUICK if args.quick else FULL
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="llmhub-faults-") as tmp, kafka_broker() as bootstrap:
        outcomes = asyncio.run(run_all(size, Path(tmp), bootstrap))
    command = "make reliability" + (" QUICK=1" if args.quick else "")
    text = report.render(outcomes, command, time.monotonic() - started)
    print(text)
    out = args.out or (None if args.quick else Path("docs/reliability.md"))
    if out is not None:
        out.write_text(text, "utf-8")
    return 0 if all(report.clean(o) for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
