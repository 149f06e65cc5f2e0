"""The storage contract: what the rest of llmhub needs from a database, as Protocols.

Handlers, reports and the sink depend on these shapes only. ClickHouse (embedded chdb or a
server, one code path) is the implementation in :mod:`storage.clickhouse`; a second engine, or
a test double, is one more package beside it that satisfies the same Protocols.

Why one module of ~400 lines: it is the whole contract, Protocols and the value types they
exchange, and nothing else; a second engine reads this one file to know what to implement.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

from core.calendar import GroupBy
from core.columnar import ColumnarDecoded
from core.decode import Accepted
from core.tenancy import ApiKey, Client, IssuedKey
from core.usage import Metrics
from core.webhooks import Delivery, Webhook

# Columns a usage breakdown can be keyed by.
Dimension = Literal["provider", "model", "endpoint"]


class StorageError(Exception):
    """A storage call failed; the two subclasses say whether trying again can help."""


class StorageUnavailable(StorageError):
    """Transient: the engine is down, slow, overloaded or being changed. Retry with backoff."""


class StorageRefused(StorageError):
    """Permanent: the engine (or the preparation of the rows) refuses this data. Retrying the
    same rows will fail the same way; the caller finds the record(s) to blame and dead-letters
    them with ``reason``."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class StorageUnknownError(StorageError):
    """Neither known as transient nor as caused by the data: retried a bounded number of times,
    then treated as :class:`StorageRefused` (so nothing is retried forever)."""


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

    def spans(self) -> dict[str, tuple[datetime, datetime]]:
        """Each client of the rows with its first and last ``occurred_at`` (naive UTC)."""
        ...


class EventWriter(Protocol):
    """Stores accepted events priced, each ``event_id`` at most once.

    Every method raises only :class:`StorageError` subclasses, so callers can tell an outage
    (retry) from data the engine will never take (dead-letter).
    """

    def blocks(self, accepted: Sequence[Accepted]) -> list[list[Accepted]]:
        """Split events into groups the engine takes as one insert each (one partition each):
        prepare and insert each group on its own."""
        ...

    def prepare(self, accepted: Sequence[Accepted], source: str) -> PreparedWrite: ...

    def build(self, batch: ColumnarDecoded, source: str) -> BuiltRows:
        """Price a columnar batch and lay out its rows (CPU only: no storage round trip)."""
        ...

    def built_blocks(self, built: BuiltRows) -> list[BuiltRows]:
        """:meth:`blocks` for rows made by :meth:`build`: one block per partition (month)."""
        ...

    def ids(self, built: BuiltRows) -> frozenset[bytes]:
        """The 16-byte event ids of rows made by :meth:`build`."""
        ...

    def prepare_built(self, built: BuiltRows) -> PreparedWrite:
        """:meth:`prepare` for rows made by :meth:`build`: drop stored and repeated events."""
        ...

    def insert(self, prepared: PreparedWrite) -> None:
        """Idempotent: safe to call again with the same object after a failure."""

    def release(self, prepared: PreparedWrite) -> None:
        """Forget a prepared write once inserted or abandoned."""

    def write(self, accepted: Sequence[Accepted], source: str) -> WriteResult:
        """blocks, then prepare + insert + release of each, in one go (:func:`write_blocks`)."""
        ...


def write_blocks(writer: EventWriter, accepted: Sequence[Accepted], source: str) -> WriteResult:
    """What every :meth:`EventWriter.write` does: block by block, prepare, insert, release.

    For callers that write in one go (the import route); the sink calls the steps itself so it
    can retry each.
    """
    inserted = duplicates = unpriced = 0
    for block in writer.blocks(accepted):
        prepared = writer.prepare(block, source)
        try:
            writer.insert(prepared)
        finally:
            writer.release(prepared)
        inserted += prepared.result.inserted
        duplicates += prepared.result.duplicates
        unpriced += prepared.result.unpriced
    return WriteResult(inserted, duplicates, unpriced)


# Where a dead letter came from: (topic, partition, offset, index in a batch message).
DeadLetterKey = tuple[str, int, int, int]


@dataclass(frozen=True)
class DeadLetter:
    """A refused record as the dead-letter table keeps it, beside the dead-letter topic.

    Keyed by where the record came from (topic, partition, offset, index), so writing the same
    dead letter twice (a redelivered batch) keeps one row.
    """

    source_topic: str
    source_partition: int
    source_offset: int
    source_index: int
    reason: str
    errors: list[dict[str, Any]]
    client_id: str  # "" when the record names none (or not readably)
    value: bytes
    failed_at: datetime  # aware UTC
    dlq_partition: int = -1
    dlq_offset: int = -1

    @property
    def key(self) -> DeadLetterKey:
        return (self.source_topic, self.source_partition, self.source_offset, self.source_index)


DeadLetterStatus = Literal["open", "replayed", "discarded"]


@dataclass(frozen=True)
class DeadLetterFilter:
    reason: str | None = None
    client_id: str | None = None
    status: DeadLetterStatus | None = "open"  # None: any


