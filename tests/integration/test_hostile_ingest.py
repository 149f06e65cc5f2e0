"""The hostile corpus through the real broker into a real worker, amid valid traffic.

Valid events for several clients and every hostile record (tests/hostile.py) are produced
interleaved; then every valid event (the corpus's edge-but-valid ones included) must be stored
exactly once with totals equal to the oracle's, every refused one must be in the dead-letter
topic with its reason and its place (partition, offset, index in a batch), and the committed
offsets must reach the end: nothing stalls, nothing needs a restart.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from core.settings import Settings
from ingest.runtime import IngestRuntime
from ingest.synthetic import EventFactory
from tests import hostile, oracle
from tests.conftest import Api
from tests.integration.test_ingest_e2e import (  # noqa: F401 (pipeline is a fixture)
    _offsets_match,
    dead_letters,
    pipeline,
    wait_for,
)

BASE = "/api/v1/llm/billing"
pytestmark = pytest.mark.kafka
HOSTILE = "hostile"
# The broker refuses a message over ~1 MB (message.max.bytes): those never reach the sink.
TRANSPORTABLE = 1_000_000
# Wide enough for every accepted date (2000-01-01+14:00 .. 2099-12-31-12:00).
START, END = "1999-12-31T00:00:00Z", "2100-01-02T00:00:00Z"


def _records(split_inserts: bool) -> list[hostile.Hostile]:
    return [
        r
        for r in hostile.corpus(HOSTILE)
        if (r.value is None or len(r.value) < TRANSPORTABLE)
        and r.needs_split_inserts == split_inserts
    ]


async def _send(
    settings: Settings, valid: list[dict[str, Any]], records: list[hostile.Hostile]
) -> dict[tuple[int, int], hostile.Hostile]:
    """Valid events and hostile records interleaved; returns where each hostile record went."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap, linger_ms=5)
    await producer.start()
    placed: dict[tuple[int, int], hostile.Hostile] = {}
    try:
        step = max(1, len(valid) // max(1, len(records)))
        pending: list[tuple[asyncio.Future[Any], hostile.Hostile | None]] = []
        for i, record in enumerate(records):
            for event in valid[i * step : (i + 1) * step]:
                value = orjson.dumps(event)
                key = event["client_id"].encode()
                pending.append((await producer.send(settings.kafka.topic, value, key=key), None))
            key = HOSTILE.encode()
            pending.append(
                (await producer.send(settings.kafka.topic, record.value, key=key), record)
            )
        for event in valid[len(records) * step :]:
            value = orjson.dumps(event)
            await producer.send(settings.kafka.topic, value, key=event["client_id"].encode())
        for future, sent in pending:
            meta = await future
            if sent is not None:
                placed[(meta.partition, meta.offset)] = sent
        await producer.flush()
    finally:
        await producer.stop()
    return placed


async def _assert_totals(api: Api, keys: dict[str, str], stored: list[dict[str, Any]]) -> None:
    for client, key in keys.items():
        mine = [e for e in stored if e["client_id"] == client]
        status, body = await api.get(
            f"{BASE}/usage/by-provider", key, start_date=START, end_date=END
        )
        assert status == 200, body
        oracle.assert_metrics(body["totals"], oracle.totals(mine))
        _, logs = await api.get(f"{BASE}/logs", key, limit=1)
        assert logs["total"] == len(mine), client  # logs and usage count the same events


async def test_hostile_corpus_amid_valid_traffic(
    pipeline: tuple[Api, Settings, IngestRuntime],  # noqa: F811
) -> None:
    api, settings, runtime = pipeline
    clients = {"alpha": 300, "beta": 200, "gamma": 100}
    keys = {c: await api.new_client(c) for c in [*clients, HOSTILE]}
    now = datetime.now(UTC)
    valid = list(EventFactory(seed=88).month(clients, now - timedelta(days=3), now))
    records = _records(split_inserts=False)
    placed = await _send(settings, valid, records)
    assert len(placed) == len(records)

    sink = runtime.sink
    assert sink is not None
    outcomes = len(valid) + sum(len(r.expected) for r in records)
    await wait_for(_async(lambda: sink.stats.events >= outcomes), 120, "every record judged")
    refusals = sum(v != hostile.STORED for r in records for v in r.expected)
    corpus_stored = hostile.stored_events(records)
    assert sink.stats.dead_lettered == refusals
    assert sink.stats.inserted == len(valid) + len(corpus_stored)

    letters = await dead_letters(settings, refusals)
    assert len(letters) == refusals
    found: dict[tuple[int, int], dict[int, str]] = {}
    for letter in letters:
        h = {k: v.decode() for k, v in letter.headers}
        assert h["llmhub.source.topic"] == settings.kafka.topic
        assert h["llmhub.errors"] not in ("", "[]")
        place = (int(h["llmhub.source.partition"]), int(h["llmhub.source.offset"]))
        found.setdefault(place, {})[int(h["llmhub.source.index"])] = h["llmhub.reason"]
    for place, record in placed.items():
        # Events of a batch message are refused with their index; a whole message with -1.
        batch = (
            record.value is not None
            and record.value.strip() not in (b"[]",)
            and (record.value.lstrip()[:1] == b"[")
        )
        refused = {
            (i if batch else -1): reason
            for i, reason in enumerate(record.expected)
            if reason != hostile.STORED
        }
        assert found.get(place, {}) == refused, record.name

    await _assert_totals(api, keys, [*valid, *corpus_stored])
    await wait_for(lambda: _offsets_match(settings), 30, "committed offsets at the end")


async def test_backfill_over_100_months_is_stored_without_stalling(
    pipeline: tuple[Api, Settings, IngestRuntime],  # noqa: F811
) -> None:
    api, settings, runtime = pipeline
    keys = {HOSTILE: await api.new_client(HOSTILE)}
    [backfill] = _records(split_inserts=True)
    now = datetime.now(UTC)
    later = [
        {**e, "client_id": HOSTILE, "event_id": str(uuid.uuid4())}
        for e in EventFactory(seed=3).month({HOSTILE: 20}, now - timedelta(hours=2), now)
    ]
    await _send(settings, later, [backfill])
    sink = runtime.sink
    assert sink is not None
    total = len(backfill.expected) + len(later)
    try:
        await wait_for(_async(lambda: sink.stats.inserted >= total), 45, "backfill stored")
        await _assert_totals(api, keys, [*backfill.stored, *later])
    finally:
        # Should a sink stall on it again, let the retried insert through so the worker stops.
        pool: Any = api.pool  # the pool the store inserts through
        original = pool.insert_arrow

        def unlimited(table: str, data: Any, settings: dict[str, Any] | None = None) -> None:
            original(table, data, {**(settings or {}), "max_partitions_per_insert_block": 0})

        pool.insert_arrow = functools.partial(unlimited)


def _async(check: Any) -> Any:
    async def run() -> bool:
        return bool(check())

    return run
