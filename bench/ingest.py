"""Ingest throughput: a backlog produced ahead, consumed by one worker until all is stored.

- :func:`produce_backlog` writes N synthetic events (serialised ahead, so producing is not
  what is measured) to a fresh topic.
- :func:`ceiling` is a bare aiokafka consumer that only fetches and decodes the same topic:
  the most any Python consumer could do here.
- :func:`run_worker` starts the real service (API + Faust sink, embedded engine) on that
  topic, waits until every event is stored, and reads the process's peak RSS.
- :func:`profile_stages` times the sink's stages in this process on the same kind of events.
- :func:`measure` runs them all, as ``make bench`` reports them.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition

from bench.common import log, start_service
from bench.datagen import open_pool
from core.decode import Limits, SourceRecord, decode_batch
from core.pricing import load_catalog
from ingest.producer import pack
from ingest.runtime import tune_gc
from ingest.synthetic import EventFactory
from storage.clickhouse.events import EventStore
from storage.clickhouse.migrate import migrate

CLIENTS = 200
PARTITIONS = 4


def _events(n: int, seed: int) -> list[tuple[bytes, bytes]]:
    """(client key, event JSON) for ``n`` events of a long tail of clients."""
    factory = EventFactory(seed=seed, provider_cost_share=0.1)
    names = [f"client-{i:04d}" for i in range(CLIENTS)]
    weights = [1.0 / (i + 1) for i in range(CLIENTS)]
    start = datetime.now(UTC) - timedelta(hours=1)
    out = []
    for i, client in enumerate(factory.rng.choices(names, weights, k=n)):
        event = factory.event(client, start + timedelta(microseconds=i * 50))
        out.append((client.encode(), orjson.dumps(event)))
    return out


def _messages(events: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Batch messages per client, as the producer library sends them."""
    by_key: dict[bytes, list[bytes]] = {}
    for key, value in events:
        by_key.setdefault(key, []).append(value)
    return [(key, message) for key, values in by_key.items() for message in pack(values)]


async def _create_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        await admin.close()


async def produce_backlog(bootstrap: str, topic: str, n: int, seed: int = 1) -> float:
    """Create ``topic`` and produce ``n`` events to it; returns events/s of the producing
    (for the record only)."""
    await _create_topic(bootstrap, topic)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=50,
        max_batch_size=1 << 20,
    )
    await producer.start()
    started = time.perf_counter()
    try:
        chunk = 100_000  # events serialised at a time: bounds the producer's memory
        for first in range(0, n, chunk):
            futures = [
                await producer.send(topic, value=value, key=key)
                for key, value in _messages(_events(min(chunk, n - first), seed + first))
            ]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return n / (time.perf_counter() - started)


