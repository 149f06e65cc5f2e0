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

from core import utc
from core.calendar import GroupBy
from core.usage import ZERO, Metrics
from storage import Dimension, LogFilter, LogPage
from storage.clickhouse.pool import ClickHousePool
from storage.clickhouse.sql import Query
from storage.clickhouse.sql import logs as logq
from storage.clickhouse.sql import usage as usageq

# Pages up to this offset read raw rows directly; deeper ones first find the hour they start in.
DIRECT_OFFSET = 10_000


class ClickHouseReads:
    """Implements storage.UsageReader and storage.LogReader."""

    def __init__(self, pool: ClickHousePool) -> None:
        self.pool = pool
        self.db = pool.database
        self._executor = ThreadPoolExecutor(max_workers=pool.size, thread_name_prefix="query")

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
    def by_bucket(
        self, client_id: str, start: datetime, end: datetime, group_by: GroupBy
    ) -> dict[datetime, Metrics]:
        parts = usageq.usage_by_bucket(self.db, client_id, start, end, group_by)
        return {utc.naive(key[0]): m for key, m in self._summed(parts, 1).items()}

    def by_pair(
        self,
        client_id: str,
        start: datetime,
        end: datetime,
        dims: tuple[Dimension, Dimension],
    ) -> dict[tuple[str, str], Metrics]:
        parts = usageq.usage_by_pair(self.db, client_id, start, end, dims)
        return {(key[0], key[1]): m for key, m in self._summed(parts, 2).items()}

    def total(self, client_id: str, start: datetime, end: datetime) -> Metrics:
        parts = usageq.usage_total(self.db, client_id, start, end)
        return self._summed(parts, 0).get((), ZERO)

    def newest_event(self, client_id: str) -> datetime | None:
        rows = self._rows(usageq.newest_event(self.db, client_id))
        return utc.naive(rows[0][0]) if rows else None

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
        return LogPage([dict(zip(logq.LOG_COLUMNS, r, strict=True)) for r in rows], total)

    def _deep_page(self, flt: LogFilter, limit: int, offset: int) -> Query:
        """A deep page starts reading at the hour that holds its first call."""
        skipped = 0
        for hour, calls in self._rows(logq.calls_per_hour(self.db, flt)):
            if skipped + calls > offset:
                before = utc.naive(hour) + timedelta(hours=1)
                return logq.log_page(self.db, flt, limit, offset - skipped, before)
            skipped += calls
        return logq.log_page(self.db, flt, limit, offset)

    def detail(self, client_id: str, log_id: uuid.UUID) -> dict[str, Any] | None:
        rows = self._rows(logq.log_detail(self.db, client_id, log_id))
        return dict(zip(logq.DETAIL_COLUMNS, rows[0], strict=True)) if rows else None
