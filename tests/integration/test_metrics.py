"""Metrics and request ids, scraped after real traffic: the API in-process, the worker as the
real ``llmhub-worker`` process on the real broker (its own embedded engine directory)."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import socket
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from cli.logs import JsonFormatter
from ingest.producer import EventProducer
from tests.conftest import Api
from tests.integration.test_webhooks import event

BASE = "/api/v1/llm/billing"


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample as {(name, sorted labels): value}."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(session: aiohttp.ClientSession, url: str) -> dict[Any, float]:
    async with session.get(f"{url}/metrics") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        return parse(await r.text())


async def test_api_metrics_count_operations_statuses_and_latency(api: Api) -> None:
    key = await api.new_client("metrics-co", "10")
    before = await scrape(api.session, api.base_url)
    summary = f"{BASE}/usage/summary"
    for _ in range(3):
        assert (await api.get(summary, key))[0] == 200
    assert (await api.get(summary, "llmh_wrong"))[0] == 401
    assert (await api.get(summary, key, group_by="week"))[0] == 422
    assert (await api.get(f"{BASE}/logs/{uuid.uuid4()}", key))[0] == 404
    assert (await api.get("/no/such/path", key))[0] == 404
    after = await scrape(api.session, api.base_url)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "llmhub_http_requests_total"
    assert moved(requests, operation=summary, method="GET", status="200") == 3
    assert moved(requests, operation=summary, method="GET", status="401") == 1
    assert moved(requests, operation=summary, method="GET", status="422") == 1
    detail = f"{BASE}/logs/{{log_id}}"
    assert moved(requests, operation=detail, method="GET", status="404") == 1
    assert moved(requests, operation="unmatched", method="GET", status="404") == 1
    latency = "llmhub_http_request_duration_seconds"
    assert moved(f"{latency}_count", operation=summary) == 5
    assert moved(f"{latency}_sum", operation=summary) > 0
    # Every observation is in the +Inf bucket; a fast answer is in a small one too.
    assert moved(f"{latency}_bucket", operation=summary, le="+Inf") == 5
    assert moved(f"{latency}_bucket", operation=summary, le="10.0") == 5


async def test_request_id_is_echoed_or_generated_and_in_the_json_log(api: Api) -> None:
    key = await api.new_client("rid-co")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    access = logging.getLogger("llmhub.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        url = f"{api.base_url}{BASE}/usage/current-month"
        async with api.session.get(
            url, headers={"x-api-key": key, "X-Request-Id": "trace-abc.123"}
        ) as r:
            assert r.status == 200 and r.headers["X-Request-Id"] == "trace-abc.123"
        async with api.session.get(url, headers={"X-Request-Id": "bad id\twith spaces"}) as r:
            assert r.status == 422  # no key: the header is a required parameter
            generated = r.headers["X-Request-Id"]
            assert len(generated) == 32 and generated != "bad id\twith spaces"
    finally:
        access.removeHandler(handler)
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    first, second = lines[-2:]
    assert first["request_id"] == "trace-abc.123" and first["status"] == 200
    assert first["operation"] == f"{BASE}/usage/current-month" and first["duration_ms"] > 0
    assert (second["request_id"], second["status"]) == (generated, 422)
    assert {"ts", "level", "logger", "msg", "method", "path"} <= set(first)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def until(check: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.kafka
async def test_worker_metrics_follow_stored_duplicated_dead_lettered_unpriced(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    suffix = uuid.uuid4().hex[:8]
    topic = f"metrics-{suffix}"
    port = _free_port()
    health_port = _free_port()
    env = {
        **os.environ,
        "LLMHUB_CLICKHOUSE_URL": "",
        "LLMHUB_CLICKHOUSE_DATA_DIR": str(tmp_path / "engine"),
        "LLMHUB_WORKER_STATE_DIR": str(tmp_path / "worker"),
        "LLMHUB_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "LLMHUB_KAFKA_TOPIC": topic,
        "LLMHUB_KAFKA_DLQ_TOPIC": f"{topic}.dlq",
        "LLMHUB_KAFKA_GROUP": f"metrics-{suffix}",
        "LLMHUB_KAFKA_PARTITIONS": "2",
        "LLMHUB_WORKER_BATCH_WINDOW_S": "0.1",
        "LLMHUB_METRICS_PORT": str(port),
        # The worker's health server (the API's /healthz, /readyz) is the same server.
        "LLMHUB_WORKER_HEALTH_PORT": str(health_port),
    }
    log = tmp_path / "worker.log"
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli.worker", env=env, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:

            async def ready() -> bool:
                assert proc.returncode is None, log.read_text()[-3000:]
                try:
                    async with session.get(f"{url}/readyz") as r:
                        return r.status == 200
                except aiohttp.ClientError:
                    return False

            await until(ready, 90, "worker ready")
            now = datetime.now(UTC)
            valid = [event(f"c{n % 3}", now - timedelta(minutes=n), "0.5") for n in range(20)]
            unpriced = {**event("c0", now, "0"), "model": "no-such-model"}
            del unpriced["cost_usd"]
            async with EventProducer(kafka_bootstrap, topic) as producer:
                await producer.send_all([*valid, unpriced])
                await producer.send_all(valid[:5])  # re-sent: duplicates
            raw = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
            await raw.start()
            try:
                for bad in (b"{not json", b'{"client_id": "c1"}'):
                    await (await raw.send(topic, bad, key=b"c1"))
            finally:
                await raw.stop()

            async def settled() -> bool:
                m = await scrape(session, url)
                return (
                    value(m, "llmhub_sink_events_stored_total") == 21
                    and value(m, "llmhub_sink_events_duplicated_total") == 5
                    and value(m, "llmhub_sink_events_dead_lettered_total") == 2
                )

            await until(settled, 60, "the sink counters")
            m = await scrape(session, url)
            assert value(m, "llmhub_sink_events_unpriced_total") == 1
            assert value(m, "llmhub_sink_events_total") == 28
            assert value(m, "llmhub_sink_retries_total") == 0
            assert value(m, "llmhub_sink_storage_ok") == 1
            batches = value(m, "llmhub_sink_batches_total")
            assert batches >= 1
            assert value(m, "llmhub_sink_batch_messages_count") == batches
            assert value(m, "llmhub_sink_batch_messages_sum") == value(
                m, "llmhub_sink_messages_total"
            )
            assert value(m, "llmhub_sink_batch_events_sum") == 28
            assert value(m, "llmhub_sink_insert_seconds_count") >= 1

            async def caught_up() -> bool:
                m = await scrape(session, url)
                lags = {k: v for k, v in m.items() if k[0] == "llmhub_sink_consumer_lag"}
                partitions = {dict(k[1])["partition"] for k in lags}
                return partitions == {"0", "1"} and sum(lags.values()) == 0

            await until(caught_up, 30, "lag 0 on both partitions")
            async with session.get(f"{url}/healthz") as r:
                assert r.status == 200
            health = f"http://127.0.0.1:{health_port}"
            for path in ("/healthz", "/readyz"):
                async with session.get(f"{health}{path}") as r:
                    assert r.status == 200, path
            m = await scrape(session, health)
            assert value(m, "llmhub_sink_events_stored_total") == 21
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()
