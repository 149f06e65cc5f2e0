"""Writing events to ``generations``: price, drop what is already stored, insert once.

The exactly-once effect and its limits are described on :class:`EventStore`; the README's
"Every event counted once" section says the same for users.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core import utc
from core.columnar import ColumnarDecoded
from core.decode import Accepted
from core.pricing import PriceCatalog
from storage import BuiltRows, PreparedWrite, StorageRefused, WriteResult, write_blocks
from storage.clickhouse.columnar import batch_table, client_hours, client_spans, sorted_digest
from storage.clickhouse.columns import build_table
from storage.clickhouse.dedup import stored_ids, stored_mask
from storage.clickhouse.errors import guard
from storage.clickhouse.gate import InsertGate
from storage.clickhouse.pool import ClickHousePool
from storage.clickhouse.repair import repair

# The duplicate check lists a batch's time span when it holds at most this many rows
# (storage.clickhouse.dedup).
SPAN_ROWS_PER_EVENT = 4
SPAN_ROWS_MIN = 1_000

log = logging.getLogger("llmhub.storage.events")


def _hour(item: Accepted) -> datetime:
    """The rollup hour of an event: naive UTC, floored."""
    return utc.naive(item.event.occurred_at).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Rows:
    """A columnar batch as ``generations`` rows, before the duplicate check."""

    table: pa.Table
    ids: list[bytes]  # event_id of each row
    unpriced: int

    def __len__(self) -> int:
        return len(self.ids)

    def spans(self) -> dict[str, tuple[datetime, datetime]]:
        return client_spans(self.table)


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
        self._pending: set[bytes] = set()  # 16-byte event ids being inserted
        self._inserts = InsertGate()

    def write(self, accepted: Sequence[Accepted], source: str) -> WriteResult:
        """Prepare and insert block by block (the import path; the sink retries each step)."""
        return write_blocks(self, accepted, source)

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
        unique: dict[bytes, Accepted] = {}
        for item in accepted:
            unique.setdefault(item.event.event_id.bytes, item)
        with self._lock:
            stored = guard("duplicate check", self._already_stored, list(unique.values()))
            fresh = [item for key, item in unique.items() if key not in stored | self._pending]
            ids = frozenset(item.event.event_id.bytes for item in fresh)
            self._pending |= ids
        try:
            if stored:
                self._repair({(unique[i].event.client_id, _hour(unique[i])) for i in stored})
            table, unpriced = guard("prepare", build_table, fresh, self.catalog, source)
        except BaseException:
            # Not prepared: these ids must not read as in progress (as duplicates) on a retry.
            with self._lock:
                self._pending -= ids
            raise
        token = hashlib.sha256(b"".join(sorted(ids))).hexdigest()
        result = WriteResult(len(fresh), len(accepted) - len(fresh), unpriced)
        return PreparedInsert(table, token, ids, result)

    def build(self, batch: ColumnarDecoded, source: str) -> Rows:
        """Price and lay out a columnar batch (CPU only): the rows :meth:`prepare` would make."""
        table, ids, unpriced = batch_table(batch, self.catalog, source)
        return Rows(table, ids, unpriced)

    def built_blocks(self, built: BuiltRows) -> list[BuiltRows]:
        """:meth:`blocks` for built rows: one block per month, months in order, rows in order."""
        assert isinstance(built, Rows)
        ms = built.table.column("occurred_at").cast(pa.int64()).to_numpy()
        months = ms.astype("datetime64[ms]").astype("datetime64[M]").astype(np.int64)
        keys = np.unique(months)
        if len(keys) <= 1:
            return [built]
        out: list[BuiltRows] = []
        for key in keys.tolist():
            rows = np.flatnonzero(months == key)
            table = built.table.take(pa.array(rows, pa.int64()))
            out.append(Rows(table, [built.ids[r] for r in rows.tolist()], _unpriced(table)))
        return out

    def ids(self, built: BuiltRows) -> frozenset[bytes]:
        assert isinstance(built, Rows)
        return frozenset(built.ids)

    def prepare_built(self, built: BuiltRows) -> PreparedInsert:
        """:meth:`prepare` for built rows: the same rows, token and result.

        The duplicate check is :func:`stored_mask` (ids compared as Arrow arrays, nothing per
        row in Python); repeats inside the batch keep their first row, and events found stored
        get their client-hours' rollup repaired, as in :meth:`prepare`.
        """
        assert isinstance(built, Rows)
        table, ids, unpriced = built.table, built.ids, built.unpriced
        id_column = table.column("event_id")
        if len(pc.unique(id_column)) == len(ids):
            keep = np.ones(len(ids), bool)
        else:
            first: dict[bytes, int] = {}
            for row, key in enumerate(ids):
                first.setdefault(key, row)
            keep = np.zeros(len(ids), bool)
            keep[list(first.values())] = True
        stored = np.zeros(len(ids), bool)
        with self._lock:
            if len(ids):
                # Arrow rows are cheap to read back: allow a wider span before sending ids.
                cap = 4 * SPAN_ROWS_PER_EVENT, 10 * SPAN_ROWS_MIN
                stored = guard("duplicate check", stored_mask, self.pool, table, *cap)
                keep &= ~stored
            if self._pending:
                keep &= np.array([key not in self._pending for key in ids], bool)
            rows = np.flatnonzero(keep)
            fresh_ids = [ids[row] for row in rows.tolist()]
            fresh = frozenset(fresh_ids)
            self._pending |= fresh
        try:  # as in prepare: a failure leaves none of the ids pending
            if stored.any():  # as in prepare: the rollup may lack the stored events
                self._repair(client_hours(table, np.flatnonzero(stored)))
            if len(rows) < len(ids):
                table = guard("prepare", table.take, pa.array(rows, pa.int64()))
                unpriced = _unpriced(table)
            token = sorted_digest(fresh_ids)
        except BaseException:
            with self._lock:
                self._pending -= fresh
            raise
        result = WriteResult(len(rows), len(ids) - len(rows), unpriced)
        return PreparedInsert(table, token, fresh, result)

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

    def _already_stored(self, items: list[Accepted]) -> set[bytes]:
        """Ids (16 bytes) of ``items`` already in the table (storage.clickhouse.dedup)."""
        if not items:
            return set()
        times = [i.event.occurred_at for i in items]
        return stored_ids(
            self.pool,
            {i.event.event_id.bytes for i in items},
            sorted({i.event.client_id for i in items}),
            (min(times), max(times)),
            SPAN_ROWS_PER_EVENT,
            SPAN_ROWS_MIN,
        )

    def _repair(self, hours: set[tuple[str, datetime]]) -> None:
        """A redelivery after a crash: the rollup may lack the stored events (repair.py)."""
        with self._inserts.alone():
            try:
                guard("rollup repair", repair, self.pool, hours)
            except StorageRefused:
                # Not these events' fault: they are stored (or will be), so they must not be
                # dead-lettered for it. An outage still raises and the sink retries it.
                log.exception("rollup repair refused for %d client-hours", len(hours))


def _unpriced(table: pa.Table) -> int:
    return int(pc.sum(pc.equal(table.column("cost_source"), "unpriced")).as_py() or 0)
