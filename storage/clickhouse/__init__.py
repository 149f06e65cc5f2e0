"""ClickHouse implementation of the storage contract: pool, migrations and every SQL statement.

The same code serves the embedded engine (``chdb://`` DSN, the default) and a ClickHouse server
(``http(s)://``): clickhouse-connect gives one client API for both.
"""

from __future__ import annotations

import logging

from core.pricing import PriceCatalog
from core.settings import ClickHouseSettings
from storage.clickhouse.alerts import AlertStore
from storage.clickhouse.cached import CachedReads
from storage.clickhouse.changes import ObservedWriter
from storage.clickhouse.console import ClickHouseConsole
from storage.clickhouse.dead_letters import DeadLetterTable
from storage.clickhouse.events import EventStore
from storage.clickhouse.exports import ClickHouseExports
from storage.clickhouse.migrate import migrate
from storage.clickhouse.pool import ClickHousePool
from storage.clickhouse.reads import ClickHouseReads
from storage.clickhouse.tenants import TenantStore

log = logging.getLogger(__name__)


class ClickHouseStorage:
    """Implements :class:`storage.Storage` on one pool of clients.

    ``read_model`` (default: with the embedded engine) serves usage and log reads from an
    in-process read model of each client's rollup, dropped whenever this storage's writer
    stores the client's rows. It must stay off when other processes write the same database
    (a ClickHouse server with separate workers) unless their writes are fed to
    :meth:`CachedReads.written` (the change topic of docs/architecture.md).
    """

    def __init__(
        self, pool: ClickHousePool, catalog: PriceCatalog, read_model: bool | None = None
    ) -> None:
        self.pool = pool
        self.events = ObservedWriter(EventStore(pool, catalog))
        self.fresh = ClickHouseReads(pool)
        self._reads: ClickHouseReads | CachedReads = self.fresh
        if pool.settings.embedded if read_model is None else read_model:
            cached = CachedReads(self.fresh)
            self.events.subscribe(cached)
            self._reads = cached
        self.tenants = TenantStore(pool)
        self.dead_letters = DeadLetterTable(pool)
        self._exports = ClickHouseExports(pool)
        self.sql = ClickHouseConsole(pool.settings)
        self.alerts = AlertStore(pool)

    @property
    def usage(self) -> ClickHouseReads | CachedReads:
        return self._reads

    @property
    def logs(self) -> ClickHouseReads | CachedReads:
        return self._reads

    @property
    def exports(self) -> ClickHouseExports:
        return self._exports

    @property
    def fleet(self) -> ClickHouseExports:
        return self._exports

    def ping(self) -> None:
        self.pool.query_rows("SELECT 1")

    def close(self) -> None:
        self.fresh.close()
        self.pool.close()


def open_storage(
    settings: ClickHouseSettings, catalog: PriceCatalog, pool_size: int | None = None
) -> ClickHouseStorage:
    """Connect, apply pending migrations, and return the storage."""
    pool = ClickHousePool(settings, size=pool_size)
    applied = migrate(pool)
    if applied:
        log.info("migrations applied: %s", ", ".join(applied))
    return ClickHouseStorage(pool, catalog)


__all__ = [
    "AlertStore",
    "ClickHousePool",
    "ClickHouseStorage",
    "DeadLetterTable",
    "EventStore",
    "TenantStore",
    "open_storage",
]
