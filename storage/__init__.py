"""The storage contract: what the rest of llmhub needs from a database, as Protocols.

Handlers, reports and the sink depend on these shapes only. ClickHouse (embedded chdb or a
server, one code path) is the implementation in :mod:`storage.clickhouse`; a second engine, or
a test double, is one more package beside it that satisfies the same Protocols.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

from core.calendar import GroupBy
from core.columnar import ColumnarDecoded
from core.decode import Accepted
from core.tenancy import ApiKey, Client, IssuedKey
from core.usage import Metrics

# Columns a usage breakdown can be keyed by.
Dimension = Literal["provider", "model", "endpoint"]


@dataclass(frozen=True)
class WriteResult:
    inserted: int
    duplicates: int
    unpriced: int


class PreparedWrite(Protocol):
    """Rows fixed once by :meth:`EventWriter.prepare`: retries insert exactly these."""

    @property
    def result(self) -> WriteResult: ...


class BuiltRows(Protocol):
    """A columnar batch laid out as rows to store, before the duplicate check."""

    def __len__(self) -> int: ...


class EventWriter(Protocol):
    """Stores accepted events priced, each ``event_id`` at most once."""

    def prepare(self, accepted: Sequence[Accepted], source: str) -> PreparedWrite: ...

    def build(self, batch: ColumnarDecoded, source: str) -> BuiltRows:
        """Price a columnar batch and lay out its rows (CPU only: no storage round trip)."""
        ...

    def prepare_built(self, built: BuiltRows) -> PreparedWrite:
        """:meth:`prepare` for rows made by :meth:`build`: drop stored and repeated events."""
        ...

    def insert(self, prepared: PreparedWrite) -> None:
        """Idempotent: safe to call again with the same object after a failure."""

    def release(self, prepared: PreparedWrite) -> None:
        """Forget a prepared write once inserted or abandoned."""

    def write(self, accepted: Sequence[Accepted], source: str) -> WriteResult:
        """prepare + insert + release in one go."""
        ...


@dataclass(frozen=True)
class LogFilter:
    client_id: str
    provider: str | None = None
    endpoint: str | None = None
    success: bool | None = None


@dataclass(frozen=True)
class LogPage:
    rows: list[dict[str, Any]]  # columns named as in storage.clickhouse.sql.logs.LOG_COLUMNS
    total: int


class UsageReader(Protocol):
    """One client's aggregates over ``[start, end)`` (naive UTC bounds)."""

    def by_bucket(
        self, client_id: str, start: datetime, end: datetime, group_by: GroupBy
    ) -> dict[datetime, Metrics]:
        """Metrics per bucket start (naive UTC); buckets without calls are absent."""
        ...

    def by_pair(
        self,
        client_id: str,
        start: datetime,
        end: datetime,
        dims: tuple[Dimension, Dimension],
    ) -> dict[tuple[str, str], Metrics]: ...

    def total(self, client_id: str, start: datetime, end: datetime) -> Metrics: ...

    def newest_event(self, client_id: str) -> datetime | None:
        """Time of the client's newest stored event (naive UTC): answers are complete to it."""
        ...


class LogReader(Protocol):
    def page(self, flt: LogFilter, limit: int, offset: int) -> LogPage:
        """Calls newest first, and how many match the filter."""
        ...

    def detail(self, client_id: str, log_id: uuid.UUID) -> dict[str, Any] | None:
        """One call, only if it is this client's (another client's reads as missing)."""
        ...


class TenantRepository(Protocol):
    def create_client(
        self,
        client_id: str,
        name: str,
        monthly_budget_usd: Decimal | None = ...,
        alert_thresholds: tuple[int, ...] = ...,
    ) -> Client: ...

    def update_client(
        self,
        client_id: str,
        *,
        name: str | None = ...,
        monthly_budget_usd: Decimal | None = ...,
        clear_budget: bool = ...,
        alert_thresholds: tuple[int, ...] | None = ...,
    ) -> Client: ...

    def get_client(self, client_id: str) -> Client | None: ...

    def require_client(self, client_id: str) -> Client: ...

    def list_clients(self) -> list[Client]: ...

    def cached_client(self, client_id: str) -> Client | None: ...

    def issue_key(self, client_id: str, label: str = ...) -> IssuedKey: ...

    def revoke_key(self, key_id: str) -> ApiKey: ...

    def list_keys(self, client_id: str) -> list[ApiKey]: ...

    def authenticate(self, api_key: str) -> str | None:
        """The client a key belongs to, or None for a malformed, unknown or revoked key."""
        ...


class Storage(Protocol):
    """Everything above, from one engine."""

    @property
    def events(self) -> EventWriter: ...

    @property
    def usage(self) -> UsageReader: ...

    @property
    def logs(self) -> LogReader: ...

    @property
    def tenants(self) -> TenantRepository: ...

    def ping(self) -> None:
        """Raise if the engine cannot answer a query now."""

    def close(self) -> None: ...
