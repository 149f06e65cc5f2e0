"""The fault scenarios. Each sends real traffic, injects its fault, waits until the sink has
committed everything, and returns an :class:`Outcome` with the exact ledger."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from ingest.dead_letters import read_all
from ingest.producer import EventProducer
from ingest.synthetic import EventFactory
from tests.faults import ledger
from tests.faults.load import ids_by_client, run_load
from tests.faults.service import ROOT, Service, broker, service_env


@dataclass
class Outcome:
    scenario: str
    injected: str
    sent: int  # valid events acknowledged by the broker
    hostile: int = 0  # records sent that must be dead-lettered
    dead_lettered: int = 0
    books: ledger.Ledger | None = None
    stall_s: float = 0.0  # longest time the sink made no progress while work was waiting
    http_5xx: int = 0
    notes: dict[str, str] = field(default_factory=dict)


def events(count: int, clients: int, seed: int) -> list[dict[str, Any]]:
    """``count`` valid events of ``clients`` clients over the last three days."""
    end = datetime.now(UTC)
    share = {f"client-{i:02d}": count // clients for i in range(clients)}
    share["client-00"] += count - sum(share.values())
    return list(EventFactory(seed=seed).month(share, end - timedelta(days=3), end))


async def produce(
    bootstrap: str, topic: str, batch: list[dict[str, Any]], chunk: int, rate: float = 0
) -> None:
    """Send in chunks (``rate`` events/s, 0 = as fast as the broker takes them); a chunk the
    broker did not acknowledge is sent again, with the same event ids."""
    started = time.monotonic()
    async with EventProducer(bootstrap, topic) as producer:
        for start in range(0, len(batch), chunk):
            if rate:
                await asyncio.sleep(max(0.0, start / rate - (time.monotonic() - started)))
            part = batch[start : start + chunk]
            for attempt in range(30):
                try:
                    await producer.send_all(part)
                    break
                except Exception:
                    if attempt == 29:
                        raise
                    await asyncio.sleep(1)


class Progress:
    """Polls the sink's counters; the longest gap between two advances is the stall."""

    def __init__(self, service: Service, session: aiohttp.ClientSession) -> None:
        self.service = service
        self.session = session
        self.stall_s = 0.0
        self._last_advance = time.monotonic()
        self._last: tuple[Any, ...] | None = None
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            now = time.monotonic()
            try:
                sink = (await self.service.health(self.session)).get("sink", {})
                seen = (sink.get("inserted"), sink.get("duplicates"), sink.get("dead_lettered"))
                self.service.sample_rss()
            except (aiohttp.ClientError, TimeoutError, ValueError):
                seen = None
            if seen is not None and seen != self._last:
                self._last = seen
                self._last_advance = now
            self.stall_s = max(self.stall_s, now - self._last_advance)
            await asyncio.sleep(0.5)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def idle(self) -> None:
        """Nothing waits now (drained): the clock of the next stall starts here."""
        self._last_advance = time.monotonic()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


async def drained(env: dict[str, str], limit_s: float) -> None:
    """Wait until the group's committed offsets reach the topic's end offsets."""
    bootstrap, topic, group = (
        env["LLMHUB_KAFKA_BOOTSTRAP"],
        env["LLMHUB_KAFKA_TOPIC"],
        env["LLMHUB_KAFKA_GROUP"],
    )
    deadline = time.monotonic() + limit_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
        try:
            await admin.start()
            await consumer.start()
            described = await admin.describe_topics([topic])
            parts = [p["partition"] for t in described for p in t["partitions"]]
            ends = await consumer.end_offsets([TopicPartition(topic, p) for p in parts])
            committed = await admin.list_consumer_group_offsets(group)
            # A partition that never received a record has nothing to commit.
            done = bool(ends) and all(
                end == 0 or (tp in committed and committed[tp].offset >= end)
                for tp, end in ends.items()
            )
        except Exception:
            done = False
        finally:
            await consumer.stop()
            await admin.close()
        if done:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the sink did not commit everything within {limit_s}s")
        await asyncio.sleep(1)


