"""The sink's fast door: batch messages -> columns of provably valid events, in bulk.

:mod:`core.decode` judges one event at a time through a pydantic model: exact, and about
10 us per event. Here each message is decoded once by a typed C decoder (msgspec) into plain
values, every rule of :class:`schemas.event.GenerationEvent` is checked column by column
(pyarrow compute, numpy), and only what passes *every* check is kept as columns. A message
holding anything this module cannot prove valid - a decoding error, a value out of range, an
odd string, a timestamp or cost in an unusual form - goes whole to :func:`core.decode.
decode_message`, which stays the only judge of what is wrong: every rejection and its reason
come from there, so the dead-letter topic sees exactly what it saw before.

The checks are deliberately narrower than the schema (e.g. no surrounding whitespace, cost
only as a plain decimal string): narrower is safe, since the exact path decides the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from msgspec import UNSET, UnsetType

from core.column_values import (
    CLIENT,
    COST,
    METADATA,
    NAME,
    TIME,
    UNSTRIPPED,
    UUID,
    cost_nanos,
    epoch_micros,
    matches,
    uuid_bytes,
)
from core.decode import Accepted, Decoded, Limits, SourceRecord, decode_message

_U32 = 2**32 - 1
_Tokens = Annotated[int, msgspec.Meta(ge=0, le=_U32)]
_Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
_Text = Annotated[str, msgspec.Meta(max_length=256)]
_EMPTY = msgspec.Raw(b"{}")


class _Event(msgspec.Struct, forbid_unknown_fields=True):
    """Field types loose enough to decode, strict enough that C rejects the obvious."""

    event_id: Annotated[str, msgspec.Meta(min_length=36, max_length=36)]
    client_id: _Name
    occurred_at: Annotated[str, msgspec.Meta(max_length=40)]
    provider: _Name
    model: _Name
    endpoint: _Name
    input_tokens: _Tokens
    output_tokens: _Tokens
    latency_ms: _Tokens
    success: bool
    schema_version: Literal[1] = 1
    cached_input_tokens: _Tokens = 0
    reasoning_tokens: _Tokens = 0
    # Optional fields: absent is proven (stored as "" or 0, as the exact path stores them); an
    # explicit null fails to decode, so it is left to the exact validator.
    cost_usd: Annotated[str, msgspec.Meta(max_length=19)] | UnsetType = UNSET
    status_code: Annotated[int, msgspec.Meta(ge=100, le=599)] = 0
    error_type: _Text = ""
    error_message: Annotated[str, msgspec.Meta(max_length=4096)] = ""
    request_id: _Text = ""
    end_user_id: _Text = ""
    request_metadata: msgspec.Raw = _EMPTY
    response_metadata: msgspec.Raw = _EMPTY


_BATCH = msgspec.json.Decoder(list[_Event])
_ONE = msgspec.json.Decoder(_Event)
_FIELDS = _Event.__struct_fields__
_COL = {name: i for i, name in enumerate(_FIELDS)}


@dataclass
class EventColumns:
    """Provably valid events as columns, in the order of their records.

    Costs are not priced here (see :mod:`core.pricing.columns`): ``cost_nano`` holds the
    provider-reported cost in nano-USD where ``has_cost`` is set.
    """

    arrays: dict[str, pa.Array]
    event_ids: list[bytes]
    occurred_ms: np.ndarray[Any, np.dtype[np.int64]]
    cost_nano: np.ndarray[Any, np.dtype[np.int64]]
    has_cost: np.ndarray[Any, np.dtype[np.bool_]]
    order: np.ndarray[Any, np.dtype[np.int64]]  # (message number << 20) | event index
    partitions: np.ndarray[Any, np.dtype[np.int64]]  # Kafka position of each event's record
    offsets: np.ndarray[Any, np.dtype[np.int64]]

    def __len__(self) -> int:
        return len(self.event_ids)


@dataclass
class ColumnarDecoded:
    """A batch: proven events as columns, and what the exact validator made of the rest."""

    columns: EventColumns | None
    exact: Decoded = field(default_factory=Decoded)
    exact_order: list[int] = field(default_factory=list)  # order keys of exact.accepted

    @property
    def accepted_count(self) -> int:
        return (len(self.columns) if self.columns else 0) + len(self.exact.accepted)


def _prove(events: list[_Event], limits: Limits) -> tuple[EventColumns, np.ndarray[Any, Any]]:
    """Columns of ``events`` and the mask of events that satisfy every schema rule."""
    cols = list(zip(*map(msgspec.structs.astuple, events), strict=True))
    n = len(events)
    ok = np.ones(n, bool)

    def text(name: str, pattern: str | None = None) -> pa.Array:
        array = pa.array(cols[_COL[name]], pa.string())
        if pattern is not None:
            ok[:] &= matches(array, pattern)
        return array

    ids = text("event_id", UUID)
    client_id = text("client_id", CLIENT)
    model = text("model", NAME)
    provider = pc.ascii_lower(text("provider", NAME))
    endpoint = pc.ascii_lower(text("endpoint", NAME))
    optional = {
        name: text(name, UNSTRIPPED)
        for name in ("error_type", "error_message", "request_id", "end_user_id")
    }
    times = text("occurred_at", TIME)
    micros, parsed = epoch_micros(times)
    ok &= parsed
    costs = [None if c is UNSET else c for c in cols[_COL["cost_usd"]]]
    ok &= matches(pa.array(costs, pa.string()), COST)
    proven_costs = [c if good else None for c, good in zip(costs, ok, strict=True)]
    cost_nano, has_cost = cost_nanos(proven_costs)

    tokens = {
        name: np.fromiter(cols[_COL[name]], np.int64, n)
        for name in (
            "input_tokens",
            "output_tokens",
            "cached_input_tokens",
            "reasoning_tokens",
            "latency_ms",
        )
    }
    ok &= tokens["cached_input_tokens"] <= tokens["input_tokens"]
    ok &= tokens["reasoning_tokens"] <= tokens["output_tokens"]

    metadata: dict[str, list[bytes]] = {}
    for name in ("request_metadata", "response_metadata"):
        values = [METADATA.canonical(raw) for raw in cols[_COL[name]]]
        for i, value in enumerate(values):
            if value is None or len(value) > limits.max_metadata_bytes:
                ok[i] = False
        metadata[name] = [v or b"" for v in values]

    arrays = {
        "client_id": client_id,
        "provider": provider,
        "model": model,
        "endpoint": endpoint,
        **{name: pa.array(values, pa.uint32()) for name, values in tokens.items()},
        "success": pa.array(cols[_COL["success"]], pa.bool_()),
        "status_code": pa.array(cols[_COL["status_code"]], pa.uint16()),
        **optional,
        **{name: pa.array(values, pa.binary()) for name, values in metadata.items()},
    }
    columns = EventColumns(
        arrays=arrays,
        event_ids=uuid_bytes(ids, ok.copy()),
        occurred_ms=np.floor_divide(micros, 1000),
        cost_nano=cost_nano,
        has_cost=has_cost,
        order=np.zeros(n, np.int64),
        partitions=np.zeros(n, np.int64),
        offsets=np.zeros(n, np.int64),
    )
    return columns, ok


def _take(columns: EventColumns, keep: np.ndarray[Any, Any]) -> EventColumns:
    mask = pa.array(keep)
    return EventColumns(
        arrays={k: v.filter(mask) for k, v in columns.arrays.items()},
        event_ids=[x for x, k in zip(columns.event_ids, keep, strict=True) if k],
        occurred_ms=columns.occurred_ms[keep],
        cost_nano=columns.cost_nano[keep],
        has_cost=columns.has_cost[keep],
        order=columns.order[keep],
        partitions=columns.partitions[keep],
        offsets=columns.offsets[keep],
    )


def decode_columns(records: Sequence[SourceRecord], limits: Limits) -> ColumnarDecoded:
    """Judge a batch of Kafka records: the same verdicts as :func:`core.decode.decode_batch`.

    Accepted events are the proven ones (as columns) plus those the exact path accepted
    (``exact.accepted``); together, in ``order``, they are the old path's accepted list.
    """
    events: list[_Event] = []
    owner: list[int] = []  # message number of each decoded event
    index: list[int] = []
    exact: list[int] = []
    for number, record in enumerate(records):
        value = record.value
        if value is None:  # a tombstone: the exact path names it
            exact.append(number)
            continue
        is_batch = value.lstrip()[:1] == b"["
        limit = limits.max_message_bytes if is_batch else limits.max_event_bytes
        decoded: list[_Event] = []
        if len(value) <= limit:
            try:
                decoded = _BATCH.decode(value) if is_batch else [_ONE.decode(value)]
            except msgspec.DecodeError:
                decoded = []
        if not decoded:
            exact.append(number)
            continue
        events.extend(decoded)
        owner.extend([number] * len(decoded))
        index.extend(range(len(decoded)) if is_batch else [-1] * len(decoded))

    columns: EventColumns | None = None
    if events:
        columns, ok = _prove(events, limits)
        owners = np.asarray(owner, np.int64)
        columns.order = (owners << 20) | (np.asarray(index, np.int64) & 0xFFFFF)
        columns.partitions = np.array([r.partition for r in records], np.int64)[owners]
        columns.offsets = np.array([r.offset for r in records], np.int64)[owners]
        if not ok.all():
            unproven = np.unique(owners[~ok])
            exact.extend(int(m) for m in unproven)
            columns = _take(columns, ~np.isin(owners, unproven))
    result = ColumnarDecoded(columns if columns is not None and len(columns) else None)
    for number in sorted(exact):
        for outcome in decode_message(records[number], limits):
            if isinstance(outcome, Accepted):
                result.exact.accepted.append(outcome)
                result.exact_order.append((number << 20) | (outcome.record.index & 0xFFFFF))
            else:
                result.exact.rejected.append(outcome)
    return result