class DeadLetterStore(Protocol):
    """The dead-letter table: what was refused, why and whose, until replayed or discarded."""

    def record(self, letters: Sequence[DeadLetter]) -> None:
        """Idempotent: a dead letter written again (same source position) stays one row."""

    def page(self, flt: DeadLetterFilter, limit: int, offset: int) -> list[dict[str, Any]]:
        """Dead letters newest first, each with its key and at most 2,000 characters of value."""
        ...

    def counts(self, flt: DeadLetterFilter) -> list[dict[str, Any]]:
        """How many per (reason, client_id, status)."""
        ...

    def select(self, flt: DeadLetterFilter, limit: int) -> list[DeadLetter]:
        """Up to ``limit`` dead letters, whole (original bytes), oldest source first."""
        ...

    def mark(self, keys: Sequence[DeadLetterKey], status: DeadLetterStatus) -> int:
        """Set the status of these dead letters; return how many there were."""
        ...


class WriteListener(Protocol):
    """Told around every insert of an :class:`ObservableWriter`: how read models stay exact.

    In one process (the embedded engine) the API's read model listens to the writer the sink
    uses. With separate workers, a worker's listener publishes the client ids on a change topic
    that API replicas consume (docs/architecture.md, "Read model").
    """

    def writing(self, client_ids: frozenset[str]) -> None:
        """Rows of these clients are about to be inserted."""

    def written(self, spans: Mapping[str, tuple[datetime, datetime]]) -> None:
        """The insert ended, stored or failed (after a failure the engine state is unknown).

        ``spans``: per client, the first and last ``occurred_at`` (naive UTC) it held.
        """


class ObservableWriter(EventWriter, Protocol):
    def subscribe(self, listener: WriteListener) -> None:
        """Call ``listener`` around every insert from now on."""


@dataclass(frozen=True)
class LogFilter:
    client_id: str
    provider: str | None = None
    endpoint: str | None = None
    success: bool | None = None


@dataclass(frozen=True)
class LogPage:
    rows: list[dict[str, Any]]  # columns named as in LOG_COLUMNS
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


# -- exports, fleet-wide reads and analytics SQL -------------------------------------------

# Columns of a log row, in this order: a log page's rows and an export's (the fields of a
# log item, without metadata).
LOG_COLUMNS = (
    "event_id",
    "occurred_at",
    "provider",
    "model",
    "endpoint",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "reasoning_tokens",
    "cost_usd",
    "cost_source",
    "latency_ms",
    "success",
    "status_code",
    "error_type",
    "request_id",
    "end_user_id",
)

# Rows of a stream arrive in blocks (lists of tuples), so a year of calls never sits in memory.
Blocks = AbstractContextManager[Iterable[Sequence[Sequence[Any]]]]


@dataclass(frozen=True)
class ExportFilter:
    """One client's calls in ``[start, end)`` (naive UTC), with the log filters of the API."""

    client_id: str
    start: datetime
    end: datetime
    provider: str | None = None
    endpoint: str | None = None
    success: bool | None = None


class ExportReader(Protocol):
    """Streams for exports: rows are read block by block while the caller writes them out."""

    def log_count(self, flt: ExportFilter) -> int: ...

    def log_blocks(self, flt: ExportFilter) -> Blocks:
        """Rows of LOG_COLUMNS, oldest first."""
        ...

    def usage_blocks(
        self,
        client_id: str,
        start: datetime,
        end: datetime,
        group_by: GroupBy,
        dims: tuple[Dimension, ...],
    ) -> Blocks:
        """Rows (bucket_start, *dims, *core.usage.METRIC_NAMES) in bucket then dims order.

        Exact for any bounds (rollup for whole hours, raw rows for the edges); buckets without
        calls are absent.
        """
        ...


class FleetReader(Protocol):
    """Reads across clients, for the admin only."""

    def usage_by_client(self, start: datetime, end: datetime) -> dict[str, Metrics]:
        """Every client's metrics in ``[start, end)`` (whole UTC hours: read from the rollup)."""
        ...


SqlFormat = Literal["csv", "json", "pretty", "tsv"]


@dataclass(frozen=True)
class SqlLimits:
    max_execution_s: float
    max_result_rows: int
    max_result_bytes: int


class SqlConsole(Protocol):
    """Read-only SQL for analysts, bounded in time and result size."""

    def run(self, sql: str, fmt: SqlFormat, limits: SqlLimits) -> bytes:
        """The result in ``fmt``; raises core.errors.ValidationFailed for a refused query."""
        ...


class AlertStore(Protocol):
    """Budget alert webhooks per client and the record of every delivery."""

    def set_webhook(self, hook: Webhook) -> None: ...

    def delete_webhook(self, client_id: str) -> None: ...

    def get_webhook(self, client_id: str) -> Webhook | None: ...

    def webhooks(self) -> list[Webhook]: ...

    def month_spend(
        self, client_ids: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, Decimal]:
        """Spend per client over ``[start, end)`` (naive UTC, whole hours)."""
        ...

    def queued_thresholds(self, month: str) -> dict[str, set[int]]: ...

    def save(self, delivery: Delivery) -> None:
        """Write one revision of a delivery; the highest revision is its state."""

    def due(self, now: datetime) -> list[Delivery]: ...

    def deliveries(self, client_id: str) -> list[Delivery]: ...


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

    @property
    def dead_letters(self) -> DeadLetterStore: ...

    @property
    def exports(self) -> ExportReader: ...

    @property
    def fleet(self) -> FleetReader: ...

    @property
    def sql(self) -> SqlConsole: ...

    @property
    def alerts(self) -> AlertStore: ...

    def ping(self) -> None:
        """Raise if the engine cannot answer a query now."""

    def close(self) -> None: ...
