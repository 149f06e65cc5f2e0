"""Per-stage cost of the sink, old path vs new, in one process on the same records.

Stages: decode+validate, price+columns, dedup (the duplicate check), insert. Both paths run
over the same batch messages (batches of ``per_batch`` messages, as the worker takes them),
alternating batch by batch so machine noise hits both alike; each path writes to its own
database of one embedded engine.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any

from bench.ingest_speed import batch_messages, event_values
from core.columnar import decode_columns
from core.decode import Limits, SourceRecord, decode_batch
from core.pricing import load_catalog
from core.settings import ClickHouseSettings
from storage.clickhouse.columns import build_table
from storage.clickhouse.events import EventStore
from storage.clickhouse.migrate import migrate
from storage.clickhouse.pool import ClickHousePool

STAGES = ("decode + validate", "price + columns", "dedup", "insert")


def _old(store: EventStore, records: list[SourceRecord], t: dict[str, float]) -> None:
    t0 = time.perf_counter()
    decoded = decode_batch(records, Limits())
    t1 = time.perf_counter()
    build_table(decoded.accepted, store.catalog, "kafka")
    t2 = time.perf_counter()
    prepared = store.prepare(decoded.accepted, "kafka")  # dedup + the same layout again
    t3 = time.perf_counter()
    store.insert(prepared)
    store.release(prepared)
    t4 = time.perf_counter()
    t["decode + validate"] += t1 - t0
    t["price + columns"] += t2 - t1
    t["dedup"] += max(0.0, (t3 - t2) - (t2 - t1))
    t["insert"] += t4 - t3


def _new(store: EventStore, records: list[SourceRecord], t: dict[str, float]) -> None:
    t0 = time.perf_counter()
    batch = decode_columns(records, Limits())
    t1 = time.perf_counter()
    built = store.build(batch, "kafka")
    t2 = time.perf_counter()
    prepared = store.prepare_built(built)
    t3 = time.perf_counter()
    store.insert(prepared)
    store.release(prepared)
    t4 = time.perf_counter()
    t["decode + validate"] += t1 - t0
    t["price + columns"] += t2 - t1
    t["dedup"] += t3 - t2
    t["insert"] += t4 - t3


def profile(n: int, data_dir: Path, per_batch: int = 100) -> dict[str, list[dict[str, Any]]]:
    """us/event and share per stage for each path, over ``n`` events."""
    messages = batch_messages(event_values(n, seed=99))
    records = [SourceRecord(value, "bench", i % 4, i) for i, (_, value) in enumerate(messages)]
    stores = {}
    for path in ("old", "new"):
        pool = ClickHousePool(ClickHouseSettings(data_dir=data_dir, database=f"profile_{path}"))
        pool.command(f"DROP DATABASE IF EXISTS profile_{path}")
        migrate(pool)
        stores[path] = EventStore(pool, load_catalog())
    gc.freeze()
    gc.set_threshold(50_000, 100, 1_000)
    times = {path: dict.fromkeys(STAGES, 0.0) for path in stores}
    for first in range(0, len(records), per_batch):
        chunk = records[first : first + per_batch]
        order = ("old", "new") if (first // per_batch) % 2 == 0 else ("new", "old")
        for path in order:
            (_old if path == "old" else _new)(stores[path], chunk, times[path])
    result = {}
    for path, stages in times.items():
        total = sum(stages.values())
        result[path] = [
            {
                "stage": stage,
                "us_per_event": round(seconds / n * 1e6, 2),
                "share": round(seconds / total, 3),
            }
            for stage, seconds in stages.items()
        ]
        result[path].append({"stage": "total", "us_per_event": round(total / n * 1e6, 2)})
        stores[path].pool.command(f"DROP DATABASE IF EXISTS profile_{path}")
        stores[path].pool.close()
    return result


if __name__ == "__main__":
    import json
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(dir=".cache") as tmp:
        out = profile(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000, Path(tmp) / "chdb")
    print(json.dumps(out, indent=1))