async def ceiling(bootstrap: str, topic: str, n: int) -> float:
    """Events/s of fetch + JSON decode alone over the whole backlog."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 << 20,
        fetch_max_bytes=64 << 20,
    )
    await consumer.start()
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    seen = 0
    started = time.perf_counter()
    try:
        while seen < n:
            batch = await consumer.getmany(timeout_ms=1000, max_records=20_000)
            for records in batch.values():
                for record in records:
                    seen += len(orjson.loads(record.value))
    finally:
        await consumer.stop()
    return n / (time.perf_counter() - started)


@dataclass
class WorkerRun:
    events_per_s: float
    seconds: float
    peak_rss_mib: float
    stats: dict[str, Any]


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_worker(
    bootstrap: str, topic: str, n: int, run_dir: Path, timeout_s: float = 3600
) -> WorkerRun:
    """Run the service on the backlog until ``n`` events are handled; measure it. Its engine
    and stream-processor state live in ``run_dir``, deleted afterwards."""
    run_dir.mkdir(parents=True)
    env = {
        "LLMHUB_KAFKA_BOOTSTRAP": bootstrap,
        "LLMHUB_KAFKA_TOPIC": topic,
        "LLMHUB_KAFKA_DLQ_TOPIC": f"{topic}.dlq",
        "LLMHUB_KAFKA_GROUP": f"{topic}-sink",
        "LLMHUB_KAFKA_PARTITIONS": str(PARTITIONS),
        "LLMHUB_WORKER_STATE_DIR": str(run_dir / "worker"),
    }
    log_path = run_dir.parent / f"{run_dir.name}.log"
    service = start_service(
        run_dir / "engine", log_path, env, ready=lambda h: "sink" in h, timeout_s=120
    )
    try:
        started = time.perf_counter()
        deadline = time.monotonic() + timeout_s
        while (sink := (service.health() or {}).get("sink", {})).get("events", 0) < n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker handled {sink.get('events')} of {n} in time")
            time.sleep(0.2)
        seconds = time.perf_counter() - started
        return WorkerRun(n / seconds, seconds, _peak_rss_mib(service.proc.pid), sink)
    finally:
        service.stop()
        shutil.rmtree(run_dir, ignore_errors=True)


def profile_stages(n: int, data_dir: Path) -> list[dict[str, Any]]:
    """Seconds per sink stage over ``n`` events in batches of ~20k, in this process."""
    records = [
        SourceRecord(value, "bench", i % PARTITIONS, i)
        for i, (_, value) in enumerate(_messages(_events(n, 99)))
    ]
    pool = open_pool(data_dir)
    pool.command(f"DROP DATABASE IF EXISTS {pool.database}")
    migrate(pool)
    store = EventStore(pool, load_catalog())
    tune_gc()  # as the worker does
    stages = dict.fromkeys(
        ("decode + validate", "duplicate check", "price + columns", "insert"), 0.0
    )
    per_batch = 100  # messages of up to 200 events: ~20k events per batch, as the worker
    for first in range(0, len(records), per_batch):
        t0 = time.perf_counter()
        decoded = decode_batch(records[first : first + per_batch], Limits())
        t1 = time.perf_counter()
        store._already_stored(decoded.accepted)
        t2 = time.perf_counter()
        prepared = store.prepare(decoded.accepted, "kafka")
        t3 = time.perf_counter()
        store.insert(prepared)
        store.release(prepared)
        t4 = time.perf_counter()
        stages["decode + validate"] += t1 - t0
        stages["duplicate check"] += t2 - t1
        # prepare() runs the duplicate check again; count only its pricing/columns part.
        stages["price + columns"] += max(0.0, (t3 - t2) - (t2 - t1))
        stages["insert"] += t4 - t3
    pool.command(f"DROP DATABASE IF EXISTS {pool.database}")
    pool.close()
    total = sum(stages.values())
    return [
        {
            "stage": k,
            "seconds": round(v, 3),
            "share": round(v / total, 3),
            "us_per_event": round(v / n * 1e6, 2),
        }
        for k, v in stages.items()
    ]


def measure(bootstrap: str, work: Path, events: int, rss_events: int) -> dict[str, Any]:
    """The ingest section of the results: worker throughput against the ceiling, peak RSS
    (also with an ``rss_events`` backlog unless 0), and the per-stage profile."""
    stamp = int(time.time())
    topic = f"bench-ingest-{stamp}"
    log(f"ingest: producing a backlog of {events:,} events")
    produced = asyncio.run(produce_backlog(bootstrap, topic, events))
    log("ingest: ceiling (bare aiokafka fetch + decode)")
    top = asyncio.run(ceiling(bootstrap, topic, events))
    log("ingest: worker")
    run = run_worker(bootstrap, topic, events, work / f"ingest-{stamp}")
    result: dict[str, Any] = {
        "events": events,
        "producer_events_per_s": round(produced),
        "ceiling_events_per_s": round(top),
        "events_per_s": round(run.events_per_s),
        "seconds": round(run.seconds, 1),
        "worker_peak_rss_mib": round(run.peak_rss_mib),
        "ratio": round(run.events_per_s / round(top), 3),
        "stored": run.stats.get("inserted"),
        "duplicates": run.stats.get("duplicates"),
        "rss_5m_backlog_mib": None,
    }
    if rss_events:
        topic = f"bench-rss-{stamp}"
        log(f"ingest: peak RSS with a {rss_events:,}-event backlog")
        asyncio.run(produce_backlog(bootstrap, topic, rss_events, seed=7))
        big = run_worker(bootstrap, topic, rss_events, work / f"rss-{stamp}")
        result["rss_5m_backlog_mib"] = round(big.peak_rss_mib)
        result["rss_backlog_events"] = rss_events
        result["rss_backlog_events_per_s"] = round(big.events_per_s)
    log("ingest: per-stage profile")
    result["profile"] = profile_stages(min(events, 200_000), work / "profile")
    return result
