"""First step of the one write path: raw bytes -> accepted events or rejections with reasons.

Both the Kafka sink (``ingest/``) and the HTTP import (``query_api/``) decode here, so an event
is judged the same way whichever door it came in by; storage (:mod:`storage`) then prices and
stores the accepted ones once. A rejection carries every problem found, and its reason code
travels with the record to the dead-letter topic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from core.errors import Problem, ValidationFailed, problem
from core.settings import WorkerSettings
from schemas.event import (
    DEFAULT_MAX_BATCH_BYTES,
    DEFAULT_MAX_EVENT_BYTES,
    DEFAULT_MAX_METADATA_BYTES,
    SCHEMA_VERSION,
    GenerationEvent,
    metadata_problems,
)

# Reasons an event is refused; they travel with the event to the dead-letter topic.
TOMBSTONE = "tombstone"  # a Kafka record with a null value
EMPTY_VALUE = "empty_value"  # zero bytes
INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_an_object"
OVERSIZED = "oversized"
UNSUPPORTED_SCHEMA_VERSION = "unsupported_schema_version"
INVALID_EVENT = "invalid_event"


@dataclass(frozen=True)
class SourceRecord:
    """Raw bytes of one event and where they came from (Kafka position, or an import line).

    ``index`` is the event's place inside a batch message (a JSON array), -1 for a message
    holding one event.
    """

    value: bytes | None  # None: a Kafka tombstone (any client can send one)
    topic: str = ""
    partition: int = -1
    offset: int = -1
    index: int = -1


@dataclass(frozen=True)
class Rejection:
    """An event that cannot be stored, with every problem found in it."""

    record: SourceRecord
    reason: str
    errors: list[Problem]

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
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    max_metadata_bytes: int = DEFAULT_MAX_METADATA_BYTES
    # A batch message may hold many events, up to Kafka's default message size.
    max_message_bytes: int = DEFAULT_MAX_BATCH_BYTES

    @classmethod
    def from_settings(cls, worker: WorkerSettings) -> Limits:
        return cls(worker.max_event_bytes, worker.max_metadata_bytes)


DEFAULT_LIMITS = Limits()


def _is_array(value: bytes) -> bool:
    return value.lstrip()[:1] == b"["


def _no_value(record: SourceRecord) -> Rejection | None:
    if record.value is None:
        msg = "the record has a null value (a Kafka tombstone), not an event"
        return Rejection(record, TOMBSTONE, [problem([], msg, "tombstone")])
    if not record.value:
        msg = "the record's value is empty (0 bytes), not an event"
        return Rejection(record, EMPTY_VALUE, [problem([], msg, "empty")])
    return None


# orjson writes a number like 1e15 as 1000000000000000.0: metadata can serialise to at most
# this many times its bytes as sent, so smaller events need no size check.
_MAX_EXPANSION = 5


def decode_message(record: SourceRecord, limits: Limits) -> list[Accepted | Rejection]:
    """Parse and validate one message: an event (JSON object) or a batch (array of them).

    Batches amortise the per-message cost of the consumer; each event in one is judged on
    its own, and a refused one is reported with its index and its own JSON.
    """
    empty = _no_value(record)
    if empty is not None or record.value is None:
        return [empty] if empty is not None else []
    size = len(record.value)
    # A message of one event may be no larger than an event; a batch no larger than a message.
    limit = limits.max_message_bytes if _is_array(record.value) else limits.max_event_bytes
    if size > limit:
        what = "message" if _is_array(record.value) else "event"
        msg = f"{what} is {size} bytes, more than the {limit} limit"
        return [Rejection(record, OVERSIZED, [problem([], msg, "too_large")])]
    if limit == limits.max_message_bytes:
        fast = _valid_batch(record, limits)
        if fast is not None:
            return fast
    try:
        data = orjson.loads(record.value)
    except orjson.JSONDecodeError as exc:
        return [Rejection(record, INVALID_JSON, [problem([], f"not valid JSON: {exc}", "json")])]
    if isinstance(data, list):
        outcomes: list[Accepted | Rejection] = []
        large = len(record.value) > limits.max_event_bytes
        for index, item in enumerate(data):
            try:
                encoded = orjson.dumps(item)
            except orjson.JSONEncodeError:
                # Too deep to write back on its own (so certainly refused below): the dead
                # letter carries the whole message, with this event's index.
                part = SourceRecord(
                    record.value, record.topic, record.partition, record.offset, index
                )
                outcomes.append(_decode_event(part, item, limits, None))
                continue
            part = SourceRecord(encoded, record.topic, record.partition, record.offset, index)
            outcomes.append(_decode_event(part, item, limits, encoded if large else None))
        if not data:
            msg = "an empty batch holds no event"
            outcomes.append(Rejection(record, NOT_AN_OBJECT, [problem([], msg, "type")]))
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
        events = _BATCH.validate_json(record.value or b"")
    except ValidationError:
        return None
    if not events:
        return None
    cap = limits.max_metadata_bytes
    for event in events:
        for meta in (event.request_metadata, event.response_metadata):
            if meta and len(orjson.dumps(meta)) > cap:
                return None
    return [Accepted(event, record) for event in events]


def _decode_event(
    record: SourceRecord, data: Any, limits: Limits, encoded: bytes | None
) -> Accepted | Rejection:
    """Judge one parsed event; ``encoded`` is given when its size must be checked."""
    if encoded is not None and len(encoded) > limits.max_event_bytes:
        msg = f"event is {len(encoded)} bytes, more than the {limits.max_event_bytes} limit"
        return Rejection(record, OVERSIZED, [problem([], msg, "too_large")])
    if not isinstance(data, dict):
        msg = f"event must be a JSON object, got {type(data).__name__}"
        return Rejection(record, NOT_AN_OBJECT, [problem([], msg, "type")])
    version = data.get("schema_version", SCHEMA_VERSION)
    # 1.0 is the JSON number 1 (as JSON Schema's "const": 1 says); true is not.
    supported = not isinstance(version, bool) and isinstance(version, int | float)
    if not supported or version != SCHEMA_VERSION:
        msg = f"schema_version {version!r} is not supported (this worker reads {SCHEMA_VERSION})"
        return Rejection(
            record, UNSUPPORTED_SCHEMA_VERSION, [problem(["schema_version"], msg, "version")]
        )
    # Metadata cannot outgrow the event carrying it: only large events need the size check.
    assert record.value is not None
    errors = (
        metadata_problems(data, limits.max_metadata_bytes)
        if len(record.value) * _MAX_EXPANSION > limits.max_metadata_bytes
        else []
    )
    try:
        event = GenerationEvent.model_validate(data)
    except ValidationError as exc:
        errors.extend(
            problem([str(p) for p in e["loc"]], e["msg"], e["type"])
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


def encode(
    event: GenerationEvent | Mapping[str, Any], limits: Limits = DEFAULT_LIMITS
) -> tuple[bytes, bytes]:
    """Validate and serialise: (key, value). Raises ValidationFailed naming every problem.

    Producers judge an event as the sink will: the same model and the same size limits.
    """
    errors: list[dict[str, Any]] = []
    if not isinstance(event, GenerationEvent):
        try:
            event = GenerationEvent.model_validate(event)
        except ValidationError as exc:
            errors = [
                problem(e["loc"], e["msg"], e["type"])
                for e in exc.errors(include_url=False, include_input=False)
            ]
    value = b"" if errors else event.model_dump_json(exclude_none=True).encode()  # type: ignore[union-attr]
    if errors or len(value) > limits.max_metadata_bytes:
        source = event if isinstance(event, Mapping) else event.model_dump(mode="json")
        errors.extend(metadata_problems(dict(source), limits.max_metadata_bytes))
    if not errors and len(value) > limits.max_event_bytes:
        msg = f"event is {len(value)} bytes, more than the {limits.max_event_bytes} limit"
        errors.append(problem([], msg, "too_large"))
    if errors:
        raise ValidationFailed(errors)
    assert isinstance(event, GenerationEvent)
    return event.client_id.encode(), value
