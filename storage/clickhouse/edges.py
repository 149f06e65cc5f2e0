"""A small client's raw events held in memory: a period's ragged edges need no engine read.

The hourly rollup of the read model (:mod:`storage.clickhouse.readmodel`) answers the whole
hours of a period; the partial hours at its edges are sums over raw events. Every engine read
costs a floor of ~5-12 ms on the embedded engine however little it reads, so for a client
with few events that one read is most of a usage answer. A client with at most
:data:`MAX_EVENTS` events therefore also has its events in memory, one column per field:

- ``times``: ``occurred_at`` as integer epoch milliseconds (what the ``DateTime64(3)``
  column holds), ascending;
- ``combos``: the event's index in the model's combos (provider, model, endpoint, success);
- ``values``: one row per metric (METRIC_NAMES), cost in integer nano-USD (exact).

An edge is a range of times inside one hour: ``searchsorted`` finds its events, their
metrics are summed (per combo with ``np.add.at``: integer, exact). Events are read in the
same consistency window as the rollup rows (storage.clickhouse.cached), so the rows, the
newest event and the events are one state of the data.

Bounds are what the fresh SQL does with them: a ``datetime`` bound into a
``DateTime64(3, 'UTC')`` parameter is truncated to the millisecond (measured on the engine:
``00:00:00.000999`` binds as ``.000``, tests/integration/test_edge_events.py), the start is
included and the end excluded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from core.usage import METRIC_NAMES
from storage.clickhouse.readmodel import TooLarge
from storage.clickhouse.sql.usage import whole_hours

I64 = npt.NDArray[np.int64]

# Events kept per client, at most. 84 bytes each (BYTES_PER_EVENT): 200k events are ~17 MB.
# Memory sets this cap, not speed: a bigger client keeps the engine path, and its one edge
# read is then most of its answer's time (docs/architecture.md, "Ragged edges from memory").
MAX_EVENTS = 200_000
# int64 time + int32 combo + one int64 per metric.
BYTES_PER_EVENT = 8 + 4 + 8 * len(METRIC_NAMES)
_EPOCH = datetime(1970, 1, 1)


class Overlapped(Exception):
    """The events read disagree with the rollup rows read just before: a write overlapped."""


def millis(value: datetime) -> int:
    """A bound as a ``DateTime64(3)`` parameter holds it: epoch ms, microseconds truncated."""
    naive = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value
    return (naive - _EPOCH) // timedelta(milliseconds=1)


def pieces(start: datetime, end: datetime) -> list[tuple[int, int, int]]:
    """The ragged edges of [start, end) as (hour epoch s, lo ms, hi ms), each inside one hour.

    The same ranges the fresh SQL reads raw (storage.clickhouse.sql.usage): the partial hours
    around the whole ones, or the whole period when it holds no whole hour (then split at the
    hour it may cross).
    """
    full_start, full_end = whole_hours(start, end)
    if full_start == full_end:
        ranges = [(start, end)] if start < end else []
    else:
        ranges = [(a, b) for a, b in ((start, full_start), (full_end, end)) if a < b]
    found = []
    for a, b in ranges:
        lo, hi = millis(a), millis(b)
        while lo < hi:
            hour = lo // 3_600_000 * 3600
            cut = min(hi, (hour + 3600) * 1000)
            found.append((hour, lo, cut))
            lo = cut
    return found


@dataclass(frozen=True)
class EdgeEvents:
    """One client's raw events, sorted by time; immutable once built."""

    times: I64
    combos: npt.NDArray[np.int32]
    values: I64

    @property
    def count(self) -> int:
        return len(self.times)

    @classmethod
    def build(cls, times: I64, combo_of_event: I64, values: I64) -> EdgeEvents:
        """From events in any order: ``values`` has one row per metric (METRIC_NAMES).
        Raises TooLarge when a sum over them could overflow int64."""
        if len(times) and int(np.abs(values).max()) * len(times) >= 1 << 63:
            raise TooLarge(f"{len(times)} events with values up to {int(np.abs(values).max())}")
        order = np.argsort(times, kind="stable")
        return cls(
            times=np.ascontiguousarray(times[order], dtype=np.int64),
            combos=np.ascontiguousarray(combo_of_event[order], dtype=np.int32),
            values=np.ascontiguousarray(values[:, order], dtype=np.int64),
        )

    def patched(self, lo_ms: int, hi_ms: int, new: EdgeEvents) -> EdgeEvents:
        """These events with those of [lo_ms, hi_ms) replaced by ``new`` (a write's hours)."""
        keep = (self.times < lo_ms) | (self.times >= hi_ms)
        return EdgeEvents.build(
            np.concatenate([self.times[keep], new.times]),
            np.concatenate([self.combos[keep], new.combos]).astype(np.int64),
            np.concatenate([self.values[:, keep], new.values], axis=1),
        )

    def _span(self, lo_ms: int, hi_ms: int) -> slice:
        i0, i1 = np.searchsorted(self.times, [lo_ms, hi_ms], side="left")
        return slice(int(i0), int(i1))

    def total(self, lo_ms: int, hi_ms: int) -> I64:
        """Sums over events in [lo_ms, hi_ms): shape (metrics,)."""
        sums: I64 = self.values[:, self._span(lo_ms, hi_ms)].sum(axis=1, dtype=np.int64)
        return sums

    def per_combo(self, lo_ms: int, hi_ms: int, combos: int) -> I64:
        """Each combo's sums over events in [lo_ms, hi_ms): shape (metrics, combos)."""
        span = self._span(lo_ms, hi_ms)
        out = np.zeros((self.values.shape[0], combos), dtype=np.int64)
        np.add.at(out.T, self.combos[span], self.values[:, span].T)
        return out
