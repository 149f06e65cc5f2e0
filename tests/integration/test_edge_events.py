"""A small client's ragged edges answered from its raw events in memory: identical to the
fresh engine reads at every bound (sub-millisecond, on an event, hour edges), with no engine
read for the edges (real engine, the writer the sink uses)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from core.calendar import GroupBy
from core.decode import DEFAULT_LIMITS, SourceRecord, decode_batch
from core.pricing import load_catalog
from ingest.synthetic import EventFactory
from storage.clickhouse import ClickHouseStorage
from storage.clickhouse.cached import CachedReads
from storage.clickhouse.edges import BYTES_PER_EVENT, millis, pieces
from storage.clickhouse.pool import ClickHousePool
from storage.clickhouse.reads import ClickHouseReads

H0 = datetime(2026, 3, 10, 14)  # an hour holding the events the bounds are set on
MS = timedelta(milliseconds=1)
US = timedelta(microseconds=1)
# Events on exact milliseconds, in the hour H0 and its neighbours.
ON = [
    H0 - timedelta(minutes=20),
    H0 - MS,
    H0,
    H0 + MS,
    H0 + 2 * MS,
    H0 + timedelta(minutes=7, seconds=3, milliseconds=417),
    H0 + timedelta(minutes=7, seconds=3, milliseconds=417),  # two calls on one millisecond
    H0 + timedelta(minutes=59, seconds=59, milliseconds=999),
    H0 + timedelta(hours=1),
    H0 + timedelta(hours=1, milliseconds=1),
    H0 + timedelta(hours=2, minutes=30),
    H0 + timedelta(days=1, hours=3, minutes=1),
]
E = ON[5]


def _write(storage: ClickHouseStorage, events: list[dict[str, Any]]) -> None:
    records = [SourceRecord(orjson.dumps(e)) for e in events]
    batch = decode_batch(records, DEFAULT_LIMITS)
    assert not batch.rejected
    storage.events.write(batch.accepted, "import")


def _events(client: str, times: list[datetime], seed: int) -> list[dict[str, Any]]:
    factory = EventFactory(seed=seed)
    made = [factory.event(client, t.replace(tzinfo=UTC)) for t in times]
    made[0]["cost_usd"] = "12.345678901"  # over 9.22 USD: 10**9 times it overflows Decimal64(9)
    return made


class _Counting(ClickHouseReads):
    """The fresh reader, counting the raw edge reads it is asked for."""

    raw_reads = 0

    def total(self, *args: Any, **kwargs: Any) -> Any:
        self.raw_reads += kwargs.get("rollup") is False
        return super().total(*args, **kwargs)

    def by_bucket(self, *args: Any, **kwargs: Any) -> Any:
        self.raw_reads += kwargs.get("rollup") is False
        return super().by_bucket(*args, **kwargs)

    def by_pair(self, *args: Any, **kwargs: Any) -> Any:
        self.raw_reads += kwargs.get("rollup") is False
        return super().by_pair(*args, **kwargs)


@pytest.fixture
def reads(pool: ClickHousePool) -> Iterator[tuple[ClickHouseStorage, CachedReads, Any]]:
    storage = ClickHouseStorage(pool, load_catalog(), read_model=False)
    counting = _Counting(pool)
    cached = CachedReads(counting)
    storage.events.subscribe(cached)
    fresh = ClickHouseReads(pool, as_of_ttl_s=0)
    yield storage, cached, fresh
    counting.close()
    fresh.close()
    storage.fresh.close()


def _periods() -> list[tuple[datetime, datetime]]:
    """Bounds at .0005 / .000999 / .001 s around events, exactly on events, hour edges, a
    period inside one hour, across one hour boundary, and empty ones."""
    out = []
    for base in (H0, E, ON[7], H0 + timedelta(hours=1)):
        for d in (0 * US, 500 * US, 999 * US, 1000 * US, 1001 * US, -1 * US, -500 * US):
            out += [(base + d, base + timedelta(days=2)), (ON[0] - US, base + d)]
            out += [(base + d, base + d + 500 * US), (base + d, base + d + MS)]
    out += [
        (E, E),  # empty
        (E, E + US),  # end binds to E: empty
        (E, E + MS),  # start == event: included
        (E - MS, E),  # end == event: excluded
        (H0, H0 + timedelta(hours=1)),  # one whole hour
        (H0 + timedelta(minutes=1), H0 + timedelta(minutes=50)),  # inside one hour
        (H0 - timedelta(minutes=30), H0 + timedelta(minutes=30)),  # across one boundary
        (H0 - timedelta(minutes=30), H0 + timedelta(hours=2, minutes=40)),
        (H0 + timedelta(days=1, hours=3), H0 + timedelta(days=1, hours=3, minutes=1)),
        (H0 - timedelta(days=40), H0 + timedelta(days=40)),
        (H0 + timedelta(days=1, minutes=2), H0 + timedelta(days=1, minutes=3)),  # no events
    ]
    return out


def _answers(reads: Any, client: str, a: datetime, b: datetime) -> list[Any]:
    return [
        reads.total(client, a, b),
        *(sorted(reads.by_bucket(client, a, b, g).items()) for g in GroupBy),
        *(
            sorted(reads.by_pair(client, a, b, dims).items())
            for dims in (("provider", "model"), ("endpoint", "model"))
        ),
    ]


def test_a_microsecond_bound_is_truncated_to_the_millisecond(pool: ClickHousePool) -> None:
    """What the fresh SQL's DateTime64(3) parameters hold, and what edges.millis computes."""
    for us in (0, 1, 499, 500, 501, 999, 1000, 1001, 1500, 999_999):
        t = H0 + timedelta(microseconds=us)
        (bound,) = pool.query_rows(
            "SELECT toUnixTimestamp64Milli({t:DateTime64(3, 'UTC')})", {"t": t}
        )[0]
        assert bound == millis(t) == millis(t.replace(tzinfo=UTC)), us
        assert bound % 1000 == us // 1000


