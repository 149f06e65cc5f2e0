"""One client's hourly rollup held in memory: prefix sums answer any whole-hour range.

Every engine read costs ~5-6 ms of planning before it reads a row (docs/benchmarks.md), so a
usage answer made from rows already in memory needs no read for its whole hours. The rows are
the client's ``usage_hourly`` rows (hour x provider x model x endpoint x success), kept as
integer arrays (cost in nano-USD, so sums stay exact) in two orders:

- by (combo, hour), with prefix sums along that order: any combo's sum over an hour range is
  a difference of two prefix sums (breakdowns, filtered log counts);
- summed per hour, with prefix sums: any bucket's sum is a difference too (summary, totals).

Building it is the only work proportional to the client's rows; answering is proportional to
the number of buckets or combos. Int64 prefix sums are checked against overflow when built:
a client whose sums could pass 2**63 is refused (:class:`TooLarge`) and read from the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from threading import Lock
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from core.usage import METRIC_NAMES, Metrics

if TYPE_CHECKING:
    from storage.clickhouse.edges import EdgeEvents

I64 = npt.NDArray[np.int64]

# (provider, model, endpoint, success): the rollup's key after client and hour.
Combo = tuple[str, str, str, bool]

CALLS = METRIC_NAMES.index("calls")
_SHIFT = 1 << 32  # hours are epoch seconds (DateTime: < 2**32): combo * _SHIFT + hour is a key
_LIMIT = 1 << 63


class TooLarge(Exception):
    """A prefix sum of this client could overflow int64: answer from the engine instead."""


def epoch(value: datetime) -> int:
    """Naive UTC (or aware) datetime as integer epoch seconds."""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return int(aware.timestamp())


def metrics(column: npt.NDArray[np.int64]) -> Metrics:
    """A column of the metric arrays as Metrics (cost from nano-USD, exact)."""
    cost, *counts = (int(v) for v in column)
    return Metrics(Decimal(cost).scaleb(-9), *counts)


def _prefix(values: I64) -> I64:
    """Prefix sums along axis 1 with a leading zero column; refuses what could overflow."""
    n = values.shape[1]
    if n and int(np.abs(values).max()) * n >= _LIMIT:
        raise TooLarge(f"{n} rows with values up to {int(np.abs(values).max())}")
    out = np.zeros((values.shape[0], n + 1), dtype=np.int64)
    np.cumsum(values, axis=1, out=out[:, 1:])
    return out


@dataclass(frozen=True)
class HourWindow:
    """Where a log page lies: hours [lo, hi) (epoch s) and the page's offset inside them."""

    lo: int
    hi: int
    offset: int


@dataclass
class _Filtered:
    """Calls per hour, newest hour first, for one log filter (built on first use)."""

    hours: I64  # descending
    cum: I64  # calls of hours[0..i] inclusive, cumulative


