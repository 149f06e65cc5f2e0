"""The sink's failure model on the real broker and engine: no record stalls it, none is lost.

Each test is the regression test of a bug the sink had (issue 8): a record the engine refuses
or a backfill over 100 months stalled everything; a tombstone or a batch that failed while
being prepared lost its neighbours; health said "ok" while stuck. Every record must end stored
or dead-lettered with a reason, the committed offsets must reach the end, and an outage of the
storage is retried, never dead-lettered.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from core.settings import Settings
from ingest.runtime import IngestRuntime
from ingest.synthetic import EventFactory
from storage import DeadLetterFilter
from tests import oracle
from tests.conftest import Api
from tests.integration.test_ingest_e2e import (
    _offsets_match,
    committed,
    dead_letters,
    pipeline_settings,
    produce,
    running_pipeline,
    wait_for,
)
from tests.integration.test_rollups import rollup_vs_raw

pytestmark = pytest.mark.kafka
BASE = "/api/v1/llm/billing"


def _check(fn: Any) -> Any:
    async def run() -> bool:
        return bool(fn())

    return run


@pytest.fixture
async def sink(
    api: Api, settings: Settings, kafka_bootstrap: str, tmp_path: Path
) -> AsyncIterator[tuple[Api, Settings, IngestRuntime]]:
    full = pipeline_settings(settings, kafka_bootstrap, tmp_path, stall_s=3, shutdown_grace_s=2)
    async with running_pipeline(api, full) as runtime:
        yield api, full, runtime


def _events(clients: dict[str, int], seed: int) -> list[dict[str, Any]]:
    end = datetime.now(UTC)
    return list(EventFactory(seed=seed).month(clients, end - timedelta(days=5), end))


async def _raw(settings: Settings, records: list[tuple[bytes | None, bytes | None]]) -> None:
    """(key, value) records as they are, past the producer library's validation."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap)
    await producer.start()
    try:
        sent = [await producer.send(settings.kafka.topic, key=k, value=v) for k, v in records]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def _logs_total(api: Api, key: str) -> int:
    _, body = await api.get(f"{BASE}/logs", key, limit=1)
    return int(body["total"])


async def _all_stored(api: Api, keys: dict[str, str], events: list[dict[str, Any]]) -> None:
    for client, key in keys.items():
        mine = sum(e["client_id"] == client for e in events)
        await wait_for(lambda k=key, n=mine: _equals(_logs_total(api, k), n), 60, client)


async def _equals(value: Any, expected: int) -> bool:
    return bool(await value == expected)


async def test_backfill_over_100_months_is_stored_once_per_block(
    sink: tuple[Api, Settings, IngestRuntime],
) -> None:
    api, settings, runtime = sink
    key = await api.new_client("history")
    template = _events({"history": 1}, 3)[0]
    now = datetime.now(UTC)
    # One event a month for 130 months, in one batch message: one insert would touch 130
    # partitions, which ClickHouse refuses (TOO_MANY_PARTS) however often it is retried.
    events = [
        {
            **template,
            "event_id": str(uuid.uuid4()),
            "occurred_at": (now - timedelta(days=30.5 * i)).isoformat(),
        }
        for i in range(130)
    ]
    await _raw(settings, [(b"history", orjson.dumps(events))])
    assert runtime.sink is not None
    stats = runtime.sink.stats
    await wait_for(_check(lambda: stats.events >= len(events)), 60, "the backfill")
    assert stats.inserted == len(events) and stats.dead_lettered == 0
    assert await _logs_total(api, key) == len(events)
    rollup, raw = rollup_vs_raw(api)
    assert rollup == raw and sum(r[6] for r in rollup) == len(events)
    await wait_for(lambda: _offsets_match(settings), 15, "the commit")


async def test_a_record_the_engine_refuses_is_dead_lettered_and_its_neighbours_stored(
    sink: tuple[Api, Settings, IngestRuntime],
) -> None:
    api, settings, runtime = sink
    db = api.pool.database
    # A rule of the engine's own that one valid event breaks: the engine, not our code,
    # refuses it (VIOLATED_CONSTRAINT), as it would a value its column cannot hold.
    api.pool.command(
        f"ALTER TABLE {db}.generations ADD CONSTRAINT no_poison CHECK model != 'poison-1'"
    )
    clients = {"left": 300, "right": 200}
    keys = {c: await api.new_client(c) for c in clients}
    events = _events(clients, 11)
    poison = {**events[7], "event_id": str(uuid.uuid4()), "model": "poison-1"}
    in_batch = {**events[8], "event_id": str(uuid.uuid4()), "model": "poison-1"}
    await produce(settings, events[:250])
    await _raw(
        settings,
        [
            (b"left", orjson.dumps(poison)),
            # A batch message: the good events in it count, the poison one is pinned alone.
            (b"right", orjson.dumps([events[250], in_batch, events[251]])),
        ],
    )
    await produce(settings, events[252:])
    assert runtime.sink is not None
    stats = runtime.sink.stats
    await _all_stored(api, keys, events)
    await wait_for(_check(lambda: stats.dead_lettered == 2), 30, "two dead letters")
    assert stats.refused_by_storage == 2 and stats.inserted == len(events)
    letters = await dead_letters(settings, 2)
    by_value = {r.value: dict(r.headers) for r in letters}
    for bad, index in ((poison, b"-1"), (in_batch, b"1")):
        headers = by_value[orjson.dumps(bad)]
        assert headers["llmhub.reason"] == b"engine_refused"
        assert b"VIOLATED_CONSTRAINT" in headers["llmhub.errors"]
        assert headers["llmhub.source.index"] == index
    table = api.services.storage.dead_letters
    counts = await asyncio.to_thread(table.counts, DeadLetterFilter())
    expected: dict[str, int] = {}
    for bad in (poison, in_batch):
        expected[bad["client_id"]] = expected.get(bad["client_id"], 0) + 1
    assert {(c["reason"], c["client_id"], c["count"]) for c in counts} == {
        ("engine_refused", client, n) for client, n in expected.items()
    }
    await wait_for(lambda: _offsets_match(settings), 15, "the commit past the poison")


