"""The Faust sink: consumes the generations topic and hands batches to :class:`BatchSink`.

Why manual acks (batches: :mod:`ingest.batching`): Faust's ``take()`` acks a batch in a
``finally`` even when processing raised, so a failed insert would still be committed (lost).
Here each batch is acked only after :meth:`BatchSink.handle` returned, in offset order, with
agent concurrency 1 (Faust bug #606: out-of-order acks can commit past an unacked offset).

The same runtime runs inside ``llmhub-serve`` (embedded engine: one process owns storage) or
alone as ``llmhub-worker`` (ClickHouse server: scale out with more replicas in the group).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import faust
from aiokafka import AIOKafkaProducer

from core.decode import Limits, SourceRecord
from core.settings import Settings
from ingest.batching import Batcher, Bounds
from ingest.dead_letters import DeadLetters
from ingest.faust_app import faust_app, tune_gc
from ingest.health import SinkState, Verdict, judge
from ingest.pipeline import PipelinedSink
from ingest.sink import BatchSink, RetryPolicy
from ingest.topics import DLQ_MAX_MESSAGE_BYTES, ensure_topics
from storage import DeadLetterStore, EventWriter

log = logging.getLogger("llmhub.worker")

STATS_EVERY_S = 10.0
WATCH_EVERY_S = 1.0
# Longest wait for one shutdown step beyond the batch's grace period (commit, producer flush).
STOP_STEP_S = 5.0


class IngestRuntime:
    """Owns the Faust app, the dead-letter producer and the sink for one process."""

    def __init__(
        self,
        settings: Settings,
        store: EventWriter,
        limits: Limits,
        dead_letter_table: DeadLetterStore | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.limits = limits
        self.dead_letter_table = dead_letter_table
        self.app: faust.App | None = None
        self.sink: BatchSink | None = None
        self.crashed: str | None = None
        self.caught_up_at = time.monotonic()
        self._producer: AIOKafkaProducer | None = None
        self._stats_task: asyncio.Task[None] | None = None
        # Per-batch hooks handed to the sink (metrics: ingest/metrics.py, wired by cli/).
        self.observers: list[Callable[[int, int, float | None], None]] = []
        self._stop_by: float | None = None  # monotonic end of the grace, once stopping
        self._handling: asyncio.Future[None] | None = None  # the batch being stored (no pipeline)
        self.revocations = 0  # partition revocations (rebalances) this worker went through

    async def start(self) -> None:
        k, w = self.settings.kafka, self.settings.worker
        w.state_dir.mkdir(parents=True, exist_ok=True)
        tune_gc()
        await ensure_topics(self.settings)
        self._producer = AIOKafkaProducer(
            bootstrap_servers=k.bootstrap,
            enable_idempotence=True,
            acks="all",
            max_request_size=DLQ_MAX_MESSAGE_BYTES,
        )
        await self._producer.start()
        self.sink = BatchSink(
            self.store,
            DeadLetters(self._producer, k.dlq_topic),
            self.limits,
            RetryPolicy(w.retry_initial_s, w.retry_max_s, w.unknown_error_attempts),
            self.dead_letter_table,
            columnar=w.columnar,
        )
        self.sink.observers.extend(self.observers)
        app = faust_app(self.settings)
        topic = app.topic(
            k.topic, value_serializer="raw", key_serializer="raw", partitions=k.partitions
        )
        sink = self.sink
        pipeline = PipelinedSink(sink) if w.pipeline else None
        bounds = Bounds(w.batch_size, w.batch_max_bytes, w.batch_window_s)

        batcher: Batcher | None = None

        async def revoked(*args: Any, **__: Any) -> None:
            if batcher is not None and len(args) > 1:  # args: (the app, revoked partitions)
                dropped = batcher.forget(args[1])
                if dropped:
                    log.info("rebalance: %d unstored messages left to the new owner", dropped)
            await self._finish_in_flight(pipeline)

        # Awaited inside the rebalance, before this worker gives its partitions up.
        app.on_partitions_revoked.connect(revoked)

        async def consume(stream: Any) -> None:
            nonlocal batcher
            batcher = Batcher(stream, bounds)
            try:
                async for events in batcher.batches():
                    if pipeline is None:
                        await self._handle(stream, events, sink)
                    else:
                        await self._feed(stream, events, pipeline)
                if pipeline is not None:  # the stream ended: the commit in flight gets the grace
                    await self._settle(pipeline)
            except asyncio.CancelledError:
                # A stop (while waiting for records or in _feed): the commit in flight gets
                # what is left of the grace, then is cancelled and left unacked.
                if pipeline is not None:
                    await self._settle(pipeline)
                raise
            except Exception as exc:
                # Health reports it (/healthz 503) so the process gets restarted.
                self.crashed = f"{type(exc).__name__}: {exc}"[:500]
                log.exception("sink crashed")
                raise

        app.agent(topic, name="generations-sink", concurrency=1)(consume)
        self.app = app
        await app.start()
        self._stats_task = asyncio.ensure_future(self._watch())
        log.info("sink consuming %s as group %s (%s)", k.topic, k.group, k.bootstrap)

    async def _handle(self, stream: Any, events: list[Any], sink: BatchSink) -> None:
        """Hand one batch to the sink; ack it (in offset order) only once it was handled.

        On stop (SIGTERM, rebalance) the batch in flight gets ``shutdown_grace_s`` to finish
        and is then acked; if it cannot finish (storage down), it is abandoned unacked: the
        final commit stops before it and it is redelivered.
        """
        records = [
            SourceRecord(e.message.value, e.message.topic, e.message.partition, e.message.offset)
            for e in events
        ]
        work = self._handling = asyncio.ensure_future(sink.handle(records))
        try:
            await asyncio.shield(work)
        except asyncio.CancelledError:
            grace = self.settings.worker.shutdown_grace_s
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({work}, timeout=grace)
            if work.done() and not work.cancelled() and work.exception() is None:
                for e in events:
                    await stream.ack(e)
            else:
                work.cancel()
                log.warning("stopping: batch of %d records left uncommitted", len(events))
            raise
        for e in events:
            await stream.ack(e)

    async def _feed(self, stream: Any, events: list[Any], pipeline: PipelinedSink) -> None:
        """:meth:`_handle` for the pipeline: stage this batch, commit it behind the one before.

        The batch is acked by its commit task, in offset order (see :mod:`ingest.pipeline`).
        On stop, the grace starts now; what is not committed in it is left unacked.
        """
        records = [
            SourceRecord(e.message.value, e.message.topic, e.message.partition, e.message.offset)
            for e in events
        ]

        async def ack() -> None:
            for e in events:
                await stream.ack(e)

        work = pipeline.feed(records, ack)  # in flight from here (see PipelinedSink.feed)
        try:
            await asyncio.shield(work)
        except asyncio.CancelledError:
            grace = self.settings.worker.shutdown_grace_s
            self._stop_by = time.monotonic() + grace
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({work}, timeout=grace)
            if not work.done():
                work.cancel()  # still waiting for the batch before: this one is not committed
                log.warning("stopping: batch of %d records left uncommitted", len(events))
            raise

    async def _finish_in_flight(self, pipeline: PipelinedSink | None) -> None:
        """A rebalance: the batch being stored ends before the partitions go to another worker.

        Otherwise the new owner could check for duplicates before these rows are visible and
        store them a second time (``stream_wait_empty`` is off, so Faust does not wait). The
        wait is bounded by the stop grace; a batch still being stored after it is logged and
        left unacked (redelivered to the new owner), as on a stop.
        """
        self.revocations += 1
        grace = self.settings.worker.shutdown_grace_s
        finished = True
        if pipeline is not None:
            finished = await pipeline.wait_in_flight(grace)
        elif self._handling is not None and not self._handling.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({self._handling}, timeout=grace)
            finished = self._handling.done()
        if not finished:
            log.warning("rebalance: a batch was still being stored after %.1f s", grace)

    async def _settle(self, pipeline: PipelinedSink) -> None:
        """Stopping: the pipeline's commit in flight finishes within the grace, or is dropped."""
        stop_by = self._stop_by or time.monotonic() + self.settings.worker.shutdown_grace_s
        if not await pipeline.settle(stop_by - time.monotonic()):
            log.warning("stopping: the batch in flight was left uncommitted")

    async def _watch(self) -> None:
        """Note when the sink is caught up (health measures a stall from then), log stats."""
        ticks = 0
        while True:
            await asyncio.sleep(WATCH_EVERY_S)
            if self.sink is None or self.app is None:
                continue
            if not any(self.lag().values()):
                self.caught_up_at = time.monotonic()
            ticks += 1
            if ticks % round(STATS_EVERY_S / WATCH_EVERY_S) == 0:
                log.info("sink stats %s", self.status())

    def status(self) -> dict[str, Any]:
        """The sink's counters and consumer lag (in the logs, and to the admin on health)."""
        if self.sink is None:
            return {}
        self.sink.stats.lag = self.lag()
        return self.sink.stats.snapshot()

    def health(self) -> Verdict:
        """Live and ready, or why not (see :mod:`ingest.health`)."""
        sink = self.sink
        now = time.monotonic()
        state = SinkState(
            started=sink is not None and self.app is not None,
            crashed=self.crashed,
            now=now,
            last_progress_at=max(sink.last_progress_at, self.caught_up_at) if sink else now,
            degraded_since=sink.degraded_since if sink is not None else None,
            lag=self.lag(),
            stats=self.status(),
        )
        return judge(state, self.settings.worker.stall_s)

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
        """Stop within a bounded time: the batch in flight gets the grace period, then
        Faust commits what was acked; a step that hangs (broker gone) is given up."""
        if self._stats_task is not None:
            self._stats_task.cancel()
        bound = self.settings.worker.shutdown_grace_s + STOP_STEP_S
        if self.app is not None:
            await _bounded("consumer stop", self.app.stop(), bound)
        if self._producer is not None:
            await _bounded("dead-letter producer stop", self._producer.stop(), STOP_STEP_S)
        if self.sink is not None:
            log.info("sink stopped; stats %s", self.sink.stats.snapshot())


async def _bounded(what: str, step: Any, seconds: float) -> None:
    try:
        await asyncio.wait_for(step, seconds)
    except TimeoutError:
        log.error("%s did not finish in %.0f s; going on", what, seconds)