@dataclass
class ClientRollup:
    """The read model of one client; immutable once built (safe to share between threads)."""

    combos: list[Combo]
    newest: datetime | None
    rows: int
    _keys: I64
    _cum: I64
    _starts: I64
    _ends: I64
    _hours: I64
    _hour_cum: I64
    _filtered: dict[tuple[str | None, str | None, bool | None], _Filtered] = field(
        default_factory=dict
    )
    _lock: Lock = field(default_factory=Lock)
    # (combo positions) -> the distinct pairs of those fields and each combo's pair.
    _pairs: dict[tuple[int, int], tuple[list[tuple[str, str]], I64]] = field(default_factory=dict)
    # The client's raw events when it has few (storage.clickhouse.edges), else None.
    edges: EdgeEvents | None = None

    @property
    def calls(self) -> int:
        """Calls over all time: the number of the client's raw events."""
        return int(self._hour_cum[CALLS, -1])

    @property
    def weight(self) -> int:
        """What this model counts against the cache's budget: rows plus events held."""
        return self.rows + (self.edges.count if self.edges is not None else 0)

    def with_edges(self, edges: EdgeEvents | None) -> ClientRollup:
        return replace(self, edges=edges, _filtered={}, _pairs={}, _lock=Lock())

    def pair_index(self, first: int, second: int) -> tuple[list[tuple[str, str]], I64]:
        """The distinct (combo[first], combo[second]) pairs, and each combo's pair number.

        Made once per model and pair of fields: a breakdown then sums its combos per pair
        in numpy instead of one Python Metrics per combo (hundreds per answer).
        """
        found = self._pairs.get((first, second))
        if found is None:
            numbers: dict[tuple[str, str], int] = {}
            index = np.fromiter(
                (
                    numbers.setdefault((str(c[first]), str(c[second])), len(numbers))
                    for c in self.combos
                ),
                dtype=np.int64,
                count=len(self.combos),
            )
            found = (list(numbers), index)
            self._pairs[(first, second)] = found  # a race makes the same value twice
        return found

    @classmethod
    def build(
        cls,
        combos: list[Combo],
        combo_of_row: I64,
        hours: I64,
        values: I64,
        newest: datetime | None,
    ) -> ClientRollup:
        """From rollup rows in any order: ``values`` has one row per metric (METRIC_NAMES)."""
        keys = combo_of_row.astype(np.int64) * _SHIFT + hours.astype(np.int64)
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        sorted_values = values[:, order]
        ids = np.arange(len(combos), dtype=np.int64) * _SHIFT
        starts = np.searchsorted(keys, ids, side="left").astype(np.int64)
        ends = np.searchsorted(keys, ids + _SHIFT, side="left").astype(np.int64)
        by_hour = np.argsort(hours, kind="stable")
        hour_sorted = hours[by_hour].astype(np.int64)
        distinct, first = np.unique(hour_sorted, return_index=True)
        if len(distinct):
            per_hour = np.add.reduceat(values[:, by_hour], first, axis=1)
        else:
            per_hour = np.zeros((values.shape[0], 0), dtype=np.int64)
        return cls(
            combos=combos,
            newest=newest,
            rows=len(keys),
            _keys=keys,
            _cum=_prefix(sorted_values),
            _starts=starts,
            _ends=ends,
            _hours=distinct.astype(np.int64),
            _hour_cum=_prefix(per_hour.astype(np.int64)),
        )

    def patched(
        self,
        lo: int,
        hi: int,
        combos: list[Combo],
        combo_of_row: I64,
        hours: I64,
        values: I64,
        newest: datetime | None,
    ) -> ClientRollup:
        """This model with the rows of hours [lo, hi] (inclusive, epoch s) replaced by the
        given ones: after a write, only the hours it touched are read again."""
        old_hours = self._keys % _SHIFT
        keep = (old_hours < lo) | (old_hours > hi)
        old_values = np.diff(self._cum, axis=1)[:, keep]
        index = {combo: i for i, combo in enumerate(self.combos)}
        merged = list(self.combos)
        for combo in combos:
            if combo not in index:
                index[combo] = len(merged)
                merged.append(combo)
        remap = np.asarray([index[c] for c in combos], dtype=np.int64)
        return ClientRollup.build(
            merged,
            np.concatenate([(self._keys // _SHIFT)[keep], remap[combo_of_row]]),
            np.concatenate([old_hours[keep], hours]),
            np.concatenate([old_values, values], axis=1),
            newest,
        )

    # -- usage -------------------------------------------------------------------------------
    def between(self, edges: list[int]) -> I64:
        """Sums between consecutive ``edges`` (ascending epoch s): shape (metrics, len-1)."""
        idx = np.searchsorted(self._hours, np.asarray(edges, dtype=np.int64), side="left")
        cum = self._hour_cum[:, idx]
        return cum[:, 1:] - cum[:, :-1]

    def per_combo(self, lo: int, hi: int) -> I64:
        """Each combo's sums over hours [lo, hi): shape (metrics, combos)."""
        ids = np.arange(len(self.combos), dtype=np.int64) * _SHIFT
        j0 = np.searchsorted(self._keys, ids + lo, side="left")
        j1 = np.searchsorted(self._keys, ids + hi, side="left")
        return self._cum[:, j1] - self._cum[:, j0]

    # -- logs --------------------------------------------------------------------------------
    def _matching(self, provider: str | None, endpoint: str | None, success: bool | None) -> I64:
        return np.asarray(
            [
                i
                for i, (p, _, e, s) in enumerate(self.combos)
                if (provider is None or p == provider)
                and (endpoint is None or e == endpoint)
                and (success is None or s == success)
            ],
            dtype=np.int64,
        )

    def count(self, provider: str | None, endpoint: str | None, success: bool | None) -> int:
        """Calls matching a log filter, over all time."""
        match = self._matching(provider, endpoint, success)
        calls = self._cum[CALLS]
        return int((calls[self._ends[match]] - calls[self._starts[match]]).sum())

    def _per_hour(
        self, provider: str | None, endpoint: str | None, success: bool | None
    ) -> _Filtered:
        key = (provider, endpoint, success)
        with self._lock:
            found = self._filtered.get(key)
        if found is not None:
            return found
        match = self._matching(provider, endpoint, success)
        if provider is None and endpoint is None and success is None:
            hours = self._hours
            calls = np.diff(self._hour_cum[CALLS])
        else:
            parts = [np.arange(self._starts[c], self._ends[c]) for c in match]
            rows = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
            row_hours = self._keys[rows] % _SHIFT
            row_calls = self._cum[CALLS][rows + 1] - self._cum[CALLS][rows]
            order = np.argsort(row_hours, kind="stable")
            hours, first = np.unique(row_hours[order], return_index=True)
            calls = (
                np.add.reduceat(row_calls[order], first)
                if len(hours)
                else np.zeros(0, dtype=np.int64)
            )
        built = _Filtered(hours[::-1].copy(), np.cumsum(calls[::-1]))
        with self._lock:
            self._filtered[key] = built
        return built

    def window(
        self,
        provider: str | None,
        endpoint: str | None,
        success: bool | None,
        limit: int,
        offset: int,
    ) -> HourWindow | None:
        """The hours holding calls ``offset .. offset+limit-1`` (newest first), or None if
        the page is past the last call."""
        per_hour = self._per_hour(provider, endpoint, success)
        total = int(per_hour.cum[-1]) if len(per_hour.cum) else 0
        if offset >= total:
            return None
        last = min(offset + limit, total) - 1
        first_hour = int(np.searchsorted(per_hour.cum, offset, side="right"))
        last_hour = int(np.searchsorted(per_hour.cum, last, side="right"))
        before = int(per_hour.cum[first_hour - 1]) if first_hour else 0
        return HourWindow(
            lo=int(per_hour.hours[last_hour]),
            hi=int(per_hour.hours[first_hour]) + 3600,
            offset=offset - before,
        )
