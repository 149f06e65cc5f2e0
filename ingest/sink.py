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
  retried forever that will never succeed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import TypeVar

import orjson

from core.decode import Accepted, Limits, Rejection, SourceRecord, decode_message
from core.errors import problem
from ingest.dead_letters import DeadLetters, as_rows, transient
from storage import (
    DeadLetterStore,
    EventWriter,
    StorageError,
    StorageRefused,
    StorageUnavailable,
    WriteResult,
)

T = TypeVar("T")

log = logging.getLogger("llmhub.sink")

# Reasons given by the sink itself (the decoder and the store give the others).
UNDECODABLE = "undecodable"  # decoding raised: e.g. a null value (a tombstone)
STORAGE_ERROR = "storage_error"  # an error of no known kind that kept coming back


@dataclass
class SinkStats:
    """Counters shown in logs and, to the admin, on /healthz and /readyz."""

    batches: int = 0
    records: int = 0  # Kafka messages
    events: int = 0  # events in them (a batch message holds many)
    inserted: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    refused_by_storage: int = 0  # part of dead_lettered
    unpriced: int = 0
    storage_retries: int = 0
    last_batch_size: int = 0
    last_insert_ms: float = 0.0
    storage_ok: bool = True
    last_error: str = ""
    lag: dict[str, int] = field(default_factory=dict)

    def snapshot(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class RetryPolicy:
    initial_s: float = 0.2
    max_s: float = 10.0
    # Attempts at an error of no known kind before it is taken as a refusal of the data.
    unknown_attempts: int = 5


class BatchSink:
    def __init__(
        self,
        store: EventWriter,
        dead_letters: DeadLetters,
        limits: Limits,
        retry: RetryPolicy,
        table: DeadLetterStore | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.dead_letters = dead_letters
        self.table = table
        self.limits = limits
        self.retry = retry
        self.clock = clock
        self.stats = SinkStats()
        # Monotonic times for health: when the last batch finished, since when it retries.
        self.last_progress_at = clock()
        self.degraded_since: float | None = None
        # Called after each batch with (messages, events, seconds storing or None): metrics.
        self.observers: list[Callable[[int, int, float | None], None]] = []

    async def handle(self, records: Sequence[SourceRecord]) -> None:
        """Return only when every record is stored or dead-lettered (retrying until then)."""
        accepted, rejected = decode_each(records, self.limits)
        events = len(accepted) + len(rejected)
        stored_s = None
        if accepted:
            started = time.perf_counter()
            result, refused = await self._store(accepted)
            stored_s = time.perf_counter() - started
            self.stats.last_insert_ms = round(stored_s * 1000, 1)
            self.stats.inserted += result.inserted
            self.stats.duplicates += result.duplicates
            self.stats.unpriced += result.unpriced
            self.stats.refused_by_storage += len(refused)
            rejected.extend(refused)
        if rejected:
            await self._dead_letter(rejected)
        self.stats.batches += 1
        self.stats.records += len(records)
        self.stats.events += events
        self.stats.last_batch_size = len(records)
        self.last_progress_at = self.clock()
        for observe in self.observers:
            observe(len(records), events, stored_s)

    async def _store(self, accepted: list[Accepted]) -> tuple[WriteResult, list[Rejection]]:
        """Store block by block (one partition each); return the totals and the refusals."""
        totals = [0, 0, 0]
        refused: list[Rejection] = []
        try:
            blocks = self.store.blocks(accepted)
        except Exception:  # grouping is pure: if it fails, one block it is
            log.exception("grouping into blocks failed")
            blocks = [accepted]
        for block in blocks:
            await self._store_block(block, accepted, totals, refused, self.retry.unknown_attempts)
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
            result = await self._write(items, unknown_attempts)
        except StorageRefused as exc:
            if len(items) == 1:
                refused.append(_refusal(items[0], batch, exc))
                log.warning("storage refused %s: %s", _where(items[0].record), exc)
                return
            # Halve until the culprit is alone; an unknown error is not retried again below.
            mid = len(items) // 2
            for half in (items[:mid], items[mid:]):
                await self._store_block(half, batch, totals, refused, 1)
            return
        totals[0] += result.inserted
        totals[1] += result.duplicates
        totals[2] += result.unpriced

    async def _write(self, items: list[Accepted], unknown_attempts: int) -> WriteResult:
        """prepare + insert; the insert is retried with the very rows prepared (same token)."""
        prepared = await self._call(
            "prepare",
            unknown_attempts,
            partial(self.store.prepare, items, "kafka"),
            # Stopped while the thread prepares: release what it prepares once it is done.
            abandoned=self.store.release,
        )
        try:
            await self._call("insert", unknown_attempts, partial(self.store.insert, prepared))
        finally:
            self.store.release(prepared)
        return prepared.result

    async def _call(
        self,
        what: str,
        unknown_attempts: int,
        fn: Callable[[], T],
        abandoned: Callable[[T], None] | None = None,
    ) -> T:
        """Run ``fn`` in a thread: retry outages forever, unknown errors a few times."""
        attempts = 0
        while True:
            running = asyncio.ensure_future(asyncio.to_thread(fn))
            try:
                result = await asyncio.shield(running)
            except asyncio.CancelledError:
                running.add_done_callback(partial(_abandon, abandoned))
                raise
            except StorageRefused:
                raise
            except Exception as exc:
                attempts += 1
                transient = isinstance(exc, StorageUnavailable)
                if not transient and attempts >= unknown_attempts:
                    reason = STORAGE_ERROR
                    if not isinstance(exc, StorageError):
                        reason = f"{STORAGE_ERROR}:{type(exc).__name__}"
                    raise StorageRefused(f"{what}: {exc}", reason) from exc
                await self._backoff(what, exc, attempts)
                continue
            self._recovered(what)
            return result

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
                await self._backoff("dead-letter publish", exc, attempts)
        self._recovered("dead-letter publish")
        for r in rejected:
            log.warning("dead-lettered %s: %s: %s", _where(r.record), r.reason, r.describe())
        if self.table is not None:
            rows = as_rows(rejected, placed)
            try:
                await self._call("dead-letter table", 1, partial(self.table.record, rows))
            except StorageRefused as exc:
                # The topic holds them (the source of truth); the table is the admin's index.
                log.error("dead-letter table refused %d rows: %s", len(rows), exc)
        self.stats.dead_lettered += len(rejected)

    async def _backoff(self, what: str, exc: BaseException, attempts: int) -> None:
        delay = min(self.retry.initial_s * 2 ** (attempts - 1), self.retry.max_s)
        self.stats.storage_ok = False
        self.stats.storage_retries += 1
        self.stats.last_error = f"{what}: {exc}"[:500]
        if self.degraded_since is None:
            self.degraded_since = self.clock()
        log.error("%s failed (retry in %.1fs): %s", what, delay, exc)
        await asyncio.sleep(delay)

    def _recovered(self, what: str) -> None:
        if not self.stats.storage_ok:
            log.info("%s recovered", what)
        self.stats.storage_ok = True
        self.degraded_since = None


def _abandon(release: Callable[[T], None] | None, done: asyncio.Future[T]) -> None:
    """The end of a call whose caller stopped waiting: undo what it did, if it succeeded."""
    if not done.cancelled() and done.exception() is None and release is not None:
        release(done.result())


def decode_each(
    records: Sequence[SourceRecord], limits: Limits
) -> tuple[list[Accepted], list[Rejection]]:
    """Decode record by record: whatever raises while decoding one becomes its dead letter."""
    accepted: list[Accepted] = []
    rejected: list[Rejection] = []
    for record in records:
        try:
            outcomes = decode_message(record, limits)
        except Exception as exc:
            what = "a null value (tombstone)" if record.value is None else "this record"
            msg = f"decoding {what} failed: {type(exc).__name__}: {exc}"[:1000]
            rejected.append(Rejection(record, UNDECODABLE, [problem([], msg, "undecodable")]))
            continue
        for outcome in outcomes:
            if isinstance(outcome, Accepted):
                accepted.append(outcome)
            else:
                rejected.append(outcome)
    return accepted, rejected


def _refusal(item: Accepted, batch: list[Accepted], exc: StorageRefused) -> Rejection:
    """The dead letter of one refused event: its own JSON and place when it came in an array."""
    record = item.record
    # An accepted event always has a value (a tombstone is refused when decoded).
    if record.index == -1 and record.value is not None and record.value.lstrip()[:1] == b"[":
        # The fast path kept the whole batch message: find this event's place and bytes.
        index = [i for i in batch if i.record is record].index(item)
        try:
            value = orjson.dumps(orjson.loads(record.value)[index])
        except Exception:
            value = item.event.model_dump_json(exclude_none=True).encode()
        record = SourceRecord(value, record.topic, record.partition, record.offset, index)
    return Rejection(record, exc.reason, [problem([], str(exc)[:2000], "storage")])


def _where(record: SourceRecord) -> str:
    return f"{record.topic}[{record.partition}]@{record.offset}#{record.index}"


__all__ = ["BatchSink", "RetryPolicy", "SinkStats", "decode_each"]
