"""Freshness at a steady rate: probe events timed from the broker's ack until the API shows them.

A producer sends ``rate`` events/s (batch messages per partition every 50 ms tick, as
:class:`ingest.producer.EventProducer` packs them), and each tick also carries one probe
event of a client of its own. The probes share one client, hence one partition stored in
offset order: the probe client's newest log row (``GET /logs?limit=1``, the API's newest-first
page) is the newest probe stored, and every probe before it is visible too.

The measurement must not take the CPU it measures (two cores, the worker on one of them):
- every event is generated and packed before the clock starts, so the producer only sends
  bytes: generating them inside the loop kept the bench process at 100% of a core and the
  producer reached 14k of the 20k events/s asked (2026-11-26 17:35 run, seen in ``top``);
- the poller asks once per ``POLL_S`` instead of in a tight loop: each ask is an engine read in
  the service under test. A delay is thereby overstated by up to ``POLL_S`` plus one ask. (It
  used to ask for single probes by id, the newest waiting and then the oldest, and when only
  the oldest had shown it marked that one alone: one probe per round of 0.1 s plus two asks,
  against 20 sent per second. A worker whose sink stats showed ~1 s of lag throughout was
  measured at p50 24 s that way, 2026-11-26 20:42 run.)
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from bench.common import percentile
from bench.ingest_speed import (
    PARTITIONS,
    Service,
    api_get,
    api_post,
    batch_messages,
    event_values,
)
from ingest.producer import partition_of
from ingest.synthetic import EventFactory

TICK_S = 0.05  # one producer round (one batch message per client share) every 50 ms
POLL_S = 0.1
PROBE_CLIENT = "fresh-probe"


@dataclass
class Freshness:
    path: str
    per: str  # events packed into messages per "partition" (the producer's way) or "client"
    rate: float  # events/s actually produced
    messages_per_s: float
    probes: int
    p50_s: float
    p99_s: float
    max_s: float


@dataclass
class Tick:
    messages: list[tuple[int, bytes]]  # (partition, batch message)
    events: int
    probe: str  # the probe's event id
    probe_message: int  # the index in ``messages`` of the message that holds it


def prepare(rate: int, seconds: float, seed: int = 5, per: str = "partition") -> list[Tick]:
    """Every tick's messages, made ahead of the run (their times start now); ``per``: how
    events are packed into messages (:func:`bench.ingest_speed.batch_messages`)."""
    per_tick = max(1, int(rate * TICK_S))
    factory = EventFactory(seed=seed)
    begin = datetime.now(UTC)
    ticks = []
    for n in range(max(1, round(seconds / TICK_S))):
        at = begin + timedelta(seconds=n * TICK_S)
        values = list(event_values(per_tick, seed=seed + n * per_tick, start=at))
        probe = factory.event(PROBE_CLIENT, at)
        values.append((PROBE_CLIENT.encode(), orjson.dumps(probe)))
        messages = batch_messages(iter(values), per)
        # The probe went last, so it is in the last message of its client's partition.
        where = partition_of(PROBE_CLIENT.encode(), range(PARTITIONS))
        held = max(i for i, (partition, _) in enumerate(messages) if partition == where)
        ticks.append(Tick(messages, len(values), str(probe["event_id"]), held))
    return ticks


async def measure(
    service: Service,
    bootstrap: str,
    topic: str,
    path: str,
    rate: int,
    seconds: float,
    per: str = "partition",
) -> Freshness:
    """Produce ``rate`` events/s for ``seconds``; time each probe from ack to API-visible."""
    ticks = prepare(rate, seconds, per=per)
    admin = f"{service.url}/admin/v1/clients"
    api_post(admin, {"client_id": PROBE_CLIENT, "name": "Probe"}, service.token)
    key = api_post(f"{admin}/{PROBE_CLIENT}/keys", {}, service.token)["api_key"]
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    acked: dict[str, float] = {}
    visible: dict[str, float] = {}

    order = {tick.probe: n for n, tick in enumerate(ticks)}
    newest = f"{service.url}/api/v1/llm/billing/logs?limit=1"

    async def probe_loop() -> None:
        # The probe client's newest log row is the newest probe stored: every probe before
        # it is stored too (one partition, offset order). One ask per round.
        frontier = 0  # probes [0, frontier) are visible
        while True:
            await asyncio.sleep(POLL_S)
            status, body = await asyncio.to_thread(api_get, newest, {"x-api-key": key})
            if status != 200 or not body["items"]:
                continue
            now = time.perf_counter()
            shown = order[body["items"][0]["log_id"]]
            while frontier <= shown and ticks[frontier].probe in acked:
                visible[ticks[frontier].probe] = now
                frontier += 1

    async def on_ack(probe: str, future: asyncio.Future[Any]) -> None:
        await future
        acked[probe] = time.perf_counter()

    poller = asyncio.ensure_future(probe_loop())
    acks: list[asyncio.Task[None]] = []
    sent = 0
    started = time.perf_counter()
    try:
        for tick in ticks:
            for i, (partition, message) in enumerate(tick.messages):
                future = await producer.send(topic, value=message, partition=partition)
                if i == tick.probe_message:
                    acks.append(asyncio.ensure_future(on_ack(tick.probe, future)))
            sent += tick.events
            await asyncio.sleep(max(0.0, started + sent / rate - time.perf_counter()))
        produced_for = time.perf_counter() - started
        await asyncio.gather(*acks)
        for _ in range(600):  # up to 60 s for the last probes to show
            if len(visible) >= len(acked):
                break
            await asyncio.sleep(0.1)
    finally:
        poller.cancel()
        await producer.stop()
    # A probe that never showed counts as infinitely late.
    delays = sorted(
        [visible[i] - acked[i] for i in visible] + [float("inf")] * (len(acked) - len(visible))
    )

    def pct(q: float) -> float:
        return round(percentile(delays, q), 3) if delays else float("nan")

    messages = sum(len(t.messages) for t in ticks)
    return Freshness(
        path,
        per,
        sent / produced_for,
        messages / produced_for,
        len(acked),
        pct(50),
        pct(99),
        pct(100),
    )
