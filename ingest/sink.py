"""What the sink does with one batch of Kafka records, independent of Faust.

The failure model (README, "The sink's failure model"): :meth:`BatchSink.handle` returns only
when every record of the batch is either stored or in the dead-letter topic with a reason;
only then may the caller ack it. Failures are sorted by the storage contract:

- a record that cannot be decoded (whatever raises: bad bytes, a null value) is dead-lettered
  on its own; its neighbours go on;
- an outage (:class:`StorageUnavailable`) is retried with backoff, forever, the sink reporting
  itself degraded meanwhile: the same rows will be taken later;
- data the engine refuses (:class:`StorageRefused`) is pinned on the record(s) that cause it by
  splitting the failing block in halves until the culprit is alone; it is dead-lettered with
  the engine's error and everything else is stored;
- an error of no known kind is retried a few times, then handled as a refusal: nothing is
  retried forever that will never succeed (the retries: :mod:`ingest.retrying`).

A batch goes in two steps: :meth:`BatchSink.stage` (decode, validate, price, lay out rows: CPU
only, no I/O) and :meth:`BatchSink.commit` (store, dead-letter; all the failure handling above
is here). :class:`ingest.pipeline.PipelinedSink` stages batch N+1 while batch N commits. The
columnar path (:mod:`core.columnar`) lays out a whole batch at once; a columnar block the
engine refuses is stored again through the exact path, which pins the refusal on its record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from core.columnar import decode_columns
from core.decode import Accepted, Limits, Rejection, SourceRecord
from ingest.dead_letters import DeadLetters, as_rows, transient
from ingest.rejections import UNDECODABLE, decode_each, refusal, where
from ingest.retrying import STORAGE_ERROR, Retrier, RetryPolicy
from ingest.stats import SinkStats
from storage import (
    BuiltRows,
    DeadLetterStore,
    EventWriter,
    PreparedWrite,
    StorageRefused,
    WriteResult,
)

log = logging.getLogger("llmhub.sink")

B = TypeVar("B")


@dataclass(frozen=True)
class Staged:
    """A decoded batch ready to commit: its rejections, and its accepted events.

    With the columnar path, ``built`` holds every accepted event already laid out as rows
    (``accepted`` is then empty); otherwise ``accepted`` holds them and the store builds the
    rows.
    """

    records: Sequence[SourceRecord]
    accepted: list[Accepted]
    rejected: list[Rejection]
    built: BuiltRows | None = None

    @property
    def events(self) -> int:
        kept = len(self.built) if self.built is not None else len(self.accepted)
        return kept + len(self.rejected)


class BatchSink:
    def __init__(
        self,
        store: EventWriter,
        dead_letters: DeadLetters,
        limits: Limits,
        retry: RetryPolicy,
        table: DeadLetterStore | None = None,
        clock: Callable[[], float] = time.monotonic,
        columnar: bool = True,
    ) -> None:
        self.store = store
        self.columnar = columnar
        self.dead_letters = dead_letters
        self.table = table
        self.limits = limits
        self.retry = retry
        self.clock = clock
        self.stats = SinkStats()
        self.retrier = Retrier(retry, self.stats, clock)
        # Monotonic time for health: when the last batch finished.
        self.last_progress_at = clock()
        # Called after each batch with (messages, events, seconds storing or None): metrics.
        self.observers: list[Callable[[int, int, float | None], None]] = []

    @property
    def degraded_since(self) -> float | None:
        """Monotonic time since when storage or the broker keeps failing (health)."""
        return self.retrier.degraded_since

    async def handle(self, records: Sequence[SourceRecord]) -> None:
        """Return only when every record is stored or dead-lettered (retrying until then)."""
        await self.commit(self.stage(records))

    def stage(self, records: Sequence[SourceRecord]) -> Staged:
        """The CPU part of a batch (decode, validate, price, lay out rows): no I/O.

        Never raises: a record whose decoding raises becomes its own dead letter, and if the
        columnar path fails on a batch, the batch is decoded record by record instead.
        """
        started = time.perf_counter()
        if self.columnar:
            try:
                return self._stage_columnar(records, started)
            except Exception:
                log.exception("columnar decoding failed: decoding the batch record by record")
        accepted, rejected = decode_each(records, self.limits)
        self.stats.timed("decode+validate", started)
        return Staged(records, accepted, rejected)

    def _stage_columnar(self, records: Sequence[SourceRecord], started: float) -> Staged:
        batch = decode_columns(records, self.limits)  # a tombstone goes to the exact path
        started = self.stats.timed("decode+validate", started)
        built = self.store.build(batch, "kafka") if batch.accepted_count else None
        self.stats.timed("price+columns", started)
        return Staged(records, [], batch.exact.rejected, built)

    async def commit(self, staged: Staged) -> None:
        """Store and dead-letter one staged batch; return when every record is one or the other."""
        rejected = list(staged.rejected)
        stored_s = None
        if staged.built is not None or staged.accepted:
            started = time.perf_counter()
            if staged.built is not None:
                result, refused = await self._store_built(staged.records, staged.built)
            else:
                result, refused = await self._store(staged.accepted)
            stored_s = time.perf_counter() - started
            self.stats.last_insert_ms = round(stored_s * 1000, 1)
            self.stats.inserted += result.inserted
            self.stats.duplicates += result.duplicates
            self.stats.unpriced += result.unpriced
            self.stats.refused_by_storage += len(refused)
            rejected.extend(refused)
        if rejected:
            started = time.perf_counter()
            await self._dead_letter(rejected)
            self.stats.timed("dead-letter", started)
        self.stats.batches += 1
        self.stats.records += len(staged.records)
        self.stats.events += staged.events
        self.stats.last_batch_size = len(staged.records)
        self.last_progress_at = self.clock()
        for observe in self.observers:
            observe(len(staged.records), staged.events, stored_s)

    async def _store(self, accepted: list[Accepted]) -> tuple[WriteResult, list[Rejection]]:
        """Store block by block (one partition each); return the totals and the refusals."""
        totals = [0, 0, 0]
        refused: list[Rejection] = []
        for block in _blocks(self.store.blocks, accepted):
            await self._store_block(block, accepted, totals, refused, self.retry.unknown_attempts)
        return WriteResult(*totals), refused

    async def _store_built(
        self, records: Sequence[SourceRecord], built: BuiltRows
    ) -> tuple[WriteResult, list[Rejection]]:
        """:meth:`_store` for columnar rows: block by block (one month each).

        Built rows do not say which record each came from, so a block the engine refuses
        (for good, after the retries of :meth:`Retrier.call`) is stored again through the exact
        path: the batch is decoded record by record and that block's events are halved until
        the refusal is pinned on its record. What the block had stored counts as duplicates.
        """
        totals = [0, 0, 0]
        refused: list[Rejection] = []
        for block in _blocks(self.store.built_blocks, built):
            try:
                result = await self._write(
                    partial(self.store.prepare_built, block), self.retry.unknown_attempts
                )
            except StorageRefused as exc:
                log.warning("columnar block of %d rows refused, going exact: %s", len(block), exc)
                ids = self.store.ids(block)
                accepted, _ = decode_each(records, self.limits)
                items = [i for i in accepted if i.event.event_id.bytes in ids]
                found = {i.event.event_id.bytes for i in items}
                if found != ids:  # the prover guarantees equal verdicts: never expected
                    log.error("%d refused rows not accepted by the exact path", len(ids - found))
                    raise
                for part in self.store.blocks(items):
                    await self._store_block(part, accepted, totals, refused, 1)
                continue
            totals[0] += result.inserted
            totals[1] += result.duplicates
            totals[2] += result.unpriced
        return WriteResult(*totals), refused

    async def _store_block(
        self,
        items: list[Accepted],
        batch: list[Accepted],
        totals: list[int],
        refused: list[Rejection],
        unknown_attempts: int,
    ) -> None:
        try:
            prepare = partial(self.store.prepare, items, "kafka")
            result = await self._write(prepare, unknown_attempts)
        except StorageRefused as exc:
            if len(items) == 1:
                refused.append(refusal(items[0], batch, exc))
                log.warning("storage refused %s: %s", where(items[0].record), exc)
                return
            # Halve until the culprit is alone; an unknown error is not retried again below.
            mid = len(items) // 2
            for half in (items[:mid], items[mid:]):
                await self._store_block(half, batch, totals, refused, 1)
            return
        totals[0] += result.inserted
        totals[1] += result.duplicates
        totals[2] += result.unpriced

    async def _write(
        self, prepare: Callable[[], PreparedWrite], unknown_attempts: int
    ) -> WriteResult:
        """prepare + insert; the insert is retried with the very rows prepared (same token)."""
        started = time.perf_counter()
        prepared = await self.retrier.call(
            "prepare",
            unknown_attempts,
            prepare,
            # Stopped while the thread prepares: release what it prepares once it is done.
            abandoned=self.store.release,
        )
        # The exact path prices and lays out rows inside prepare(): counted as dedup here.
        started = self.stats.timed("dedup", started)
        try:
            await self.retrier.call(
                "insert", unknown_attempts, partial(self.store.insert, prepared)
            )
        finally:
            self.store.release(prepared)
        self.stats.timed("insert", started)
        return prepared.result

    async def _dead_letter(self, rejected: list[Rejection]) -> None:
        """Publish to the topic (retried until the broker acks), then record in the table."""
        attempts = refusals = 0
        while True:
            # A broker that keeps refusing the records as they are gets their values cut.
            cut = refusals >= self.retry.unknown_attempts
            try:
                placed = await self.dead_letters.publish(rejected, cut=cut)
                break
            except Exception as exc:
                attempts += 1
                refusals += 0 if transient(exc) else 1
                await self.retrier.backoff("dead-letter publish", exc, attempts)
        self.retrier.recovered("dead-letter publish")
        for r in rejected:
            log.warning("dead-lettered %s: %s: %s", where(r.record), r.reason, r.describe())
        if self.table is not None:
            rows = as_rows(rejected, placed)
            try:
                await self.retrier.call("dead-letter table", 1, partial(self.table.record, rows))
            except StorageRefused as exc:
                # The topic holds them (the source of truth); the table is the admin's index.
                log.error("dead-letter table refused %d rows: %s", len(rows), exc)
        self.stats.dead_lettered += len(rejected)


def _blocks(group: Callable[[B], list[B]], whole: B) -> list[B]:
    """The store's blocks of a batch; grouping is pure: if it fails, one block it is."""
    try:
        return group(whole)
    except Exception:
        log.exception("grouping into blocks failed")
        return [whole]


__all__ = [
    "STORAGE_ERROR",
    "UNDECODABLE",
    "BatchSink",
    "RetryPolicy",
    "SinkStats",
    "Staged",
    "decode_each",
]