def test_edges_equal_fresh_reads_at_every_bound(reads: Any) -> None:
    storage, cached, fresh = reads
    _write(storage, _events("small", ON, seed=1))
    model = cached.model("small")
    assert model is not None and model.edges is not None
    assert model.edges.count == len(ON) and model.weight == model.rows + len(ON)
    assert BYTES_PER_EVENT == 84
    for a, b in _periods():
        assert _answers(cached, "small", a, b) == _answers(fresh, "small", a, b), (a, b)
    assert cached.fresh.raw_reads == 0
    assert cached.loads == 1


def test_a_write_patches_the_events_too(reads: Any) -> None:
    storage, cached, fresh = reads
    _write(storage, _events("small", ON, seed=2))
    assert cached.model("small") is not None
    late = [H0 + 3 * MS, E, H0 + timedelta(minutes=59, seconds=59, milliseconds=999)]
    _write(storage, _events("small", late, seed=3))
    model = cached.model("small")
    assert model is not None and model.edges is not None
    assert model.edges.count == len(ON) + len(late)
    assert (cached.loads, cached.patches) == (1, 1)
    for a, b in _periods():
        assert _answers(cached, "small", a, b) == _answers(fresh, "small", a, b), (a, b)
    assert cached.fresh.raw_reads == 0


def test_a_client_over_the_limit_keeps_the_engine_path(reads: Any) -> None:
    storage, cached, fresh = reads
    cached.max_events = len(ON) - 1
    _write(storage, _events("big", ON, seed=4))
    model = cached.model("big")
    assert model is not None and model.edges is None and model.weight == model.rows
    for a, b in _periods():
        assert _answers(cached, "big", a, b) == _answers(fresh, "big", a, b), (a, b)
    assert cached.fresh.raw_reads > 0


def test_pieces_stay_inside_one_hour() -> None:
    h = int((H0 - datetime(1970, 1, 1)).total_seconds())
    # The first whole hour is crossed by microseconds only: read raw, as the fresh SQL does.
    assert pieces(H0 + 500 * US, H0 + timedelta(hours=2, microseconds=1500)) == [
        (h, h * 1000, (h + 3600) * 1000),
        (h + 7200, (h + 7200) * 1000, (h + 7200) * 1000 + 1),
    ]
    inside = pieces(H0 - timedelta(minutes=30), H0 + timedelta(minutes=30))
    assert inside == [
        (h - 3600, (h - 1800) * 1000, h * 1000),
        (h, h * 1000, (h + 1800) * 1000),
    ]
    assert pieces(E, E) == [] and pieces(E, E + US) == []
