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
from functools import partial
from typing import ParamSpec, TypeVar

from core.columnar import decode_columns
from core.decode import Decoded, Limits, SourceRecord, decode_batch
from ingest.dead_letters import DeadLetters
from storage import BuiltRows, EventWriter, PreparedWrite

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
    # Seconds spent per stage since start (the benchmark's per-stage profile). ``wait`` is
    # the time commit() waited on the previous batch or on the store beyond its own stages.
    stage_s: dict[str, float] = field(default_factory=dict)

    def timed(self, stage: str, started: float) -> float:
        now = time.perf_counter()
        self.stage_s[stage] = round(self.stage_s.get(stage, 0.0) + now - started, 4)
        return now

    def snapshot(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Staged:
    """A decoded batch ready to store: rejections, and the accepted events' rows.

    With the columnar path, ``built`` holds the proven events and those the exact validator
    accepted (``decoded.accepted``), already laid out; otherwise the store builds the rows
    from ``decoded.accepted``.
    """

    records: Sequence[SourceRecord]
    decoded: Decoded
    built: BuiltRows | None

    @property
    def accepted(self) -> int:
        return len(self.built) if self.built is not None else len(self.decoded.accepted)


class BatchSink:
    def __init__(
        self,
        store: EventWriter,
        dead_letters: DeadLetters,
        limits: Limits,
        retry_initial_s: float,
        retry_max_s: float,
        columnar: bool = True,
    ) -> None:
        self.store = store
        self.columnar = columnar
        self.dead_letters = dead_letters
        self.limits = limits
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.stats = SinkStats()

    async def handle(self, records: Sequence[SourceRecord]) -> None:
        """Return only when every record is stored or dead-lettered (retrying until then)."""
        await self.commit(self.stage(records))

    def stage(self, records: Sequence[SourceRecord]) -> Staged:
        """The CPU part of a batch (decode, validate, price, lay out rows): no I/O.

        :class:`ingest.pipeline.PipelinedSink` runs it for the next batch while
        :meth:`commit` of the previous one waits on storage.
        """
        started = time.perf_counter()
        if not self.columnar:
            decoded = decode_batch(records, self.limits)
            self.stats.timed("decode+validate", started)
            return Staged(records, decoded, None)
        batch = decode_columns(records, self.limits)
        started = self.stats.timed("decode+validate", started)
        built = self.store.build(batch, "kafka") if batch.accepted_count else None
        self.stats.timed("price+columns", started)
        return Staged(records, batch.exact, built)

    async def commit(self, staged: Staged) -> None:
        """Dead-letter, check duplicates and insert one staged batch (retrying until done)."""
        decoded, records = staged.decoded, staged.records
        if decoded.rejected:
            started = time.perf_counter()
            await self._retry("dead-letter publish", self.dead_letters.publish, decoded.rejected)
            self.stats.timed("dead-letter", started)
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
        accepted = staged.accepted
        if accepted:
            started = time.perf_counter()
            if staged.built is not None:
                prepare: Callable[[], PreparedWrite] = partial(
                    self.store.prepare_built, staged.built
                )
            else:
                prepare = partial(self.store.prepare, decoded.accepted, "kafka")
            prepared = await self._retry("duplicate check", asyncio.to_thread, prepare)
            # The old path prices and lays out rows inside prepare(): counted as dedup here.
            inserting = self.stats.timed("dedup", started)
            try:
                await self._retry("insert", asyncio.to_thread, self.store.insert, prepared)
            finally:
                self.store.release(prepared)
            self.stats.timed("insert", inserting)
            result = prepared.result
            self.stats.last_insert_ms = round((time.perf_counter() - started) * 1000, 1)
            self.stats.inserted += result.inserted
            self.stats.duplicates += result.duplicates
            self.stats.unpriced += result.unpriced
        self.stats.batches += 1
        self.stats.records += len(records)
        self.stats.events += accepted + len(decoded.rejected)
        self.stats.last_batch_size = len(records)

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
