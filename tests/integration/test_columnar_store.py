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
