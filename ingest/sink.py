"""What the sink does with one batch of Kafka records, independent of Faust.

Order of work for a batch: dead-letter the invalid records (waiting for the broker's ack),
store the valid ones (retrying until storage accepts them), and only then let the caller ack
the batch. So an offset is committed only once each of its records is either in ClickHouse or
in the dead-letter topic: nothing is lost, and a crash at any point means redelivery, which the
store de-duplicates.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import ParamSpec, TypeVar

from core.decode import Limits, SourceRecord, decode_batch
from ingest.dead_letters import DeadLetters
from storage import EventWriter

P = ParamSpec("P")
T = TypeVar("T")

log = logging.getLogger("llmhub.sink")


@dataclass
class SinkStats:
    """Counters shown in logs and on /healthz."""

    batches: int = 0
    records: int = 0  # Kafka messages
    events: int = 0  # events in them (a batch message holds many)
    inserted: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    unpriced: int = 0
    storage_retries: int = 0
    last_batch_size: int = 0
    last_insert_ms: float = 0.0
    storage_ok: bool = True
    last_error: str = ""
    lag: dict[str, int] = field(default_factory=dict)

    def snapshot(self) -> dict[str, object]:
        return asdict(self)


class BatchSink:
    def __init__(
        self,
        store: EventWriter,
        dead_letters: DeadLetters,
        limits: Limits,
        retry_initial_s: float,
        retry_max_s: float,
    ) -> None:
        self.store = store
        self.dead_letters = dead_letters
        self.limits = limits
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.stats = SinkStats()
        # Called after each batch with (messages, events, seconds storing or None): metrics.
        self.observers: list[Callable[[int, int, float | None], None]] = []

    async def handle(self, records: Sequence[SourceRecord]) -> None:
        """Return only when every record is stored or dead-lettered (retrying until then)."""
        decoded = decode_batch(records, self.limits)
        if decoded.rejected:
            await self._retry("dead-letter publish", self.dead_letters.publish, decoded.rejected)
            self.stats.dead_lettered += len(decoded.rejected)
            for r in decoded.rejected:
                log.warning(
                    "dead-lettered %s[%s]@%s: %s: %s",
                    r.record.topic,
                    r.record.partition,
                    r.record.offset,
                    r.reason,
                    r.describe(),
                )
        stored_s = None
        if decoded.accepted:
            started = time.perf_counter()
            prepared = await self._retry(
                "duplicate check", asyncio.to_thread, self.store.prepare, decoded.accepted, "kafka"
            )
            try:
                await self._retry("insert", asyncio.to_thread, self.store.insert, prepared)
            finally:
                self.store.release(prepared)
            result = prepared.result
            stored_s = time.perf_counter() - started
            self.stats.last_insert_ms = round(stored_s * 1000, 1)
            self.stats.inserted += result.inserted
            self.stats.duplicates += result.duplicates
            self.stats.unpriced += result.unpriced
        self.stats.batches += 1
        self.stats.records += len(records)
        self.stats.events += len(decoded.accepted) + len(decoded.rejected)
        self.stats.last_batch_size = len(records)
        for observe in self.observers:
            observe(len(records), len(decoded.accepted) + len(decoded.rejected), stored_s)

    async def _retry(
        self, what: str, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Call until it succeeds, backing off exponentially; never gives the batch up."""
        delay = self.retry_initial_s
        while True:
            try:
                result = await fn(*args, **kwargs)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.stats.storage_ok = False
                self.stats.storage_retries += 1
                self.stats.last_error = f"{what}: {exc}"[:500]
                log.error("%s failed (retry in %.1fs): %s", what, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max_s)
                continue
            if not self.stats.storage_ok:
                log.info("%s recovered", what)
            self.stats.storage_ok = True
            return result
