"""SIGKILL the running service mid-stream and restart it: the totals stay exact.

The service runs as a real separate process (``llmhub-serve``: API + Faust sink on its own
embedded engine directory), as in production; the test only talks HTTP and Kafka to it.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from ingest.producer import EventProducer
from ingest.synthetic import EventFactory
from tests import oracle
from tests.faults.service import ADMIN_TOKEN, Service, service_env

pytestmark = pytest.mark.kafka
BASE = "/api/v1/llm/billing"


@pytest.fixture
async def service(
    tmp_path: Path, kafka_bootstrap: str
) -> AsyncIterator[tuple[Service, aiohttp.ClientSession]]:
    env = service_env(
        tmp_path,
        kafka_bootstrap,
        # Small batches: the kill lands between many insert/commit steps.
        LLMHUB_WORKER_BATCH_SIZE="3",
        LLMHUB_WORKER_BATCH_WINDOW_S="0.05",
        # Long, as in production: with static membership the restarted worker must not wait
        # for the group to give up on the killed one.
        LLMHUB_WORKER_SESSION_TIMEOUT_S="45",
    )
    svc = Service(env, tmp_path / "serve.log")
    async with aiohttp.ClientSession() as session:
        await svc.start(session)
        try:
            yield svc, session
        finally:
            await svc.stop(signal.SIGTERM)


async def test_sigkill_mid_stream_then_restart_keeps_totals_exact(
    service: tuple[Service, aiohttp.ClientSession],
) -> None:
    svc, session = service
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    keys = {}
    for client in ("north", "south"):
        async with session.post(
            f"{svc.url}/admin/v1/clients", json={"client_id": client, "name": client}, headers=admin
        ) as r:
            assert r.status == 201
        async with session.post(
            f"{svc.url}/admin/v1/clients/{client}/keys", json={}, headers=admin
        ) as r:
            keys[client] = (await r.json())["api_key"]
    end = datetime.now(UTC)
    events = list(
        EventFactory(seed=33).month({"north": 9000, "south": 6000}, end - timedelta(days=3), end)
    )
    env = svc.env
    async with EventProducer(env["LLMHUB_KAFKA_BOOTSTRAP"], env["LLMHUB_KAFKA_TOPIC"]) as producer:
        await producer.send_all(events)

    # Kill -9 once part of the backlog is stored, and not all of it.
    deadline = time.monotonic() + 60
    while True:
        inserted = (await svc.health(session))["sink"]["inserted"]
        if inserted >= 1500:
            break
        assert time.monotonic() < deadline, "sink made no progress"
        await asyncio.sleep(0.05)
    await svc.stop(signal.SIGKILL)
    assert inserted < len(events), "the kill came too late to test anything"

    restarted = time.monotonic()
    await svc.start(session)
    while (await svc.health(session))["sink"]["inserted"] == 0:
        assert time.monotonic() - restarted < 30, "the restarted worker waited for the group"
        await asyncio.sleep(0.1)
    print(f"consuming again {time.monotonic() - restarted:.1f} s after the restart")
    window = {
        "start_date": (end - timedelta(days=4)).isoformat(),
        "end_date": (end + timedelta(seconds=1)).isoformat(),
    }
    deadline = time.monotonic() + 90
    for client, key in keys.items():
        mine = [e for e in events if e["client_id"] == client]
        while True:
            async with session.get(
                f"{svc.url}{BASE}/usage/summary", params=window, headers={"x-api-key": key}
            ) as r:
                body = await r.json()
            if body["totals"]["calls"] >= len(mine) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        oracle.assert_metrics(body["totals"], oracle.totals(mine))
    # Let the sink finish the redelivered tail, then check nothing was counted twice.
    await asyncio.sleep(2)
    for client, key in keys.items():
        async with session.get(
            f"{svc.url}{BASE}/logs", params={"limit": "1"}, headers={"x-api-key": key}
        ) as r:
            assert (await r.json())["total"] == sum(e["client_id"] == client for e in events)

    # SIGTERM: the sink stops cleanly and its last commit covers everything it stored.
    await svc.stop(signal.SIGTERM)
    assert svc.proc is not None and svc.proc.returncode == 0
    assert await _committed(env) == await _end_offsets(env)


async def _committed(env: dict[str, str]) -> dict[int, int]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=env["LLMHUB_KAFKA_BOOTSTRAP"])
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(env["LLMHUB_KAFKA_GROUP"])
    finally:
        await admin.close()
    return {tp.partition: m.offset for tp, m in offsets.items()}


async def _end_offsets(env: dict[str, str]) -> dict[int, int]:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=env["LLMHUB_KAFKA_BOOTSTRAP"])
    await consumer.start()
    try:
        topic = env["LLMHUB_KAFKA_TOPIC"]
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(4)])
    finally:
        await consumer.stop()
    return {tp.partition: off for tp, off in ends.items() if off > 0}
