"""Connections: one code path for the embedded engine (chdb) and a ClickHouse server.

clickhouse-connect gives the same synchronous ``Client`` for both DSNs. A client serialises its
own calls, so :class:`ClickHousePool` keeps a few of them, one borrowed per call. Callers on
the asyncio loop (API, Kafka sink) run pool calls in worker threads (``asyncio.to_thread``) so
the loop never blocks on a query.
"""

from __future__ import annotations

import contextlib
import queue
from collections.abc import Iterator, Sequence
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from core.settings import ClickHouseSettings


def connect(settings: ClickHouseSettings) -> Client:
    """Open one client on the configured DSN (the embedded engine creates its directory)."""
    if settings.embedded:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return clickhouse_connect.get_client(dsn=settings.dsn)
    # No session id: a server serialises the queries of one session. On a cluster an insert
    # into a Distributed table returns only once the shards have it (the sink acks after).
    extra = {"distributed_foreground_insert": 1} if settings.cluster else None
    return clickhouse_connect.get_client(
        dsn=settings.dsn, autogenerate_session_id=False, settings=extra
    )


class ClickHousePool:
    """A fixed set of clients; each call borrows one (blocking until one is free)."""

    def __init__(self, settings: ClickHouseSettings, size: int | None = None) -> None:
        self.settings = settings
        self.database = settings.database
        self.size = size or settings.pool_size
        self._idle: queue.Queue[Client] = queue.Queue()
        self._all: list[Client] = []
        for _ in range(size or settings.pool_size):
            client = connect(settings)
            self._all.append(client)
            self._idle.put(client)

    @contextlib.contextmanager
    def client(self) -> Iterator[Client]:
        """Borrow a client for synchronous use (blocks until one is free)."""
        client = self._idle.get()
        try:
            yield client
        finally:
            self._idle.put(client)

    def query_rows(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        with self.client() as client:
            return [tuple(row) for row in client.query(sql, parameters=parameters).result_rows]

    def query_arrow(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        """The result as a pyarrow Table: no Python object per value."""
        with self.client() as client:
            return client.query_arrow(sql, parameters=parameters)

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        with self.client() as client:
            return client.command(sql, parameters=parameters)

    def insert(
        self,
        table: str,
        columns: Sequence[Sequence[Any]],
        column_names: Sequence[str],
        settings: dict[str, Any] | None = None,
    ) -> None:
        with self.client() as client:
            client.insert(
                table,
                [list(c) for c in columns],
                column_names=list(column_names),
                column_oriented=True,
                database=self.database,
                settings=settings,
            )

    def insert_arrow(self, table: str, data: Any, settings: dict[str, Any] | None = None) -> None:
        with self.client() as client:
            client.insert_arrow(table, data, database=self.database, settings=settings)

    def close(self) -> None:
        for client in self._all:
            with contextlib.suppress(Exception):
                client.close()
        self._all.clear()
