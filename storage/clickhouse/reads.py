"""Reading one client's usage and logs: runs the SQL of :mod:`storage.clickhouse.sql`.

A usage answer is made of independent parts (rollup for whole hours, raw rows for the ragged
edges); they run side by side on the pool's clients, because each costs a few milliseconds of
fixed engine overhead however little it reads.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from core import utc
from core.calendar import GroupBy
from core.ttlcache import TTLCache
from core.usage import ZERO, Metrics
from storage import LOG_COLUMNS, Dimension, LogFilter, LogPage
from storage.clickhouse.edges import EdgeEvents, Overlapped
from storage.clickhouse.pool import ClickHousePool
from storage.clickhouse.readmodel import ClientRollup, Combo, TooLarge, epoch
from storage.clickhouse.sql import Query
from storage.clickhouse.sql import logs as logq
from storage.clickhouse.sql import usage as usageq

# Pages up to this offset read raw rows directly; deeper ones first find the hour they start in.
DIRECT_OFFSET = 10_000
# An as_of up to a second old is still true (data is complete up to it), and saves a query on
# most requests when no read model serves them.
AS_OF_TTL_S = 1.0


def _combos(table: pa.Table) -> list[Combo]:
    """The (provider, model, endpoint, success) of each result row."""
    columns = [table.column(c).to_pylist() for c in ("provider", "model", "endpoint", "success")]
    return [(str(p), str(m), str(e), bool(s)) for p, m, e, s in zip(*columns, strict=True)]


def _metric_arrays(table: pa.Table) -> npt.NDArray[np.int64]:
    """The METRIC_COLUMNS array columns, flattened: shape (metrics, elements)."""
    values = np.vstack(
        [
            table.column(c).combine_chunks().flatten().to_numpy().astype(np.int64)
            for c in usageq.METRIC_COLUMNS
        ]
        or [np.zeros(0, dtype=np.int64)]
    )
    return values.reshape(len(usageq.METRIC_COLUMNS), -1)


class ClickHouseReads:
    """Implements storage.UsageReader and storage.LogReader."""

    def __init__(self, pool: ClickHousePool, as_of_ttl_s: float = AS_OF_TTL_S) -> None:
        self.pool = pool
        self.db = pool.database
        self._executor = ThreadPoolExecutor(max_workers=pool.size, thread_name_prefix="query")
        self._newest: TTLCache[str, datetime | None] = TTLCache(as_of_ttl_s)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _rows(self, query: Query) -> list[tuple[Any, ...]]:
        return self.pool.query_rows(query.sql, query.params)

    def _summed(self, parts: list[Query], keys: int) -> dict[tuple[Any, ...], Metrics]:
        """Run the parts side by side; sum their metric columns by the first ``keys`` columns."""
        if len(parts) > 1:
            results = list(self._executor.map(self._rows, parts))
        else:
            results = [self._rows(q) for q in parts]
        merged: dict[tuple[Any, ...], Metrics] = {}
        for rows in results:
            for row in rows:
                key, values = tuple(row[:keys]), Metrics.of(row[keys:])
                merged[key] = merged[key].plus(values) if key in merged else values
        return merged

    # -- usage -------------------------------------------------------------------------------
    # ``rollup=False``: only the ragged edges, read raw (the caller has the whole hours).
    def by_bucket(
        self,
        client_id: str,
        start: datetime,
        end: datetime,
        group_by: GroupBy,
        rollup: bool = True,
    ) -> dict[datetime, Metrics]:
        parts = usageq.usage_by_bucket(self.db, client_id, start, end, group_by, rollup)
        return {utc.naive(key[0]): m for key, m in self._summed(parts, 1).items()}

    def by_pair(
        self,
        client_id: str,
        start: datetime,
        end: datetime,
        dims: tuple[Dimension, Dimension],
        rollup: bool = True,
    ) -> dict[tuple[str, str], Metrics]:
        parts = usageq.usage_by_pair(self.db, client_id, start, end, dims, rollup)
        return {(key[0], key[1]): m for key, m in self._summed(parts, 2).items()}

    def total(self, client_id: str, start: datetime, end: datetime, rollup: bool = True) -> Metrics:
        parts = usageq.usage_total(self.db, client_id, start, end, rollup)
        return self._summed(parts, 0).get((), ZERO)

    def newest_event(self, client_id: str) -> datetime | None:
        return self._newest.get_or_load(client_id, lambda: self._newest_now(client_id))

    def _newest_now(self, client_id: str) -> datetime | None:
        rows = self._rows(usageq.newest_event(self.db, client_id))
        return utc.naive(rows[0][0]) if rows else None

    def rollup(
        self,
        client_id: str,
        hours: tuple[datetime, datetime] | None = None,
        base: ClientRollup | None = None,
        max_events: int = 0,
    ) -> ClientRollup:
        """The client's read model: every rollup row and the newest event, in one statement.

        With ``hours`` (inclusive) and ``base``: only those hours are read, and replace
        theirs in ``base`` (a write touched them). Raises readmodel.TooLarge when int64
        prefix sums could overflow for this client. A client with at most ``max_events``
        events (0: none) also gets them (storage.clickhouse.edges), read by a second
        statement: the caller keeps the model only if no write overlapped both.
        """
        query = usageq.client_rollup(self.db, client_id, hours)
        with self.pool.client() as client:
            table = client.query_arrow(query.sql, parameters=query.params)
        combos = _combos(table)
        hour_lists = table.column("hours").combine_chunks()
        lengths = np.diff(hour_lists.offsets.to_numpy())
        combo_of_row = np.repeat(np.arange(len(combos), dtype=np.int64), lengths)
        newest = table.column("newest").to_pylist()
        rows = (
            combos,
            combo_of_row,
            hour_lists.flatten().to_numpy().astype(np.int64),
            _metric_arrays(table),
        )
        if base is not None and hours is not None:
            lo, hi = (epoch(h) for h in hours)
            model = base.patched(lo, hi, *rows, utc.naive(newest[0]) if newest else base.newest)
        else:
            model = ClientRollup.build(*rows, utc.naive(newest[0]) if newest else None)
        if not max_events or model.calls > max_events:
            return model
        try:
            if base is not None and base.edges is not None and hours is not None:
                lo, hi = (epoch(h) for h in hours)
                new = self.events(client_id, model.combos, hours)
                return model.with_edges(base.edges.patched(lo * 1000, (hi + 3600) * 1000, new))
            return model.with_edges(self.events(client_id, model.combos))
        except (TooLarge, Overlapped):
            return model  # edges from the engine (overlapped: the caller drops it anyway)

    def events(
        self,
        client_id: str,
        combos: list[Combo],
        hours: tuple[datetime, datetime] | None = None,
    ) -> EdgeEvents:
        """The client's raw events (of ``hours``, inclusive), their combos numbered as in
        ``combos`` (the model's, read in the same consistency window: it has every one)."""
        query = usageq.client_events(self.db, client_id, hours)
        with self.pool.client() as client:
            table = client.query_arrow(query.sql, parameters=query.params)
        index = {combo: i for i, combo in enumerate(combos)}
        found = _combos(table)
        if not all(c in index for c in found):
            # Raw rows of a write whose rollup rows the model did not see: the write
            # overlapped the two reads, and the caller drops the model anyway.
            raise Overlapped("events of a combo the rollup rows lack")
        ids = np.asarray([index[c] for c in found], dtype=np.int64)
        times = table.column("times").combine_chunks()
        lengths = np.diff(times.offsets.to_numpy())
        return EdgeEvents.build(
            times.flatten().to_numpy().astype(np.int64),
            np.repeat(ids, lengths),
            _metric_arrays(table),
        )

    # -- logs --------------------------------------------------------------------------------
    def page(self, flt: LogFilter, limit: int, offset: int) -> LogPage:
        # The count and a near page are independent: ask both at once.
        counted = self._executor.submit(self._rows, logq.log_count(self.db, flt))
        near = None
        if offset <= DIRECT_OFFSET:
            near = self._executor.submit(self._rows, logq.log_page(self.db, flt, limit, offset))
        total = int(counted.result()[0][0])
        if near is not None:
            rows = near.result()
        else:
            rows = self._rows(self._deep_page(flt, limit, offset)) if offset < total else []
        return LogPage([dict(zip(LOG_COLUMNS, r, strict=True)) for r in rows], total)

    def _deep_page(self, flt: LogFilter, limit: int, offset: int) -> Query:
        """A deep page starts reading at the hour that holds its first call."""
        skipped = 0
        for hour, calls in self._rows(logq.calls_per_hour(self.db, flt)):
            if skipped + calls > offset:
                before = utc.naive(hour) + timedelta(hours=1)
                return logq.log_page(self.db, flt, limit, offset - skipped, before)
            skipped += calls
        return logq.log_page(self.db, flt, limit, offset)

    def window_page(
        self, flt: LogFilter, limit: int, offset: int, after: datetime, before: datetime
    ) -> list[dict[str, Any]]:
        """Calls ``offset ..`` of those in [after, before), newest first: a page whose hours
        the read model found, so the engine reads only the granules of those hours."""
        rows = self._rows(logq.log_page(self.db, flt, limit, offset, before, after))
        return [dict(zip(LOG_COLUMNS, r, strict=True)) for r in rows]

    def detail(self, client_id: str, log_id: uuid.UUID) -> dict[str, Any] | None:
        rows = self._rows(logq.log_detail(self.db, client_id, log_id))
        return dict(zip(logq.DETAIL_COLUMNS, rows[0], strict=True)) if rows else None
