"""The one write path for generation events: decode -> validate -> price -> store once.

Both the Kafka sink (``ingest/``) and the HTTP import (``query_api/``) go through here, so an
event is judged, priced and de-duplicated the same way whichever door it came in by.

Everything works on batches: per-event work is limited to what must be per event (parsing and
validation); pricing lookups, column building and the duplicate check are per batch.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa
from pydantic import TypeAdapter, ValidationError

from core.clickhouse import ClickHousePool
from core.columns import build_table
from core.pricing import PriceCatalog
from schemas.event import (
    DEFAULT_MAX_METADATA_BYTES,
    SCHEMA_VERSION,
    GenerationEvent,
    metadata_problems,
)

# Reasons an event is refused; they travel with the event to the dead-letter topic.
INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_an_object"
OVERSIZED = "oversized"
UNSUPPORTED_SCHEMA_VERSION = "unsupported_schema_version"
INVALID_EVENT = "invalid_event"

# Ids per duplicate-check query when ids are sent: keeps the bound parameters under the
# HTTP URI limit of a ClickHouse server (1 MiB by default).
_LOOKUP_CHUNK = 4_000
# The duplicate check lists a batch's time span when it holds at most this many rows.
SPAN_ROWS_PER_EVENT = 4
SPAN_ROWS_MIN = 1_000


@dataclass(frozen=True)
class SourceRecord:
    """Raw bytes of one event and where they came from (Kafka position, or an import line).

    ``index`` is the event's place inside a batch message (a JSON array), -1 for a message
    holding one event.
    """

    value: bytes
    topic: str = ""
    partition: int = -1
    offset: int = -1
    index: int = -1


@dataclass(frozen=True)
class Rejection:
    """An event that cannot be stored, with every problem found in it."""

    record: SourceRecord
    reason: str
    errors: list[dict[str, Any]]

    def describe(self) -> str:
        return "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())) or '<event>'}: {e['msg']}"
            for e in self.errors
        )


@dataclass(frozen=True)
class Accepted:
    event: GenerationEvent
    record: SourceRecord


@dataclass
class Decoded:
    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


@dataclass(frozen=True)
class Limits:
    max_event_bytes: int = 64 * 1024
    max_metadata_bytes: int = DEFAULT_MAX_METADATA_BYTES
    # A batch message may hold many events, up to Kafka's default message size.
    max_message_bytes: int = 1024 * 1024


def _error(loc: Sequence[str | int], msg: str, kind: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": kind}


def decode_one(record: SourceRecord, limits: Limits) -> Accepted | Rejection:
    """Parse and validate a message holding one event."""
    outcomes = decode_message(record, limits)
    if len(outcomes) == 1 and record.index == -1 and not _is_array(record.value):
        return outcomes[0]
    msg = "expected a single event, got a batch (JSON array)"
    return Rejection(record, NOT_AN_OBJECT, [_error([], msg, "type")])


def _is_array(value: bytes) -> bool:
    return value.lstrip()[:1] == b"["


def decode_message(record: SourceRecord, limits: Limits) -> list[Accepted | Rejection]:
    """Parse and validate one message: an event (JSON object) or a batch (array of them).

    Batches amortise the per-message cost of the consumer; each event in one is judged on
    its own, and a refused one is reported with its index and its own JSON.
    """
    size = len(record.value)
    # A message of one event may be no larger than an event; a batch no larger than a message.
    limit = limits.max_message_bytes if _is_array(record.value) else limits.max_event_bytes
    if size > limit:
        what = "message" if _is_array(record.value) else "event"
        msg = f"{what} is {size} bytes, more than the {limit} limit"
        return [Rejection(record, OVERSIZED, [_error([], msg, "too_large")])]
    if limit == limits.max_message_bytes:
        fast = _valid_batch(record, limits)
        if fast is not None:
            return fast
    try:
        data = orjson.loads(record.value)
    except orjson.JSONDecodeError as exc:
        return [Rejection(record, INVALID_JSON, [_error([], f"not valid JSON: {exc}", "json")])]
    if isinstance(data, list):
        outcomes: list[Accepted | Rejection] = []
        large = len(record.value) > limits.max_event_bytes
        for index, item in enumerate(data):
            encoded = orjson.dumps(item)
            part = SourceRecord(encoded, record.topic, record.partition, record.offset, index)
            outcomes.append(_decode_event(part, item, limits, encoded if large else None))
        if not data:
            msg = "an empty batch holds no event"
            outcomes.append(Rejection(record, NOT_AN_OBJECT, [_error([], msg, "type")]))
        return outcomes
    return [_decode_event(record, data, limits, None)]


_BATCH = TypeAdapter(list[GenerationEvent])


def _valid_batch(record: SourceRecord, limits: Limits) -> list[Accepted | Rejection] | None:
    """The fast path for a batch whose events are all valid: one validation call in Rust.

    None when anything is wrong with it; the caller then judges event by event. A valid event
    cannot exceed the event size limit (every field is bounded), so only metadata sizes remain
    to check.
    """
    try:
        events = _BATCH.validate_json(record.value)
    except ValidationError:
        return None
    if not events:
        return None
    cap = limits.max_metadata_bytes
    for event in events:
        for meta in (event.request_metadata, event.response_metadata):
            if meta and len(orjson.dumps(meta, default=str)) > cap:
                return None
    return [Accepted(event, record) for event in events]


def _decode_event(
    record: SourceRecord, data: Any, limits: Limits, encoded: bytes | None
) -> Accepted | Rejection:
    """Judge one parsed event; ``encoded`` is given when its size must be checked."""
    if encoded is not None and len(encoded) > limits.max_event_bytes:
        msg = f"event is {len(encoded)} bytes, more than the {limits.max_event_bytes} limit"
        return Rejection(record, OVERSIZED, [_error([], msg, "too_large")])
    if not isinstance(data, dict):
        msg = f"event must be a JSON object, got {type(data).__name__}"
        return Rejection(record, NOT_AN_OBJECT, [_error([], msg, "type")])
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        msg = f"schema_version {version!r} is not supported (this worker reads {SCHEMA_VERSION})"
        return Rejection(
            record, UNSUPPORTED_SCHEMA_VERSION, [_error(["schema_version"], msg, "version")]
        )
    # Metadata cannot outgrow the event carrying it: only large events need the size check.
    errors = (
        metadata_problems(data, limits.max_metadata_bytes)
        if len(record.value) > limits.max_metadata_bytes
        else []
    )
    try:
        event = GenerationEvent.model_validate(data)
    except ValidationError as exc:
        errors.extend(
            _error([str(p) for p in e["loc"]], e["msg"], e["type"])
            for e in exc.errors(include_url=False, include_input=False)
        )
    if errors:
        return Rejection(record, INVALID_EVENT, errors)
    return Accepted(event, record)


def decode_batch(records: Iterable[SourceRecord], limits: Limits) -> Decoded:
    decoded = Decoded()
    for record in records:
        for outcome in decode_message(record, limits):
            if isinstance(outcome, Accepted):
                decoded.accepted.append(outcome)
            else:
                decoded.rejected.append(outcome)
    return decoded


@dataclass(frozen=True)
class WriteResult:
    inserted: int
    duplicates: int
    unpriced: int


@dataclass(frozen=True)
class PreparedInsert:
    """Rows to insert, fixed once: a retry sends exactly these rows with the same token."""

    table: pa.Table
    token: str
    event_ids: frozenset[Any]
    result: WriteResult


def _utc_naive(value: datetime) -> datetime:
    # The column is DateTime64(3, 'UTC'); naive UTC avoids any local-time interpretation.
    return value.astimezone(UTC).replace(tzinfo=None)


class EventStore:
    """Writes accepted events to ``generations``: priced, each event_id at most once.

    Exactly-once effect, in two layers (see docs/architecture.md):
    1. Before inserting, ids already stored are looked up by primary key (client_id,
       occurred_at, event_id) and dropped, as are repeats inside the batch. This covers Kafka
       redelivery after a crash and producers that send an event twice.
    2. The insert carries a token derived from the ids it holds, so if an insert timed out but
       did land, its retry (the same rows) is dropped by ClickHouse's block de-duplication.
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

    def write(self, accepted: Sequence[Accepted], source: str) -> WriteResult:
        """Prepare and insert in one go (the import path; the sink retries the two steps)."""
        prepared = self.prepare(accepted, source)
        try:
            self.insert(prepared)
        finally:
            self.release(prepared)
        return prepared.result

    def prepare(self, accepted: Sequence[Accepted], source: str) -> PreparedInsert:
        """Drop repeats and already stored events, price the rest, build the columns."""
        unique: dict[Any, Accepted] = {}
        for item in accepted:
            unique.setdefault(item.event.event_id, item)
        with self._lock:
            stored = self._already_stored(list(unique.values())) | self._pending
            fresh = [item for key, item in unique.items() if key not in stored]
            ids = frozenset(item.event.event_id for item in fresh)
            self._pending |= ids
        table, unpriced = build_table(fresh, self.catalog, source)
        token = hashlib.sha256(b"".join(sorted(i.bytes for i in ids))).hexdigest()
        result = WriteResult(len(fresh), len(accepted) - len(fresh), unpriced)
        return PreparedInsert(table, token, ids, result)

    def insert(self, prepared: PreparedInsert) -> None:
        """Insert the prepared rows; safe to call again with the same object after a failure."""
        if not prepared.event_ids:
            return
        self.pool.insert_arrow(
            "generations",
            prepared.table,
            settings={
                "insert_deduplication_token": prepared.token,
                # A block the table already has must still reach a view that missed it.
                "deduplicate_blocks_in_dependent_materialized_views": 1,
            },
        )

    def release(self, prepared: PreparedInsert) -> None:
        """Forget the pending ids once inserted (or abandoned, when the batch will be redone)."""
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
            "lo": _utc_naive(min(times)) - timedelta(milliseconds=1),
            "hi": _utc_naive(max(times)) + timedelta(milliseconds=1),
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
