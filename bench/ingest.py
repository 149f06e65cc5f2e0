"""Ingest throughput: a backlog produced ahead, consumed by one worker until visible.

- :func:`produce_backlog` writes N synthetic events (already serialised, so producing is not
  what is measured) to a fresh topic.
- :func:`ceiling` is a bare aiokafka consumer that only fetches and decodes the same topic:
  the most any Python consumer could do here.
- :func:`run_worker` starts the real service (``python -m query_api.main``: API + Faust sink,
  embedded engine) on that topic, waits until every event is stored, and reads the process's
  peak RSS.
- :func:`profile_stages` times the sink's stages in-process on the same kind of events.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from ingest.producer import pack
from ingest.synthetic import EventFactory

CLIENTS = 200


def _events(n: int, seed: int) -> list[tuple[bytes, bytes]]:
    factory = EventFactory(seed=seed, provider_cost_share=0.1)
    rng = factory.rng
    names = [f"client-{i:04d}" for i in range(CLIENTS)]
    weights = [1.0 / (i + 1) for i in range(CLIENTS)]
    start = datetime.now(UTC) - timedelta(hours=1)
    out = []
    for i, client in enumerate(rng.choices(names, weights, k=n)):
        event = factory.event(client, start + timedelta(microseconds=i * 50))
        out.append((client.encode(), orjson.dumps(event)))
    return out


def _messages(events: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Batch messages per client, as the producer library sends them."""
    by_key: dict[bytes, list[bytes]] = {}
    for key, value in events:
        by_key.setdefault(key, []).append(value)
    return [(key, message) for key, values in by_key.items() for message in pack(values)]


async def produce_backlog(bootstrap: str, topic: str, n: int, seed: int = 1) -> float:
    """Produce ``n`` events; returns events/s of the producing (for the record only)."""
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
        chunk = 100_000
        for first in range(0, n, chunk):
            futures = [
                await producer.send(topic, value=value, key=key)
                for key, value in _messages(_events(min(chunk, n - first), seed + first))
            ]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return n / (time.perf_counter() - started)


async def ceiling(bootstrap: str, topic: str, n: int, partitions: int) -> float:
    """Events/s of fetch + JSON decode alone over the whole backlog."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 << 20,
        fetch_max_bytes=64 << 20,
    )
    await consumer.start()
    tps = [TopicPartition(topic, p) for p in range(partitions)]
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


def _health(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as r:
            return dict(orjson.loads(r.read()))
    except OSError:
        return None


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_worker(
    bootstrap: str,
    topic: str,
    n: int,
    data_dir: Path,
    port: int,
    partitions: int,
    batch_size: int = 100,
    timeout_s: float = 3600,
) -> WorkerRun:
    """Run the service on the backlog until ``n`` records are handled; measure it."""
    env = {
        **os.environ,
        "LLMHUB_CLICKHOUSE_DATA_DIR": str(data_dir),
        "LLMHUB_CLICKHOUSE_URL": "",
        "LLMHUB_KAFKA_BOOTSTRAP": bootstrap,
        "LLMHUB_KAFKA_TOPIC": topic,
        "LLMHUB_KAFKA_DLQ_TOPIC": f"{topic}.dlq",
        "LLMHUB_KAFKA_GROUP": f"{topic}-sink",
        "LLMHUB_KAFKA_PARTITIONS": str(partitions),
        "LLMHUB_WORKER_BATCH_SIZE": str(batch_size),
        "LLMHUB_WORKER_BATCH_WINDOW_S": "0.5",
        "LLMHUB_API_PORT": str(port),
    }
    log = (data_dir.parent / f"{data_dir.name}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "query_api.main"], env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            health = _health(url)
            if health and "sink" in health:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"service did not start (see {log.name})")
            time.sleep(0.1)
        started = time.perf_counter()
        deadline = time.monotonic() + timeout_s
        while True:
            health = _health(url) or {}
            sink = health.get("sink", {})
            if sink.get("events", 0) >= n:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker handled {sink.get('records')} of {n} in time")
            time.sleep(0.2)
        seconds = time.perf_counter() - started
        return WorkerRun(n / seconds, seconds, _peak_rss_mib(proc.pid), sink)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except Exception:
            proc.kill()
        log.close()


def profile_stages(n: int, data_dir: Path) -> list[dict[str, Any]]:
    """Seconds per sink stage over ``n`` events in batches of 20k, in this process."""
    from core.clickhouse import ClickHousePool
    from core.migrations import migrate
    from core.pipeline import EventStore, Limits, SourceRecord, decode_batch
    from core.pricing import load_catalog
    from core.settings import ClickHouseSettings

    records = [
        SourceRecord(value, "bench", i % 4, i)
        for i, (_, value) in enumerate(_messages(_events(n, 99)))
    ]
    pool = ClickHousePool(ClickHouseSettings(data_dir=data_dir, database="profile"), size=1)
    pool.command("DROP DATABASE IF EXISTS profile")
    migrate(pool)
    store = EventStore(pool, load_catalog())
    gc.freeze()
    gc.set_threshold(50_000, 100, 1_000)
    stages = {
        "decode + validate": 0.0,
        "duplicate check": 0.0,
        "price + columns": 0.0,
        "insert": 0.0,
    }
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
    pool.command("DROP DATABASE IF EXISTS profile")
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
