"""What a record that cannot be stored becomes: a :class:`Rejection` (its dead letter)."""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from core.decode import Accepted, Limits, Rejection, SourceRecord, decode_message
from core.errors import problem
from storage import StorageRefused

UNDECODABLE = "undecodable"  # decoding raised: e.g. a null value (a tombstone)


def decode_each(
    records: Sequence[SourceRecord], limits: Limits
) -> tuple[list[Accepted], list[Rejection]]:
    """Decode record by record: whatever raises while decoding one becomes its dead letter."""
    accepted: list[Accepted] = []
    rejected: list[Rejection] = []
    for record in records:
        try:
            outcomes = decode_message(record, limits)
        except Exception as exc:
            what = "a null value (tombstone)" if record.value is None else "this record"
            msg = f"decoding {what} failed: {type(exc).__name__}: {exc}"[:1000]
            rejected.append(Rejection(record, UNDECODABLE, [problem([], msg, "undecodable")]))
            continue
        for outcome in outcomes:
            if isinstance(outcome, Accepted):
                accepted.append(outcome)
            else:
                rejected.append(outcome)
    return accepted, rejected


def refusal(item: Accepted, batch: list[Accepted], exc: StorageRefused) -> Rejection:
    """The dead letter of one refused event: its own JSON and place when it came in an array."""
    record = item.record
    # An accepted event always has a value (a tombstone is refused when decoded).
    if record.index == -1 and record.value is not None and record.value.lstrip()[:1] == b"[":
        # The fast path kept the whole batch message: find this event's place and bytes.
        index = [i for i in batch if i.record is record].index(item)
        try:
            value = orjson.dumps(orjson.loads(record.value)[index])
        except Exception:
            value = item.event.model_dump_json(exclude_none=True).encode()
        record = SourceRecord(value, record.topic, record.partition, record.offset, index)
    return Rejection(record, exc.reason, [problem([], str(exc)[:2000], "storage")])


def where(record: SourceRecord) -> str:
    return f"{record.topic}[{record.partition}]@{record.offset}#{record.index}"
