"""ClickHouse implementation of the storage contract: pool, migrations and every SQL statement.

The same code serves the embedded engine (``chdb://`` DSN, the default) and a ClickHouse server
(``http(s)://``): clickhouse-connect gives one client API for both.
"""

from __future__ import annotations

import logging

from core.pricing import PriceCatalog
from core.settings import ClickHouseSettings
from storage.clickhouse.alerts import AlertStore
from storage.clickhouse.events import EventStore
from storage.clickhouse.migrate import migrate
from storage.clickhouse.pool import ClickHousePool
from storage.clickhouse.reads import ClickHouseReads
from storage.clickhouse.tenants import TenantStore

log = logging.getLogger(__name__)


class ClickHouseStorage:
    """Implements :class:`storage.Storage` on one pool of clients."""

    def __init__(self, pool: ClickHousePool, catalog: PriceCatalog) -> None:
        self.pool = pool
        self.events = EventStore(pool, catalog)
        self._reads = ClickHouseReads(pool)
        self.tenants = TenantStore(pool)
        self.alerts = AlertStore(pool)

    @property
    def usage(self) -> ClickHouseReads:
        return self._reads

    @property
    def logs(self) -> ClickHouseReads:
        return self._reads

    def ping(self) -> None:
        self.pool.query_rows("SELECT 1")

    def close(self) -> None:
        self._reads.close()
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
    "EventStore",
    "TenantStore",
    "open_storage",
]
