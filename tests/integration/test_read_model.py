"""The read model: answers identical to fresh engine reads, and never older than their as_of,
also while events are being stored (real engine, the writer the sink uses)."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from pydantic import BaseModel

from core.calendar import GroupBy
from core.decode import DEFAULT_LIMITS, SourceRecord, decode_batch
from ingest.synthetic import EventFactory
from query_api.reports import BillingReports
from storage import LogFilter
from storage.clickhouse import ClickHouseStorage
from storage.clickhouse.cached import CachedReads
from storage.clickhouse.pool import ClickHousePool
from storage.clickhouse.reads import ClickHouseReads
from tests.oracle import parse_time

END = datetime(2026, 10, 20, tzinfo=UTC)
START = END - timedelta(days=9)


class _Fresh:
    """The same storage with every read going to the engine (no read model, no as_of TTL)."""

    def __init__(self, storage: ClickHouseStorage, pool: ClickHousePool) -> None:
        self.events = storage.events
        self.tenants = storage.tenants
        self.dead_letters = storage.dead_letters
        self.usage = self.logs = ClickHouseReads(pool, as_of_ttl_s=0)

    def ping(self) -> None: ...

    def close(self) -> None:
        self.usage.close()


def _bytes(body: BaseModel) -> bytes:
    data = body.model_dump()
    data.pop("generated_at")
    return orjson.dumps(data, option=orjson.OPT_NAIVE_UTC)


def _ms(t: datetime) -> datetime:
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def _write(storage: ClickHouseStorage, events: list[dict[str, Any]]) -> None:
    records = [SourceRecord(orjson.dumps(e)) for e in events]
    storage.events.write(decode_batch(records, DEFAULT_LIMITS).accepted, "import")


@pytest.fixture
def storages(pool: ClickHousePool) -> Any:
    from core.pricing import load_catalog

    storage = ClickHouseStorage(pool, load_catalog(), read_model=True)
    fresh = _Fresh(storage, pool)
    yield storage, fresh
    fresh.close()
    storage.fresh.close()


def _questions(
    reports: BillingReports, client: str, rng: random.Random
) -> list[tuple[str, Callable[[], BaseModel]]]:
    """Random periods (ragged, hour- and day-aligned, inside one hour, past the newest
    event) and log pages (first, deep, filtered, past the end) for one client."""
    span = int((END - START).total_seconds())
    out: list[tuple[str, Callable[[], BaseModel]]] = []
    for n in range(12):
        a = START - timedelta(hours=6) + timedelta(seconds=rng.randrange(span))
        b = a + timedelta(seconds=rng.randrange(60, span))
        if n % 4 == 1:
            a, b = a.replace(minute=0, second=0), b.replace(minute=0, second=0)
        elif n % 4 == 2:
            a, b = a.replace(hour=0, minute=0, second=0), END + timedelta(minutes=7)
        elif n % 4 == 3:
            a = a.replace(minute=5, second=0)
            b = a + timedelta(minutes=rng.randrange(1, 50))
        for g in GroupBy:
            out.append(
                (f"summary {a} {b} {g}", lambda a=a, b=b, g=g: reports.summary(client, a, b, g))
            )
        out.append((f"by_provider {a} {b}", lambda a=a, b=b: reports.by_provider(client, a, b)))
        out.append((f"by_endpoint {a} {b}", lambda a=a, b=b: reports.by_endpoint(client, a, b)))
    filters = [
        LogFilter(client),
        LogFilter(client, provider="openai"),
        LogFilter(client, success=False),
        LogFilter(client, endpoint="chat", success=True),
    ]
    for flt in filters:
        for offset in (0, 1, 37, 250, 1990, 2999, 5000):
            for limit in (1, 100):
                out.append(
                    (
                        f"logs {flt} {limit} {offset}",
                        lambda f=flt, o=offset, li=limit: reports.logs(f, li, o),
                    )
                )
    return out


def test_cached_answers_equal_fresh_ones(storages: Any) -> None:
    storage, fresh = storages
    made = list(EventFactory(seed=23).month({"big": 3000, "small": 40}, START, END))
    _write(storage, made)
    clock = lambda: END - timedelta(days=3)  # noqa: E731  (current month of the data)
    cached_reports = BillingReports(storage, clock=clock)
    fresh_reports = BillingReports(fresh, clock=clock)
    assert isinstance(storage.usage, CachedReads)
    rng = random.Random(5)
    for client in ("big", "small", "nobody"):
        # The same seed for both lists: the same questions.
        seed = rng.random()
        mine = _questions(cached_reports, client, random.Random(seed))
        theirs = _questions(fresh_reports, client, random.Random(seed))
        for (name, cached), (_, answer) in zip(mine, theirs, strict=True):
            assert _bytes(cached()) == _bytes(answer()), name
        assert _bytes(cached_reports.current_month(client)) == _bytes(
            fresh_reports.current_month(client)
        )
    some = uuid.UUID(made[17]["event_id"])
    assert cached_reports.log_detail("big", some) == fresh_reports.log_detail("big", some)
    assert storage.usage.loads == 3  # one read per client, then memory only


def test_a_write_patches_the_model_of_its_clients_only(storages: Any) -> None:
    """After a write only the hours it touched are read again, and the patched model answers
    exactly what a fresh read does (new combos, old hours, the newest event)."""
    storage, fresh = storages
    made = list(EventFactory(seed=3).month({"a": 200, "b": 100}, START, END))
    _write(storage, made)
    reads = storage.usage
    lo, hi = START.replace(tzinfo=None), (END + timedelta(days=1)).replace(tzinfo=None)
    assert reads.total("a", lo, hi).calls == 200
    assert reads.total("b", lo, hi).calls == 100
    assert (reads.loads, reads.patches) == (2, 0)
    late = list(EventFactory(seed=4).month({"a": 10}, START + timedelta(days=2), END))
    for event in late[:3]:
        event["provider"], event["model"] = "newco", "new-model-1"  # a combo the model lacks
    _write(storage, late)
    _write(storage, list(EventFactory(seed=5).month({"a": 5}, END, END + timedelta(hours=2))))
    assert reads.total("a", lo, hi).calls == 215
    assert reads.total("b", lo, hi).calls == 100
    assert (reads.loads, reads.patches) == (2, 1)
    cached_reports, fresh_reports = BillingReports(storage), BillingReports(fresh)
    for mine, theirs in zip(
        _questions(cached_reports, "a", random.Random(9)),
        _questions(fresh_reports, "a", random.Random(9)),
        strict=True,
    ):
        assert _bytes(mine[1]()) == _bytes(theirs[1]()), mine[0]


def test_answers_never_older_than_their_as_of_during_ingestion(storages: Any) -> None:
    """A writer stores time-ordered batches while a reader asks: every cached answer counts
    every call up to its as_of, and whenever no write overlapped a pair of answers, the cached
    one equals the fresh one (a model not dropped after a write would differ)."""
    storage, fresh = storages
    factory = EventFactory(seed=11)
    batches = [
        list(
            factory.month(
                {"live": 40, "other": 5},
                START + timedelta(hours=3 * i),
                START + timedelta(hours=3 * i + 3),
            )
        )
        for i in range(10)
    ]
    written: list[datetime] = []
    seq = [0]  # odd while a write is in progress
    rounds = [0]  # reader iterations done
    done = threading.Event()
    failures: list[BaseException] = []

    def writer() -> None:
        try:
            for i, batch in enumerate(batches):
                seq[0] += 1
                # Listed before the write, so a reader never sees a stored call not listed;
                # the column keeps milliseconds.
                written.extend(
                    _ms(parse_time(e["occurred_at"])) for e in batch if e["client_id"] == "live"
                )
                _write(storage, batch)
                seq[0] += 1
                if i % 2:  # every other batch, let the reader finish a round without a write
                    seen = rounds[0]
                    while rounds[0] < seen + 2 and not done.wait(0.01):
                        pass
        except BaseException as exc:  # surfaced by the test thread
            failures.append(exc)
        finally:
            done.set()

    cached_reports = BillingReports(storage)
    fresh_reports = BillingReports(fresh)
    lo, hi = START - timedelta(days=1), END + timedelta(days=30)  # whole hours: no raw read
    ragged = START + timedelta(minutes=17, seconds=3)
    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    checked = compared = 0
    try:
        while not done.is_set() or checked == 0:
            before = seq[0]
            cached = cached_reports.summary("live", lo, hi, GroupBy.DAY)
            # Never older than its as_of: every call up to it is counted.
            if cached.as_of is not None:
                upto = sum(1 for t in list(written) if t <= cached.as_of)
                assert cached.totals.calls >= upto, (cached.totals.calls, upto, cached.as_of)
            checked += 1
            pairs = [
                (cached, fresh_reports.summary("live", lo, hi, GroupBy.DAY)),
                (
                    cached_reports.by_provider("live", ragged, hi),
                    fresh_reports.by_provider("live", ragged, hi),
                ),
                (
                    cached_reports.logs(LogFilter("live", provider="openai"), 20, 30),
                    fresh_reports.logs(LogFilter("live", provider="openai"), 20, 30),
                ),
            ]
            if before == seq[0] and before % 2 == 0:
                for mine, theirs in pairs:
                    assert _bytes(mine) == _bytes(theirs)
                compared += 1
            rounds[0] += 1
    finally:
        done.set()  # a failing reader must not leave the writer waiting for its rounds
        thread.join(120)
    assert not failures, failures
    final = cached_reports.summary("live", lo, hi, GroupBy.DAY)
    assert final.totals.calls == len(written) == 10 * 40
    assert _bytes(final) == _bytes(fresh_reports.summary("live", lo, hi, GroupBy.DAY))
    assert compared >= 4, (checked, compared)
