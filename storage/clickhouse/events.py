"""Writing events to ``generations``: price, drop what is already stored, insert once.

The exactly-once effect and its limits are described on :class:`EventStore`; the README's
"Every event counted once" section says the same for users.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from core import utc
from core.decode import Accepted
from core.pricing import PriceCatalog
from storage import PreparedWrite, WriteResult
from storage.clickhouse.columns import build_table
from storage.clickhouse.errors import guard
from storage.clickhouse.pool import ClickHousePool
from storage.clickhouse.repair import repair

# Ids per duplicate-check query when ids are sent: keeps the bound parameters under the
# HTTP URI limit of a ClickHouse server (1 MiB by default).
_LOOKUP_CHUNK = 4_000
# The duplicate check lists a batch's time span when it holds at most this many rows.
SPAN_ROWS_PER_EVENT = 4
SPAN_ROWS_MIN = 1_000


class InsertGate:
    """Inserts pass together; a rollup repair passes alone, once the inserts in flight end.

    A repair compares raw rows with rollup rows, so an insert whose raw part is visible and
    whose rollup part is not yet would be counted twice. New inserts wait while one waits.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._inserts = 0
        self._alone = False

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._alone)
            self._inserts += 1
        try:
            yield
        finally:
            with self._cond:
                self._inserts -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def alone(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._alone)
            self._alone = True
            self._cond.wait_for(lambda: self._inserts == 0)
        try:
            yield
        finally:
            with self._cond:
                self._alone = False
                self._cond.notify_all()


def _hour(item: Accepted) -> datetime:
    """The rollup hour of an event: naive UTC, floored."""
    return utc.naive(item.event.occurred_at).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class PreparedInsert:
    """Rows to insert, fixed once: a retry sends exactly these rows with the same token."""

    table: pa.Table
    token: str
    event_ids: frozenset[Any]
    result: WriteResult


