"""Streams for exports and the admin's reads across clients.

A stream opens a client of its own for as long as the caller reads it (an export can take
minutes: holding one of the pool's few clients that long would stall every billing query
behind it) and hands ClickHouse's blocks on as they arrive (``query_row_block_stream``: chdb's
``send_query`` on the embedded engine, a chunked HTTP response from a server), so an export's
memory is a few blocks whatever the period.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from core.calendar import GroupBy
from core.usage import Metrics
from storage import Dimension, ExportFilter
from storage.clickhouse.pool import ClickHousePool, connect
from storage.clickhouse.sql import Query
from storage.clickhouse.sql import exports as exportq

# Rows per block ClickHouse sends: large enough for few round trips, small enough to stream.
BLOCK_ROWS = 16_384


def _whole_hour(value: datetime) -> bool:
    return value == value.replace(minute=0, second=0, microsecond=0)


class ClickHouseExports:
    """Implements storage.ExportReader and storage.FleetReader."""

    def __init__(self, pool: ClickHousePool) -> None:
        self.pool = pool
        self.db = pool.database

    @contextlib.contextmanager
    def _blocks(self, query: Query) -> Iterator[Iterable[Sequence[Sequence[Any]]]]:
        client = connect(self.pool.settings)
        try:
            with client.query_row_block_stream(
                query.sql, parameters=query.params, settings={"max_block_size": BLOCK_ROWS}
            ) as stream:
                yield stream
        finally:
            client.close()

    def log_count(self, flt: ExportFilter) -> int:
        q = exportq.log_count(self.db, flt)
        return int(self.pool.query_rows(q.sql, q.params)[0][0])

    def log_blocks(self, flt: ExportFilter) -> contextlib.AbstractContextManager[Any]:
        return self._blocks(exportq.log_rows(self.db, flt))

    def usage_blocks(
        self,
        client_id: str,
        start: datetime,
        end: datetime,
        group_by: GroupBy,
        dims: tuple[Dimension, ...],
    ) -> contextlib.AbstractContextManager[Any]:
        return self._blocks(exportq.usage_rows(self.db, client_id, start, end, group_by, dims))

    def usage_by_client(self, start: datetime, end: datetime) -> dict[str, Metrics]:
        if not (_whole_hour(start) and _whole_hour(end)):
            raise ValueError("usage_by_client reads the hourly rollup: give whole UTC hours")
        q = exportq.usage_by_client(self.db, start, end)
        return {row[0]: Metrics.of(row[1:]) for row in self.pool.query_rows(q.sql, q.params)}
