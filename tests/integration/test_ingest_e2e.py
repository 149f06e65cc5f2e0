"""Kafka -> Faust sink -> ClickHouse on the real broker and engine, end to end.

A mixed stream (valid events, exact duplicates, the same event re-sent later, invalid events of
every kind) must give billing numbers equal to the oracle's over the *unique* valid events,
and every invalid event must sit in the dead-letter topic with its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from core.settings import KafkaSettings, Settings, WorkerSettings
from ingest.producer import EventProducer
from ingest.runtime import IngestRuntime
from ingest.synthetic import EventFactory
from tests import oracle
from tests.conftest import Api

BASE = "/api/v1/llm/billing"
pytestmark = pytest.mark.kafka


async def wait_for(check: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


def pipeline_settings(
    settings: Settings, bootstrap: str, tmp_path: Path, **worker: Any
) -> Settings:
    """Settings for a sink on its own topics and group (``worker`` overrides its settings)."""
    suffix = uuid.uuid4().hex[:8]
    kafka = KafkaSettings(
        bootstrap=bootstrap,
        topic=f"gen-{suffix}",
        dlq_topic=f"gen-{suffix}.dlq",
        group=f"sink-{suffix}",
        partitions=4,
    )
    defaults: dict[str, Any] = {
        "batch_size": 500,
        "batch_window_s": 0.2,
        "retry_initial_s": 0.1,
        "retry_max_s": 1,
        "state_dir": tmp_path / f"worker-{suffix}",
    }
    return settings.model_copy(
        update={"kafka": kafka, "worker": WorkerSettings(**{**defaults, **worker})}
    )


@contextlib.asynccontextmanager
async def running_pipeline(api: Api, full: Settings) -> AsyncIterator[IngestRuntime]:
    """The sink (and an HTTP publisher) running in this process beside the API."""
    storage = api.services.storage
    runtime = IngestRuntime(full, storage.events, api.services.limits, storage.dead_letters)
    await runtime.start()
    publisher = EventProducer(full.kafka.bootstrap, full.kafka.topic)
    await publisher.start()
    api.services.publisher, api.services.ingest = publisher, runtime
    try:
        yield runtime
    finally:
        api.services.publisher = api.services.ingest = None
        await publisher.stop()
        await runtime.stop()


@pytest.fixture
async def pipeline(
    api: Api, settings: Settings, kafka_bootstrap: str, tmp_path: Path
) -> AsyncIterator[tuple[Api, Settings, IngestRuntime]]:
    full = pipeline_settings(settings, kafka_bootstrap, tmp_path)
    async with running_pipeline(api, full) as runtime:
        yield api, full, runtime


async def dead_letters(settings: Settings, expected: int) -> list[Any]:
    consumer = AIOKafkaConsumer(
        settings.kafka.dlq_topic,
        bootstrap_servers=settings.kafka.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[Any] = []
    try:
        deadline = time.monotonic() + 30
        while len(found) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                found.extend(records)
    finally:
        await consumer.stop()
    return found


async def committed(settings: Settings) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(settings.kafka.group)
    finally:
        await admin.close()
    return {
        tp.partition: meta.offset
        for tp, meta in offsets.items()
        if tp.topic == settings.kafka.topic
    }


async def end_offsets(settings: Settings) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka.bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(settings.kafka.topic, p) for p in range(settings.kafka.partitions)]
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    return {tp.partition: off for tp, off in ends.items()}


def invalid_events(template: dict[str, Any]) -> dict[str, bytes]:
    """One event of every kind the sink must refuse, by the reason it must give."""

    def variant(**changes: Any) -> bytes:
        return orjson.dumps({**template, "event_id": str(uuid.uuid4()), **changes})

    missing = {k: v for k, v in template.items() if k not in ("model", "latency_ms")}
    return {
        "invalid_json": b'{"event_id": "oops", ',
        "not_an_object": b'"a string, not an event"',
        "unsupported_schema_version": variant(schema_version=99),
        "invalid_event:wrong_types": variant(input_tokens="many", success="yes"),
        "invalid_event:missing_fields": orjson.dumps({**missing, "event_id": str(uuid.uuid4())}),
        "invalid_event:negative_tokens": variant(output_tokens=-3),
        "oversized": variant(request_metadata={"blob": "x" * 70_000}),
    }


async def produce(settings: Settings, events: list[dict[str, Any]]) -> None:
    async with EventProducer(settings.kafka.bootstrap, settings.kafka.topic) as producer:
        await producer.send_all(events)


async def produce_raw(settings: Settings, values: list[bytes]) -> None:
    """Bytes as they are, past the producer library's validation (a hostile producer)."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap)
    await producer.start()
    try:
        futures = [await producer.send(settings.kafka.topic, value=v, key=b"raw") for v in values]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def test_mixed_stream_counts_every_event_once_and_dead_letters_the_rest(
    pipeline: tuple[Api, Settings, IngestRuntime],
) -> None:
    api, settings, runtime = pipeline
    clients = {"alpha": 700, "beta": 400, "gamma": 150, "delta": 60}
    keys = {c: await api.new_client(c) for c in clients}
    end = datetime.now(UTC)
    events = list(EventFactory(seed=5).month(clients, end - timedelta(days=20), end))
    first, later = events[: len(events) // 2], events[len(events) // 2 :]
    # Exact duplicates inside the stream, and events re-sent after they were stored.
    await produce(settings, first + first[:100])
    assert runtime.sink is not None
    sink = runtime.sink

    await wait_for(_async(lambda: sink.stats.events >= len(first) + 100), 60, "first half")
    bad = invalid_events(events[0])
    await produce(settings, later + first[200:300])
    await produce_raw(settings, list(bad.values()))
    # A batch message mixing a good event and a bad one: the good one counts, the bad one
    # is dead-lettered on its own with its index in the batch.
    extra = {**events[1], "event_id": str(uuid.uuid4())}
    negative = {**events[2], "event_id": str(uuid.uuid4()), "input_tokens": -7}
    await produce_raw(settings, [orjson.dumps([extra, negative])])
    events.append(extra)
    total = len(first) + 100 + len(later) + 100 + len(bad) + 2
    await wait_for(_async(lambda: sink.stats.events >= total), 60, "whole stream")

    assert sink.stats.inserted == len(events)
    assert sink.stats.duplicates == 200
    assert sink.stats.dead_lettered == len(bad) + 1
    start, stop = (end - timedelta(days=21)).isoformat(), (end + timedelta(seconds=1)).isoformat()
    for client, key in keys.items():
        mine = [e for e in events if e["client_id"] == client]
        _, summary = await api.get(f"{BASE}/usage/summary", key, start_date=start, end_date=stop)
        oracle.assert_metrics(summary["totals"], oracle.totals(mine))
        _, by_provider = await api.get(
            f"{BASE}/usage/by-provider", key, start_date=start, end_date=stop
        )
        oracle.assert_metrics(by_provider["totals"], oracle.totals(mine))
        _, logs = await api.get(f"{BASE}/logs", key, limit=1000)
        assert logs["total"] == len(mine)

    letters = await dead_letters(settings, len(bad) + 1)
    assert len(letters) == len(bad) + 1
    by_value = {r.value: dict(r.headers) for r in letters}
    in_batch = by_value[orjson.dumps(negative)]
    assert in_batch["llmhub.reason"] == b"invalid_event"
    assert in_batch["llmhub.source.index"] == b"1"
    for kind, value in bad.items():
        headers = by_value[value]  # the original bytes, unchanged
        assert headers["llmhub.reason"].decode() == kind.split(":")[0]
        assert orjson.loads(headers["llmhub.errors"])
        assert headers["llmhub.source.topic"].decode() == settings.kafka.topic
        assert int(headers["llmhub.source.offset"]) >= 0
    missing = orjson.loads(by_value[bad["invalid_event:missing_fields"]]["llmhub.errors"])
    assert {tuple(e["loc"]) for e in missing} == {("model",), ("latency_ms",)}

    # Everything stored was committed, and nothing beyond the end.
    await wait_for(
        lambda: _offsets_match(settings), 15, "committed offsets to reach the end offsets"
    )


async def _offsets_match(settings: Settings) -> bool:
    ends = await end_offsets(settings)
    done = await committed(settings)
    return all(done.get(p, 0) == end for p, end in ends.items() if end > 0)


async def test_storage_outage_commits_nothing_early_and_recovers_alone(
    pipeline: tuple[Api, Settings, IngestRuntime],
) -> None:
    api, settings, runtime = pipeline
    key = await api.new_client("outage")
    end = datetime.now(UTC)
    events = list(EventFactory(seed=9).month({"outage": 800}, end - timedelta(days=2), end))
    await produce(settings, events[:200])
    assert runtime.sink is not None
    sink = runtime.sink
    await wait_for(_async(lambda: sink.stats.inserted == 200), 60, "first events stored")
    await wait_for(lambda: _offsets_match(settings), 15, "first commit")
    before = await committed(settings)

    db = api.pool.database
    api.pool.command(f"DETACH TABLE {db}.generations")
    try:
        await produce(settings, events[200:])
        await wait_for(_async(lambda: sink.stats.storage_retries >= 3), 30, "failing inserts")
        assert not sink.stats.storage_ok
        await asyncio.sleep(2.5)  # more than a commit interval
        assert await committed(settings) == before, "offsets committed while storage was down"
    finally:
        api.pool.command(f"ATTACH TABLE {db}.generations")
    await wait_for(_async(lambda: sink.stats.inserted == len(events)), 60, "recovery")
    assert sink.stats.storage_ok
    assert sink.stats.dead_lettered == 0, "an outage is retried, never dead-lettered"
    _, summary = await api.get(
        f"{BASE}/usage/summary",
        key,
        start_date=(end - timedelta(days=3)).isoformat(),
        end_date=(end + timedelta(seconds=1)).isoformat(),
    )
    oracle.assert_metrics(summary["totals"], oracle.totals(events))
    await wait_for(lambda: _offsets_match(settings), 15, "final commit")


def _async(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def run() -> bool:
        return check()

    return run


async def test_http_ingest_validates_all_then_publishes_and_acks(
    pipeline: tuple[Api, Settings, IngestRuntime],
) -> None:
    api, _, runtime = pipeline
    key = await api.new_client("http")
    end = datetime.now(UTC)
    events = list(EventFactory(seed=21).month({"http": 50}, end - timedelta(hours=5), end))
    url = f"{api.base_url}/ingest/v1/events"
    good = {"Authorization": "Bearer ingest-secret"}

    async with api.session.post(url, json=events[:2]) as r:
        assert r.status == 401
    broken = [events[0], {**events[1], "input_tokens": -1, "provider": ""}, "nope"]
    async with api.session.post(url, json=broken, headers=good) as r:
        assert r.status == 422
        locs = sorted(e["loc"] for e in (await r.json())["detail"])
        assert locs == [["body", 1, "input_tokens"], ["body", 1, "provider"], ["body", 2]]
    async with api.session.post(url, json=events[0], headers=good) as r:
        assert r.status == 202 and (await r.json())["accepted"] == 1
    async with api.session.post(url, json=events, headers=good) as r:
        body = await r.json()
        assert r.status == 202 and body["accepted"] == 50
        assert body["event_ids"] == [e["event_id"] for e in events]
    assert runtime.sink is not None
    sink = runtime.sink
    await wait_for(_async(lambda: sink.stats.events == 51), 30, "ingested events")
    _, logs = await api.get(f"{BASE}/logs", key, limit=100)
    assert logs["total"] == 50  # the first event, sent twice, is counted once
    admin = {"Authorization": f"Bearer {api.admin_token}"}
    async with api.session.get(f"{api.base_url}/healthz", headers=admin) as r:
        health = (await r.json())["details"]
        assert health["sink"]["inserted"] == 50 and health["sink"]["duplicates"] == 1


async def test_a_rebalance_waits_for_the_batch_being_stored_and_counts_each_event_once(
    pipeline: tuple[Api, Settings, IngestRuntime], tmp_path: Path
) -> None:
    """A second worker joins the group mid-stream and leaves again: the partitions move twice
    while events are being stored; the revocation waits ran and every event is stored once."""
    api, settings, runtime = pipeline
    await api.new_client("moving")
    end = datetime.now(UTC)
    events = list(EventFactory(seed=8).month({"moving": 3000}, end - timedelta(days=2), end))
    await produce(settings, events[:1500])
    worker = settings.worker.model_copy(
        update={"state_dir": tmp_path / "second", "instance_id": "second-worker"}
    )
    storage = api.services.storage
    second = IngestRuntime(
        settings.model_copy(update={"worker": worker}),
        storage.events,
        api.services.limits,
        storage.dead_letters,
    )
    await second.start()  # joins the group: the first worker's partitions are revoked
    try:
        await wait_for(_async(lambda: runtime.revocations >= 1), 60, "a revocation")
        await produce(settings, events[1500:])
    finally:
        await second.stop()  # leaves: the partitions come back
    assert runtime.sink is not None and second.sink is not None
    first_sink, second_sink = runtime.sink, second.sink
    await wait_for(
        _async(lambda: first_sink.stats.inserted + second_sink.stats.inserted >= len(events)),
        90,
        "every event",
    )
    db = api.pool.database
    rows = api.pool.query_rows(
        f"SELECT count(), uniqExact(event_id) FROM {db}.generations WHERE client_id = 'moving'"
    )
    assert rows == [(len(events), len(events))]