class EventStore:
    """Writes accepted events to ``generations``: priced, each event_id at most once.

    Exactly-once effect, in two layers (see docs/architecture.md):
    1. Before inserting, ids already stored are looked up by primary key (client_id,
       occurred_at, event_id) and dropped, as are repeats inside the batch. This covers Kafka
       redelivery after a crash and producers that send an event twice.
    2. The insert carries a token derived from the ids it holds, so if an insert timed out but
       did land, its retry (the same rows) is dropped by ClickHouse's block de-duplication.
    3. When the check finds events already stored (a redelivery after a crash), the rollup is
       repaired for their client-hours: a crash between the raw part and the rollup part of
       one insert would otherwise leave the usage totals short for good (see repair.py).
    Prepared rows are fixed: :meth:`insert` is retried with the very same rows and token, which
    also lets the rollup (a materialized view with its own dedup window) receive a block whose
    first attempt failed half-way. Ids prepared but not yet inserted count as stored for other
    writers in this process (the HTTP import beside the sink); across processes, Kafka keys
    events by client so a client's events have one consumer at a time.
    """

    def __init__(self, pool: ClickHousePool, catalog: PriceCatalog) -> None:
        self.pool = pool
        self.catalog = catalog
        self._lock = threading.Lock()
        self._pending: set[Any] = set()
        self._inserts = InsertGate()

    def write(self, accepted: Sequence[Accepted], source: str) -> WriteResult:
        """Prepare and insert block by block (the import path; the sink retries each step)."""
        inserted = duplicates = unpriced = 0
        for block in self.blocks(accepted):
            prepared = self.prepare(block, source)
            try:
                self.insert(prepared)
            finally:
                self.release(prepared)
            inserted += prepared.result.inserted
            duplicates += prepared.result.duplicates
            unpriced += prepared.result.unpriced
        return WriteResult(inserted, duplicates, unpriced)

    def blocks(self, accepted: Sequence[Accepted]) -> list[list[Accepted]]:
        """One group per month of ``occurred_at``: the table's partition.

        ClickHouse refuses a block touching more than 100 partitions
        (``max_partitions_per_insert_block``), so a backfill spanning years would never be
        stored in one insert. Groups come out in month order; a live stream is one group.
        """
        by_month: dict[tuple[int, int], list[Accepted]] = {}
        for item in accepted:
            when = item.event.occurred_at.astimezone(UTC)
            by_month.setdefault((when.year, when.month), []).append(item)
        return [by_month[month] for month in sorted(by_month)]

    def prepare(self, accepted: Sequence[Accepted], source: str) -> PreparedInsert:
        """Drop repeats and already stored events, price the rest, build the columns.

        Raises only storage errors (see :mod:`storage.clickhouse.errors`). A failure here
        leaves none of the ids marked pending, so trying again (or storing part of the batch)
        never takes these events for duplicates.
        """
        unique: dict[Any, Accepted] = {}
        for item in accepted:
            unique.setdefault(item.event.event_id, item)
        with self._lock:
            stored = guard("duplicate check", self._already_stored, list(unique.values()))
            fresh = [item for key, item in unique.items() if key not in stored | self._pending]
            ids = frozenset(item.event.event_id for item in fresh)
            self._pending |= ids
        try:
            if stored:
                # A redelivery after a crash: the rollup may lack these events (repair.py).
                hours = {(unique[i].event.client_id, _hour(unique[i])) for i in stored}
                with self._inserts.alone():
                    guard("rollup repair", repair, self.pool, hours)
            table, unpriced = guard("prepare", build_table, fresh, self.catalog, source)
        except BaseException:
            # Not prepared: these ids must not read as in progress (as duplicates) on a retry.
            with self._lock:
                self._pending -= ids
            raise
        token = hashlib.sha256(b"".join(sorted(i.bytes for i in ids))).hexdigest()
        result = WriteResult(len(fresh), len(accepted) - len(fresh), unpriced)
        return PreparedInsert(table, token, ids, result)

    def insert(self, prepared: PreparedWrite) -> None:
        """Insert the prepared rows; safe to call again with the same object after a failure."""
        assert isinstance(prepared, PreparedInsert)
        if not prepared.event_ids:
            return
        with self._inserts.shared():
            guard(
                "insert",
                self.pool.insert_arrow,
                "generations",
                prepared.table,
                settings={
                    "insert_deduplication_token": prepared.token,
                    # A block the table already has must still reach a view that missed it.
                    "deduplicate_blocks_in_dependent_materialized_views": 1,
                },
            )

    def release(self, prepared: PreparedWrite) -> None:
        """Forget the pending ids once inserted (or abandoned, when the batch will be redone)."""
        assert isinstance(prepared, PreparedInsert)
        with self._lock:
            self._pending -= prepared.event_ids

    def _already_stored(self, items: list[Accepted]) -> set[Any]:
        """Ids of ``items`` already in the table, found through the primary key.

        First ask for every id stored for these clients in the batch's time span: a live stream
        finds (almost) nothing there, and sending no ids is cheaper than binding thousands of
        them. Only when that span holds many rows (an import of old events, say) are the ids
        sent and matched by the server.
        """
        if not items:
            return set()
        ids = {i.event.event_id for i in items}
        times = [i.event.occurred_at for i in items]
        where = (
            f"FROM {self.pool.database}.generations "
            "WHERE client_id IN {clients:Array(String)} "
            "AND occurred_at >= {lo:DateTime64(3)} AND occurred_at <= {hi:DateTime64(3)}"
        )
        params: dict[str, Any] = {
            "clients": sorted({i.event.client_id for i in items}),
            # The column keeps milliseconds: widen by one so truncation cannot miss.
            "lo": utc.naive(min(times)) - timedelta(milliseconds=1),
            "hi": utc.naive(max(times)) + timedelta(milliseconds=1),
        }
        cap = SPAN_ROWS_PER_EVENT * len(items) + SPAN_ROWS_MIN
        rows = self.pool.query_rows(f"SELECT event_id {where} LIMIT {cap}", params)
        if len(rows) < cap:
            return ids.intersection(row[0] for row in rows)
        found: set[Any] = set()
        ordered = list(ids)
        for start in range(0, len(ordered), _LOOKUP_CHUNK):
            params["ids"] = ordered[start : start + _LOOKUP_CHUNK]
            rows = self.pool.query_rows(
                f"SELECT event_id {where} AND event_id IN {{ids:Array(UUID)}}", params
            )
            found.update(row[0] for row in rows)
        return found
