"""An EventWriter that tells listeners which clients' rows it is inserting, before and after.

The sink and the import route call the writer as before (prepare or prepare_built, insert,
release); this wrapper adds the notifications, so neither of them knows that a read model
exists. The client ids and time spans come from the accepted events (or the built rows) at
prepare time: a superset of the rows inserted (duplicates dropped by the store included),
which only costs a needless reload.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from core import utc
from core.columnar import ColumnarDecoded
from core.decode import Accepted
from storage import (
    BuiltRows,
    EventWriter,
    PreparedWrite,
    WriteListener,
    WriteResult,
    write_blocks,
)


@dataclass(frozen=True)
class _Tracked:
    """A prepared write, the clients it holds and the span of their events' times."""

    inner: PreparedWrite
    clients: frozenset[str]
    spans: dict[str, tuple[datetime, datetime]]

    @property
    def result(self) -> WriteResult:
        return self.inner.result


class ObservedWriter:
    """Implements storage.ObservableWriter around any storage.EventWriter."""

    def __init__(self, inner: EventWriter) -> None:
        self.inner = inner
        self._listeners: list[WriteListener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: WriteListener) -> None:
        with self._lock:
            self._listeners = [*self._listeners, listener]

    def prepare(self, accepted: Sequence[Accepted], source: str) -> PreparedWrite:
        spans: dict[str, tuple[datetime, datetime]] = {}
        for item in accepted:
            at = utc.naive(item.event.occurred_at)
            lo, hi = spans.get(item.event.client_id, (at, at))
            spans[item.event.client_id] = (min(lo, at), max(hi, at))
        return _Tracked(self.inner.prepare(accepted, source), frozenset(spans), spans)

    def build(self, batch: ColumnarDecoded, source: str) -> BuiltRows:
        return self.inner.build(batch, source)

    def built_blocks(self, built: BuiltRows) -> list[BuiltRows]:
        return self.inner.built_blocks(built)

    def ids(self, built: BuiltRows) -> frozenset[bytes]:
        return self.inner.ids(built)

    def prepare_built(self, built: BuiltRows) -> PreparedWrite:
        spans = built.spans()
        return _Tracked(self.inner.prepare_built(built), frozenset(spans), spans)

    def insert(self, prepared: PreparedWrite) -> None:
        assert isinstance(prepared, _Tracked)
        listeners = self._listeners
        for listener in listeners:
            listener.writing(prepared.clients)
        try:
            self.inner.insert(prepared.inner)
        finally:
            # Also after a failure: an insert that timed out may still have landed.
            for listener in listeners:
                listener.written(prepared.spans)

    def release(self, prepared: PreparedWrite) -> None:
        assert isinstance(prepared, _Tracked)
        self.inner.release(prepared.inner)

    def blocks(self, accepted: Sequence[Accepted]) -> list[list[Accepted]]:
        return self.inner.blocks(accepted)

    def write(self, accepted: Sequence[Accepted], source: str) -> WriteResult:
        """Block by block, as the store writes (each block's insert is observed)."""
        return write_blocks(self, accepted, source)
