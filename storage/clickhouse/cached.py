"""Usage and log reads served from an in-process read model of each client's hourly rollup.

A request then needs no engine read for its whole hours, its ``as_of`` or its log count;
only the partial hours at a period's edges that hold calls (unless the client is small
enough for its raw events to be held too: storage.clickhouse.edges), and the rows of a log
page (the hours that hold them, found in memory), are read from the engine. Everything else is
delegated to :class:`ClickHouseReads` (the "fresh" path), which stays the reader when no
read model can be kept exact (a ClickHouse server written by other processes).

Exactness: the model of a client is dropped whenever a write of that client's rows ends
(:class:`WriteListener`, wired to the writer the sink and the import route use). A model is
kept only if no write of the client was in flight while it was read and none ended since:
so a model's rollup rows, its ``newest`` and its raw events (two statements, both inside
that window) come from one state of the data, and a cached
answer equals a fresh one read in that state. While a write is in flight the model held
before it is still served (an earlier state); none is read until the write ends (a reader
waits for it: during an insert the engine can show the new raw rows before their rollup
rows, so an answer read then could be older than the newest event it sees).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from core.calendar import GroupBy
from core.usage import ZERO, Metrics
from storage import Dimension, LogFilter, LogPage
from storage.clickhouse import edges
from storage.clickhouse.readmodel import CALLS, ClientRollup, TooLarge, epoch, metrics
from storage.clickhouse.reads import ClickHouseReads
from storage.clickhouse.sql.usage import whole_hours

# Rollup rows and raw events kept in memory over all clients (~90 and 84 bytes each), least
# recently used dropped.
MAX_ROWS = 3_000_000
# How long a read waits for a write of its client to end before reading the engine as it is.
WRITE_WAIT_S = 5.0
# Where each breakdown dimension sits in a readmodel.Combo.
_POSITION = {"provider": 0, "model": 1, "endpoint": 2}


def _utc(seconds: int) -> datetime:
    return datetime(1970, 1, 1) + timedelta(seconds=seconds)


def _floor(value: datetime) -> datetime:
    return value.replace(minute=0, second=0, microsecond=0)


K = TypeVar("K")


def _add(found: dict[K, Metrics], key: K, sums: npt.NDArray[np.int64]) -> None:
    """Add one column of metric sums to ``found[key]``, if it holds any call."""
    if sums[CALLS]:
        m = metrics(sums)
        found[key] = found[key].plus(m) if key in found else m


class CachedReads:
    """Implements storage.UsageReader, storage.LogReader and storage.WriteListener."""

    def __init__(
        self,
        fresh: ClickHouseReads,
        max_rows: int = MAX_ROWS,
        max_events: int = edges.MAX_EVENTS,
    ) -> None:
        self.fresh = fresh
        self.max_rows = max_rows
        self.max_events = max_events  # 0: edges always read from the engine
        self._lock = threading.Lock()
        self._write_ended = threading.Condition(self._lock)
        self._models: OrderedDict[str, ClientRollup] = OrderedDict()
        self._rows = 0
        self._ended: dict[str, int] = {}  # writes ended, per client
        self._in_flight: dict[str, int] = {}  # writes started and not ended, per client
        self._loading: dict[str, threading.Lock] = {}
        # client -> (model before its latest writes, first and last hour they touched)
        self._stale: dict[str, tuple[ClientRollup, datetime, datetime]] = {}
        self.loads = 0  # whole models read from the engine (tests and benchmarks look)
        self.patches = 0  # models patched with the hours a write touched

    # -- invalidation (storage.WriteListener) ------------------------------------------------
    def writing(self, client_ids: frozenset[str]) -> None:
        with self._lock:
            # A model already held stays served meanwhile: it is one earlier state of the data.
            for client_id in client_ids:
                self._in_flight[client_id] = self._in_flight.get(client_id, 0) + 1

    def written(self, spans: Mapping[str, tuple[datetime, datetime]]) -> None:
        with self._lock:
            for client_id, (first, last) in spans.items():
                self._in_flight[client_id] -= 1
                self._ended[client_id] = self._ended.get(client_id, 0) + 1
                # The dropped model stays (counted in _rows) as the base of a patch: only the
                # hours the write touched are read again (a large client's whole model takes
                # seconds to read).
                model = self._models.pop(client_id, None)
                lo, hi = _floor(first), _floor(last)
                if model is not None:
                    self._stale[client_id] = (model, lo, hi)
                elif client_id in self._stale:
                    base, a, b = self._stale[client_id]
                    self._stale[client_id] = (base, min(a, lo), max(b, hi))
            self._write_ended.notify_all()

    def _evict(self) -> None:
        """Drop bases of patches first, then least recently used models, to fit max_rows."""
        while self._rows > self.max_rows and (self._stale or len(self._models) > 1):
            if self._stale:
                evicted = self._stale.pop(next(iter(self._stale)))[0]
            else:
                evicted = self._models.popitem(last=False)[1]
            self._rows -= evicted.weight

    # -- the model ---------------------------------------------------------------------------
    def model(self, client_id: str) -> ClientRollup | None:
        """The client's read model (read from the engine if needed), or None when it cannot
        be used now: a write of the client is in flight, or its sums could overflow."""
        with self._lock:
            found = self._models.get(client_id)
            if found is not None:
                self._models.move_to_end(client_id)
                return found
            loading = self._loading.setdefault(client_id, threading.Lock())
        with loading:  # one reader per client loads; the others wait and share it
            with self._lock:
                found = self._models.get(client_id)
                if found is not None:
                    return found
                # Wait for a write in flight: meanwhile the engine may show its raw rows but
                # not yet their rollup rows (the view's part lands after the table's).
                deadline = time.monotonic() + WRITE_WAIT_S
                while self._in_flight.get(client_id, 0):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return None
                    self._write_ended.wait(left)
                ended = self._ended.get(client_id, 0)
                stale = self._stale.get(client_id)
            try:
                if stale is None:
                    model = self.fresh.rollup(client_id, max_events=self.max_events)
                    self.loads += 1
                else:
                    base, lo, hi = stale
                    model = self.fresh.rollup(client_id, (lo, hi), base, self.max_events)
                    self.patches += 1
            except TooLarge:
                return None
            with self._lock:
                if self._in_flight.get(client_id, 0) or self._ended.get(client_id, 0) != ended:
                    return None  # a write overlapped the read: rows and newest may disagree
                if stale is not None and self._stale.get(client_id) is stale:
                    del self._stale[client_id]
                    self._rows -= stale[0].weight
                self._models[client_id] = model
                self._rows += model.weight
                self._evict()
            return model

    # -- usage -------------------------------------------------------------------------------
    @staticmethod
    def _plan(model: ClientRollup, start: datetime, end: datetime) -> tuple[int, int, bool]:
        """The hours [lo, hi) (epoch s) the model answers for [start, end), and whether the
        partial hours at the edges must be read raw (both are, then).

        An edge hour without calls adds nothing. The end edge needs no raw read when the
        client's newest event is before ``end``: its whole hour is then inside the period
        (the model's rows and ``newest`` come from one state of the data).
        """
        full_start, full_end = whole_hours(start, end)
        if full_start == full_end:
            return 0, 0, True
        lo, hi = epoch(full_start), epoch(full_end)

        def busy(hour: int) -> bool:
            return bool(model.between([hour, hour + 3600])[CALLS, 0])

        if start < full_start and busy(lo - 3600):
            return lo, hi, True
        if full_end < end:
            if model.newest is not None and model.newest < end:
                return lo, hi + 3600, False
            if busy(hi):
                return lo, hi, True
        return lo, hi, False

    def by_bucket(
        self, client_id: str, start: datetime, end: datetime, group_by: GroupBy
    ) -> dict[datetime, Metrics]:
        model = self.model(client_id)
        if model is None:
            return self.fresh.by_bucket(client_id, start, end, group_by)
        lo, hi, raw = self._plan(model, start, end)
        found: dict[datetime, Metrics] = {}
        if lo < hi:
            starts = group_by.starts(_utc(lo), _utc(hi))
            edges_s = [max(epoch(s), lo) for s in starts] + [hi]
            sums = model.between(edges_s)
            for i, bucket in enumerate(starts):
                _add(found, bucket, sums[:, i])
        if raw and model.edges is not None:
            for hour, a, b in edges.pieces(start, end):  # each inside one hour: one bucket
                _add(found, group_by.floor(_utc(hour)), model.edges.total(a, b))
        elif raw:
            for bucket, m in self.fresh.by_bucket(
                client_id, start, end, group_by, rollup=False
            ).items():
                found[bucket] = found[bucket].plus(m) if bucket in found else m
        return found

    def by_pair(
        self,
        client_id: str,
        start: datetime,
        end: datetime,
        dims: tuple[Dimension, Dimension],
    ) -> dict[tuple[str, str], Metrics]:
        model = self.model(client_id)
        if model is None:
            return self.fresh.by_pair(client_id, start, end, dims)
        lo, hi, raw = self._plan(model, start, end)
        parts = []
        if lo < hi:
            parts.append(model.per_combo(lo, hi))
        if raw and model.edges is not None:
            n = len(model.combos)
            parts.extend(model.edges.per_combo(a, b, n) for _, a, b in edges.pieces(start, end))
        found: dict[tuple[str, str], Metrics] = {}
        first, second = _POSITION[dims[0]], _POSITION[dims[1]]
        if parts:  # disjoint events of the client: their sum is below its checked total
            sums = parts[0].copy()
            for part in parts[1:]:
                sums += part
            pairs, index = model.pair_index(first, second)
            per_pair = np.zeros((len(pairs), sums.shape[0]), dtype=np.int64)
            np.add.at(per_pair, index, sums.T)  # exact integer sums, combo by combo
            for i in np.flatnonzero(per_pair[:, CALLS]):
                found[pairs[i]] = metrics(per_pair[i])
        if raw and model.edges is None:
            for key, m in self.fresh.by_pair(client_id, start, end, dims, rollup=False).items():
                found[key] = found[key].plus(m) if key in found else m
        return found

    def total(self, client_id: str, start: datetime, end: datetime) -> Metrics:
        model = self.model(client_id)
        if model is None:
            return self.fresh.total(client_id, start, end)
        lo, hi, raw = self._plan(model, start, end)
        result = metrics(model.between([lo, hi])[:, 0]) if lo < hi else ZERO
        if raw and model.edges is not None:
            for _, a, b in edges.pieces(start, end):
                result = result.plus(metrics(model.edges.total(a, b)))
        elif raw:
            result = result.plus(self.fresh.total(client_id, start, end, rollup=False))
        return result

    def newest_event(self, client_id: str) -> datetime | None:
        model = self.model(client_id)
        return model.newest if model is not None else self.fresh.newest_event(client_id)

    # -- logs --------------------------------------------------------------------------------
    def page(self, flt: LogFilter, limit: int, offset: int) -> LogPage:
        model = self.model(flt.client_id)
        if model is None:
            return self.fresh.page(flt, limit, offset)
        total = model.count(flt.provider, flt.endpoint, flt.success)
        window = model.window(flt.provider, flt.endpoint, flt.success, limit, offset)
        if window is None:
            return LogPage([], total)
        rows = self.fresh.window_page(flt, limit, window.offset, _utc(window.lo), _utc(window.hi))
        return LogPage(rows, total)

    def detail(self, client_id: str, log_id: uuid.UUID) -> dict[str, Any] | None:
        return self.fresh.detail(client_id, log_id)
