"""The Faust sink: consumes the generations topic and hands batches to :class:`BatchSink`.

Why ``noack_take`` and manual acks: Faust's ``take()`` acks a batch in a ``finally`` even when
processing raised, so a failed insert would still be committed (lost). Here each batch is acked
only after :meth:`BatchSink.handle` returned, in offset order, with agent concurrency 1 (Faust
bug #606: out-of-order acks can commit past an unacked offset).

The same runtime runs inside ``llmhub-serve`` (embedded engine: one process owns storage) or
alone as ``llmhub-worker`` (ClickHouse server: scale out with more replicas in the group).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from typing import Any

import faust
from aiokafka import AIOKafkaProducer

from core.decode import Limits, SourceRecord
from core.settings import Settings
from ingest.dead_letters import DeadLetters
from ingest.pipeline import PipelinedSink
from ingest.sink import BatchSink
from ingest.topics import ensure_topics
from storage import EventWriter

log = logging.getLogger("llmhub.worker")

STATS_EVERY_S = 10.0


def _faust_app(settings: Settings) -> faust.App:
    k, w = settings.kafka, settings.worker
    return faust.App(
        k.group,  # the app id is the consumer group
        broker=[f"kafka://{host}" for host in k.bootstrap.split(",")],
        value_serializer="raw",
        key_serializer="raw",
        web_enabled=False,
        autodiscover=False,
        store="memory://",
        datadir=str(w.state_dir),
        topic_partitions=k.partitions,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        # Commit often: an acked offset is only acked after its records were stored.
        broker_commit_every=w.batch_size,
        broker_commit_interval=1.0,
        # Bounded read-ahead (in messages): memory stays flat however large the backlog.
        stream_buffer_maxsize=2 * w.batch_size,
        broker_max_poll_records=w.batch_size,
        consumer_max_fetch_size=8 * 1024 * 1024,
        stream_wait_empty=False,
        broker_session_timeout=w.session_timeout_s,
        broker_heartbeat_interval=min(3.0, w.session_timeout_s / 3),
    )


def tune_gc() -> None:
    """Collect garbage less often: batches keep ~100k young objects alive at a time.

    With the default thresholds the collector rescans them every 700 allocations; measured on
    the decode step of the sink, that doubled its cost. Objects alive at start-up are frozen
    out of collection altogether.
    """
    gc.freeze()
    gc.set_threshold(50_000, 100, 1_000)


class IngestRuntime:
    """Owns the Faust app, the dead-letter producer and the sink for one process."""

    def __init__(self, settings: Settings, store: EventWriter, limits: Limits) -> None:
        self.settings = settings
        self.store = store
        self.limits = limits
        self.app: faust.App | None = None
        self.sink: BatchSink | None = None
        self._producer: AIOKafkaProducer | None = None
        self._stats_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        k, w = self.settings.kafka, self.settings.worker
        w.state_dir.mkdir(parents=True, exist_ok=True)
        tune_gc()
        await ensure_topics(self.settings)
        self._producer = AIOKafkaProducer(
            bootstrap_servers=k.bootstrap, enable_idempotence=True, acks="all"
        )
        await self._producer.start()
        self.sink = BatchSink(
            self.store,
            DeadLetters(self._producer, k.dlq_topic),
            self.limits,
            w.retry_initial_s,
            w.retry_max_s,
            columnar=w.columnar,
        )
        app = _faust_app(self.settings)
        topic = app.topic(
            k.topic, value_serializer="raw", key_serializer="raw", partitions=k.partitions
        )
        sink = self.sink
        pipeline = PipelinedSink(sink) if w.pipeline else None

        async def consume(stream: Any) -> None:
            try:
                await take(stream)
            except asyncio.CancelledError:
                # A stop while waiting for records: the batch in flight is still stored.
                if pipeline is not None:
                    await pipeline.drain()
                raise

        async def take(stream: Any) -> None:
            async for events in stream.noack_take(w.batch_size, within=w.batch_window_s):
                records = [
                    SourceRecord(
                        e.message.value,
                        e.message.topic,
                        e.message.partition,
                        e.message.offset,
                    )
                    for e in events
                ]

                async def ack(events: list[Any] = events) -> None:
                    for e in events:
                        await stream.ack(e)

                if pipeline is not None:
                    work = asyncio.ensure_future(pipeline.feed(records, ack))
                else:
                    work = asyncio.ensure_future(sink.handle(records))
                try:
                    await asyncio.shield(work)
                except asyncio.CancelledError:
                    # Stopping (SIGTERM, rebalance): finish storing what is held and ack it so
                    # the final commit includes it, then stop.
                    await work
                    if pipeline is not None:
                        await pipeline.drain()
                    else:
                        await ack()
                    raise
                if pipeline is None:
                    await ack()
            if pipeline is not None:
                await pipeline.drain()

        app.agent(topic, name="generations-sink", concurrency=1)(consume)
        self.app = app
        await app.start()
        self._stats_task = asyncio.ensure_future(self._log_stats())
        log.info("sink consuming %s as group %s (%s)", k.topic, k.group, k.bootstrap)

    async def _log_stats(self) -> None:
        while True:
            await asyncio.sleep(STATS_EVERY_S)
            if self.sink is None or self.app is None:
                continue
            log.info("sink stats %s", self.status())

    def status(self) -> dict[str, Any]:
        """The sink's counters and consumer lag (shown on /healthz and in the logs)."""
        if self.sink is None:
            return {}
        self.sink.stats.lag = self.lag()
        return self.sink.stats.snapshot()

    def lag(self) -> dict[str, int]:
        """Records not yet consumed per assigned partition (highwater - position)."""
        if self.app is None:
            return {}
        consumer: Any = self.app.consumer
        lags = {}
        # Best effort: lag is diagnostics, and Faust keeps committed offsets privately.
        with contextlib.suppress(Exception):
            for tp in consumer.assignment():
                high = consumer.highwater(tp)
                committed = consumer._committed_offset.get(tp)
                if high is not None:
                    lags[f"{tp.topic}[{tp.partition}]"] = max(0, high - (committed or 0))
        return lags

    async def stop(self) -> None:
        if self._stats_task is not None:
            self._stats_task.cancel()
        if self.app is not None:
            await self.app.stop()
        if self._producer is not None:
            await self._producer.stop()
        if self.sink is not None:
            log.info("sink stopped; stats %s", self.sink.stats.snapshot())