async def dead_letter_count(env: dict[str, str]) -> int:
    count = 0
    async for _ in read_all(env["LLMHUB_KAFKA_BOOTSTRAP"], env["LLMHUB_KAFKA_DLQ_TOPIC"]):
        count += 1
    return count


def books_of(workdir: Path, sent: list[dict[str, Any]]) -> ledger.Ledger:
    """The ledger of a stopped service, read in a process of its own (one engine per process)."""
    expectation = workdir / "expected.json"
    ledger.write_expectation(expectation, sent)
    done = subprocess.run(
        [sys.executable, "-m", "tests.faults.ledger", str(workdir / "engine"), str(expectation)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return ledger.Ledger(**json.loads(done.stdout.strip().splitlines()[-1]))


# Injects its fault while the stream runs; writes what it did into the outcome.
Fault = Callable[[Service, aiohttp.ClientSession, Outcome], Awaitable[None]]


async def run_with_service(
    name: str,
    workdir: Path,
    bootstrap: str,
    sent: list[dict[str, Any]],
    fault: Fault,
    drain_timeout: float,
    env_extra: dict[str, str] | None = None,
    rate: float = 0,
) -> Outcome:
    """Start a service, stream ``sent`` while ``fault`` runs, drain, stop, read the books."""
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    env = service_env(workdir, bootstrap, **(env_extra or {}))
    service = Service(env, workdir / "serve.log")
    async with aiohttp.ClientSession() as session:
        await service.start(session)
        progress = Progress(service, session)
        progress.start()
        outcome = Outcome(name, "", len(sent))
        chunk = 1_000 if rate else 5_000
        producing = asyncio.ensure_future(produce(bootstrap, service.topic, sent, chunk, rate))
        try:
            await fault(service, session, outcome)
            await producing
            await drained(env, drain_timeout)
            progress.idle()
            outcome.stall_s = round(progress.stall_s, 1)
            outcome.dead_lettered = await dead_letter_count(env)
        finally:
            producing.cancel()
            await progress.stop()
            outcome.notes["sigterm_s"] = f"{await service.stop(signal.SIGTERM):.1f}"
        outcome.notes["peak_rss_mib"] = str(service.peak_rss // 2**20)
    outcome.books = books_of(workdir, sent)
    return outcome


def sigkills(kills: int, seed: int) -> Fault:
    """SIGKILL the service ``kills`` times at random moments, restarting it each time."""
    rng = random.Random(seed)

    async def fault(service: Service, session: aiohttp.ClientSession, out: Outcome) -> None:
        restarts = []
        for _ in range(kills):
            await asyncio.sleep(rng.uniform(0.5, 4.0))
            await service.stop(signal.SIGKILL)
            started = time.monotonic()
            await service.start(session)
            restarts.append(time.monotonic() - started)
        out.injected = f"{kills} x SIGKILL of the worker at random moments, each restarted"
        out.notes["restart_s_max"] = f"{max(restarts):.1f}"

    return fault


def broker_restart(port: int, down_s: float) -> Fault:
    async def fault(service: Service, session: aiohttp.ClientSession, out: Outcome) -> None:
        await asyncio.sleep(2)
        await asyncio.to_thread(broker, "stop", port)
        await asyncio.sleep(down_s)
        await asyncio.to_thread(broker, "start", port)
        out.injected = f"broker stopped for {down_s:.0f}s mid-stream, then restarted"

    return fault


def http_load(concurrency: int, seconds: float, sent: list[dict[str, Any]]) -> Fault:
    """``concurrency`` HTTP clients on every endpoint for ``seconds`` while ingestion runs."""

    async def fault(service: Service, session: aiohttp.ClientSession, out: Outcome) -> None:
        clients = sorted({e["client_id"] for e in sent})
        keys = {c: await service.client_key(session, c) for c in clients}
        result = await run_load(service.url, keys, ids_by_client(sent), concurrency, seconds)
        out.injected = f"{concurrency} concurrent API clients for {seconds:.0f}s during ingest"
        out.http_5xx = result.http_5xx
        out.notes.update(result.summary())

    return fault