async def test_tombstone_and_undecodable_records_are_dead_lettered_alone(
    sink: tuple[Api, Settings, IngestRuntime],
) -> None:
    api, settings, runtime = sink
    keys = {"tomb": await api.new_client("tomb")}
    events = _events({"tomb": 120}, 12)
    await produce(settings, events[:60])
    # A null value (a tombstone) between valid events of the same partition.
    await _raw(settings, [(b"tomb", None)])
    await produce(settings, events[60:])
    assert runtime.sink is not None
    stats = runtime.sink.stats
    await _all_stored(api, keys, events)
    await wait_for(_check(lambda: stats.dead_lettered == 1), 30, "the tombstone's dead letter")
    (letter,) = await dead_letters(settings, 1)
    assert letter.value is None
    headers = dict(letter.headers)
    assert headers["llmhub.reason"] in (b"undecodable", b"tombstone", b"null_value", b"empty_value")
    await wait_for(lambda: _offsets_match(settings), 15, "the commit past the tombstone")


def _deep(depth: int) -> bytes:
    """A JSON object nested ``depth`` levels: the parser takes it, the encoder cannot."""
    return b'{"a":' * depth + b"1" + b"}" * depth


async def test_a_batch_failing_while_prepared_loses_nothing(
    sink: tuple[Api, Settings, IngestRuntime],
) -> None:
    api, settings, runtime = sink
    clients = {"calm": 150, "other": 150}
    keys = {c: await api.new_client(c) for c in clients}
    events = _events(clients, 13)
    template = orjson.dumps({**events[0], "event_id": str(uuid.uuid4())})
    deep = template[:-1] + b',"request_metadata":' + _deep(300) + b"}"
    # Between its neighbours: the sink prepares them together in one batch.
    await produce(settings, events[:150])
    await _raw(settings, [(b"calm", deep)])
    await produce(settings, events[150:])
    assert runtime.sink is not None
    stats = runtime.sink.stats
    await _all_stored(api, keys, events)
    await wait_for(_check(lambda: stats.dead_lettered == 1), 30, "the deep event's dead letter")
    assert stats.inserted == len(events)
    for client, key in keys.items():
        mine = [e for e in events if e["client_id"] == client]
        _, summary = await api.get(
            f"{BASE}/usage/summary",
            key,
            start_date=(datetime.now(UTC) - timedelta(days=6)).isoformat(),
            end_date=(datetime.now(UTC) + timedelta(seconds=1)).isoformat(),
        )
        oracle.assert_metrics(summary["totals"], oracle.totals(mine))
    await wait_for(lambda: _offsets_match(settings), 15, "the commit")


async def _health(api: Api, path: str, admin: bool) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {api.admin_token}"} if admin else {}
    async with api.session.get(f"{api.base_url}{path}", headers=headers) as r:
        return r.status, dict(await r.json())


async def test_outage_is_retried_health_says_so_and_sigterm_is_bounded(
    sink: tuple[Api, Settings, IngestRuntime],
) -> None:
    api, settings, runtime = sink
    key = await api.new_client("stuck")
    events = _events({"stuck": 400}, 14)
    await produce(settings, events[:100])
    assert runtime.sink is not None
    stats = runtime.sink.stats
    await wait_for(_check(lambda: stats.inserted == 100), 60, "first events")
    await wait_for(lambda: _offsets_match(settings), 15, "first commit")
    assert (await _health(api, "/healthz", False))[0] == 200
    before = await committed(settings)

    db = api.pool.database
    api.pool.command(f"DETACH TABLE {db}.generations")
    try:
        await produce(settings, events[100:])
        await wait_for(_check(lambda: stats.storage_retries >= 2), 30, "failing inserts")
        # Retrying longer than stall_s (3 s here) is stuck: liveness fails, with the reason.
        await asyncio.sleep(3.5)
        status, body = await _health(api, "/healthz", False)
        assert status == 503 and body["reason"].startswith("sink stuck retrying")
        assert set(body) == {"status", "reason"}, "internals are for the admin only"
        status, body = await _health(api, "/readyz", False)
        assert status == 503 and "retrying" in body["reason"]
        status, body = await _health(api, "/healthz", True)
        sink_details = body["details"]["sink"]
        assert status == 503 and "UNKNOWN_TABLE" in sink_details["last_error"]
        assert sum(sink_details["lag"].values()) > 0  # records (batch messages) waiting
        assert stats.dead_lettered == 0, "an outage is retried, never dead-lettered"
        # SIGTERM while stuck: the batch gets its grace (2 s), then is left for redelivery.
        started = time.monotonic()
        await asyncio.wait_for(runtime.stop(), 60)
        stop_s = time.monotonic() - started
        print(f"stop while stuck took {stop_s:.2f} s (grace 2 s)")
        assert await committed(settings) == before, "committed past unstored records"
    finally:
        api.pool.command(f"ATTACH TABLE {db}.generations")
    # A new worker of the same group takes the rest over: every event once.
    async with running_pipeline(api, settings) as second:
        assert second.sink is not None
        second_stats = second.sink.stats
        await wait_for(_check(lambda: second_stats.events >= 300), 60, "redelivery")
        assert await _logs_total(api, key) == len(events)
        await wait_for(lambda: _offsets_match(settings), 15, "the final commit")
        assert (await _health(api, "/readyz", False))[0] == 200
