"""Ingest throughput and memory of one worker: old path vs new, interleaved.

Everything runs on this machine against the project's broker:
- :func:`produce_backlog`: N synthetic events as batch messages (as the producer library packs
  them) on a fresh topic, serialised ahead so producing is not what is measured.
- :func:`ceiling`: a bare aiokafka consumer that fetches and ``orjson``-decodes the backlog: the
  most a Python consumer could do here.
- :func:`run_worker`: the real service (``python -m cli.serve``: API + Faust sink, embedded
  engine) on that topic until every event is stored and committed; events/s and peak RSS.
  ``path`` picks the old (pydantic per event, one batch at a time) or new (columnar decoder,
  pipelined sink) path through LLMHUB_WORKER_COLUMNAR / LLMHUB_WORKER_PIPELINE.
- freshness at a steady rate is :mod:`bench.freshness`.
"""

from __future__ import annotations

import asyncio
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition

from bench import common
from ingest.producer import by_partition, pack, partition_of
from ingest.synthetic import EventFactory

CLIENTS = 200
PARTITIONS = 4
PATHS = {
    "old": {"LLMHUB_WORKER_COLUMNAR": "false", "LLMHUB_WORKER_PIPELINE": "false"},
    "new": {"LLMHUB_WORKER_COLUMNAR": "true", "LLMHUB_WORKER_PIPELINE": "true"},
}


def event_values(n: int, seed: int, start: datetime | None = None) -> Iterator[tuple[bytes, bytes]]:
    """(key, JSON) of ``n`` synthetic events over 200 clients (Zipf-like shares)."""
    factory = EventFactory(seed=seed, provider_cost_share=0.1)
    names = [f"client-{i:04d}" for i in range(CLIENTS)]
    weights = [1.0 / (i + 1) for i in range(CLIENTS)]
    begin = start or datetime.now(UTC) - timedelta(hours=1)
    for i, client in enumerate(factory.rng.choices(names, weights, k=n)):
        event = factory.event(client, begin + timedelta(microseconds=i * 50))
        yield client.encode(), orjson.dumps(event)


def batch_messages(
    events: Iterator[tuple[bytes, bytes]], per: str = "partition"
) -> list[tuple[int, bytes]]:
    """(partition, batch message) as :class:`ingest.producer.EventProducer` sends them, or
    with ``per="client"`` one client's events per message (keyed producers, and this
    library before 2026-11-26): many more, smaller messages for the same events."""
    if per == "partition":
        parts = by_partition(events, range(PARTITIONS))
        return [(p, message) for p, values in parts.items() for message in pack(values)]
    by_key: dict[bytes, list[bytes]] = {}
    for key, value in events:
        by_key.setdefault(key, []).append(value)
    return [
        (partition_of(key, range(PARTITIONS)), message)
        for key, values in by_key.items()
        for message in pack(values)
    ]


async def create_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        await admin.close()


async def produce_backlog(bootstrap: str, topic: str, n: int, seed: int = 1) -> float:
    """Produce ``n`` events as batch messages; returns the producing rate (for the record)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=50,
        max_batch_size=1 << 20,
        max_request_size=8 << 20,
    )
    await producer.start()
    started = time.perf_counter()
    try:
        chunk = 100_000
        for first in range(0, n, chunk):
            # Time goes on from chunk to chunk, as in a real backlog.
            begin = datetime.now(UTC) - timedelta(hours=1) + timedelta(microseconds=50 * first)
            values = event_values(min(chunk, n - first), seed + first, begin)
            futures = [
                await producer.send(topic, value=value, partition=partition)
                for partition, value in batch_messages(values)
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
    path: str
    events_per_s: float
    seconds: float
    peak_rss_mib: float
    stats: dict[str, Any]


def api_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, orjson.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except OSError:
        return 0, None


def api_post(url: str, body: dict[str, Any], token: str) -> Any:
    request = urllib.request.Request(
        url,
        data=orjson.dumps(body),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        return orjson.loads(r.read())


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Service:
    """The service (API + sink, embedded engine in ``run_dir``) consuming ``topic``."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        run_dir: Path,
        path: str,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.run_dir = run_dir
        # The admin token common.Service.health() sends: the sink's counters are the admin's.
        self.token = common.BENCH_ADMIN_TOKEN
        self.env = {
            "LLMHUB_KAFKA_BOOTSTRAP": bootstrap,
            "LLMHUB_KAFKA_TOPIC": topic,
            "LLMHUB_KAFKA_DLQ_TOPIC": f"{topic}.dlq",
            "LLMHUB_KAFKA_GROUP": f"{run_dir.name}-sink",
            "LLMHUB_KAFKA_PARTITIONS": str(PARTITIONS),
            "LLMHUB_WORKER_STATE_DIR": str(run_dir / "worker"),
            "LLMHUB_API_ADMIN_TOKEN": self.token,
            **PATHS[path],
            **(extra_env or {}),
        }
        self.service: common.Service | None = None

    @property
    def url(self) -> str:
        assert self.service is not None
        return self.service.url

    @property
    def pid(self) -> int:
        assert self.service is not None
        return int(self.service.proc.pid)

    def __enter__(self) -> Service:
        self.run_dir.mkdir(parents=True)
        self.service = common.start_service(
            self.run_dir / "engine",
            self.run_dir.parent / f"{self.run_dir.name}.log",
            self.env,
            ready=lambda h: "sink" in h,
            timeout_s=180,
        )
        return self

    def sink(self) -> dict[str, Any]:
        assert self.service is not None
        return dict((self.service.health() or {}).get("sink", {}))

    def __exit__(self, *exc: object) -> None:
        if self.service is not None:
            self.service.stop()
        shutil.rmtree(self.run_dir, ignore_errors=True)


def run_worker(service: Service, n: int, path: str, timeout_s: float = 3600) -> WorkerRun:
    """Time the running service until ``n`` events are handled and their offsets committed."""
    # Timed from the first stored batch: start-up (engine, migrations, group join) is not
    # ingest. The events counted before that moment are taken off.
    deadline = time.monotonic() + timeout_s
    first: tuple[float, int] | None = None
    while True:
        sink = service.sink()
        events = int(sink.get("events", 0))
        if first is None and events > 0:
            first = (time.perf_counter(), events)
        if events >= n and not any(sink.get("lag", {}).values()):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"worker handled {events} of {n} in time")
        time.sleep(0.05)
    assert first is not None
    seconds = time.perf_counter() - first[0]
    rate = (n - first[1]) / seconds if seconds > 0 else 0.0
    return WorkerRun(path, rate, seconds, _peak_rss_mib(service.pid), sink)
