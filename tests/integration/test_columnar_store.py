"""The columnar write path stores what the per-event path stores: same rows, token, counts.

Both paths write the same batches (fresh, repeated inside a batch, redelivered, resent by a
producer at another offset, pending in another writer, crowded time span) into two databases
of one engine; the tables must match row for row and each result must match.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from core.columnar import decode_columns
from core.decode import Limits, SourceRecord, decode_batch
from core.pricing import load_catalog
from core.settings import ClickHouseSettings
from ingest.producer import pack
from ingest.synthetic import EventFactory
from storage import StorageUnavailable
from storage.clickhouse import events as events_module
from storage.clickhouse.events import EventStore
from storage.clickhouse.migrate import migrate
from storage.clickhouse.pool import ClickHousePool

LIMITS = Limits()


@pytest.fixture
def stores(pool: ClickHousePool) -> Iterator[tuple[EventStore, EventStore]]:
    other = ClickHousePool(
        ClickHouseSettings(
            url=pool.settings.url,
            data_dir=pool.settings.data_dir,
            database=f"{pool.database}_col",
        )
    )
    migrate(other)
    yield EventStore(pool, load_catalog()), EventStore(other, load_catalog())
    other.command(f"DROP DATABASE IF EXISTS {other.database}")
    other.close()


def _records(values: list[bytes], first_offset: int) -> list[SourceRecord]:
    return [SourceRecord(m, "t", 0, first_offset + i) for i, m in enumerate(pack(values))]


def _write_both(
    stores: tuple[EventStore, EventStore], records: list[SourceRecord]
) -> tuple[object, object]:
    old, new = stores
    prepared_old = old.prepare(decode_batch(records, LIMITS).accepted, "kafka")
    prepared_new = new.prepare_built(new.build(decode_columns(records, LIMITS), "kafka"))
    assert prepared_new.token == prepared_old.token
    assert prepared_new.event_ids == prepared_old.event_ids
    assert prepared_new.table.to_pylist() == prepared_old.table.to_pylist()
    for store, prepared in ((old, prepared_old), (new, prepared_new)):
        store.insert(prepared)
        store.release(prepared)
    return prepared_old.result, prepared_new.result


def _rows(store: EventStore) -> list[tuple[object, ...]]:
    db = store.pool.database
    return store.pool.query_rows(
        f"SELECT * EXCEPT (ingested_at) FROM {db}.generations ORDER BY event_id"
    )


def test_same_rows_and_results_through_every_kind_of_duplicate(
    stores: tuple[EventStore, EventStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    factory = EventFactory(seed=3)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    values = [
        orjson.dumps(factory.event(f"c{i % 5}", start + timedelta(seconds=i))) for i in range(900)
    ]
    # Fresh, with a repeat inside the batch.
    results = _write_both(stores, _records(values[:300] + values[10:20], 0))
    assert results[0] == results[1]
    assert results[1].duplicates == 10
    # Redelivery of the same records, plus new ones.
    results = _write_both(stores, _records(values[:400], 0))
    assert results[0] == results[1]
    assert results[1].inserted == 100
    # A producer resend: same events at other offsets.
    results = _write_both(stores, _records(values[350:500], 10_000))
    assert results[0] == results[1]
    assert results[1].duplicates == 50
    # A crowded span: the ids are sent to the server (few rows per event allowed).
    monkeypatch.setattr(events_module, "SPAN_ROWS_PER_EVENT", 0)
    monkeypatch.setattr(events_module, "SPAN_ROWS_MIN", 5)
    results = _write_both(stores, _records(values[450:900], 20_000))
    assert results[0] == results[1]
    assert results[1].duplicates == 50
    assert _rows(stores[0]) == _rows(stores[1])


def test_pending_ids_of_another_writer_are_not_stored_twice(
    stores: tuple[EventStore, EventStore],
) -> None:
    _, store = stores
    factory = EventFactory(seed=4)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    values = [orjson.dumps(factory.event("p", start + timedelta(seconds=i))) for i in range(50)]
    records = _records(values, 0)
    first = store.prepare_built(store.build(decode_columns(records, LIMITS), "kafka"))
    second = store.prepare_built(store.build(decode_columns(records, LIMITS), "kafka"))
    assert (first.result.inserted, second.result.inserted) == (50, 0)
    assert second.result.duplicates == 50
    store.insert(first)
    store.release(first)
    store.release(second)
    assert uuid.UUID(bytes=next(iter(first.event_ids))) is not None


def test_built_rows_go_in_one_block_per_month_and_a_failed_check_leaves_none_pending(
    stores: tuple[EventStore, EventStore],
) -> None:
    old, new = stores
    now = datetime.now(UTC)
    template = next(iter(EventFactory(seed=9).month({"c": 1}, now - timedelta(days=2), now)))
    events = [
        {
            **template,
            "event_id": str(uuid.uuid4()),
            "occurred_at": (now - timedelta(days=40 * (i % 3))).isoformat(),
        }
        for i in range(30)
    ]
    records = [SourceRecord(orjson.dumps(events), "t", 0, 0)]
    built = new.build(decode_columns(records, LIMITS), "kafka")
    blocks = new.built_blocks(built)
    exact = old.blocks(decode_batch(records, LIMITS).accepted)
    assert [len(b) for b in blocks] == [len(b) for b in exact] == [10, 10, 10]
    for block, items in zip(blocks, exact, strict=True):
        assert sorted(new.ids(block)) == sorted(i.event.event_id.bytes for i in items)
    db = new.pool.database
    new.pool.command(f"DETACH TABLE {db}.generations")
    try:
        with pytest.raises(StorageUnavailable):
            new.prepare_built(blocks[0])
        assert not new._pending
    finally:
        new.pool.command(f"ATTACH TABLE {db}.generations")
    for block in blocks:
        prepared = new.prepare_built(block)
        assert prepared.result.inserted == 10
        new.insert(prepared)
        new.release(prepared)
    assert not new._pending
    assert len(_rows(new)) == 30
