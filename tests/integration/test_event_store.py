"""The event store on the real engine: blocks the engine always takes, and a failed prepare
that leaves nothing behind."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from core.decode import Accepted, SourceRecord, decode_batch
from ingest.synthetic import EventFactory
from schemas.event import GenerationEvent
from storage import StorageRefused
from tests.conftest import Api
from tests.integration.test_rollups import rollup_vs_raw


def _made(n: int, seed: int) -> list[dict[str, Any]]:
    end = datetime(2026, 10, 20, tzinfo=UTC)
    return list(EventFactory(seed=seed).month({"store": n}, end - timedelta(days=3), end))


def _accepted(api: Api, events: list[dict[str, Any]]) -> list[Accepted]:
    records = [SourceRecord(orjson.dumps(e)) for e in events]
    return decode_batch(records, api.services.limits).accepted


async def test_a_failed_prepare_leaves_no_event_marked_in_progress(api: Api) -> None:
    """Regression: the ids of a batch whose preparation failed stayed pending, so the retry
    took every event for a duplicate, stored nothing, and the sink acked: silent loss."""
    store = api.services.storage.events
    good = _accepted(api, _made(50, 4))
    deep: dict[str, Any] = {"leaf": 1}
    for _ in range(300):  # deeper than the JSON encoder goes
        deep = {"a": deep}
    bad_event = GenerationEvent.model_construct(
        **{**good[0].event.__dict__, "event_id": uuid.uuid4(), "request_metadata": deep}
    )
    bad = Accepted(bad_event, SourceRecord(b"{}"))
    with pytest.raises(StorageRefused):
        store.prepare([*good, bad], "kafka")
    prepared = store.prepare(good, "kafka")  # the same events, without the culprit
    try:
        store.insert(prepared)
    finally:
        store.release(prepared)
    assert prepared.result.inserted == 50 and prepared.result.duplicates == 0
    rows = api.pool.query_rows(f"SELECT count() FROM {api.pool.database}.generations")
    assert rows[0][0] == 50


async def test_an_import_spanning_130_months_is_stored_once(api: Api) -> None:
    """Regression: one insert touching more than 100 partitions is refused (TOO_MANY_PARTS)."""
    await api.new_client("store")
    template = _made(1, 5)[0]
    start = datetime(2014, 1, 15, tzinfo=UTC)
    events = [
        {
            **template,
            "event_id": str(uuid.uuid4()),
            "occurred_at": (start + timedelta(days=30.4 * i)).isoformat(),
        }
        for i in range(130)
    ]
    first = await api.import_events(events)
    again = await api.import_events(events)
    assert (first["inserted"], first["duplicates"]) == (130, 0)
    assert (again["inserted"], again["duplicates"]) == (0, 130)
    rollup, raw = rollup_vs_raw(api)
    assert rollup == raw and sum(r[6] for r in rollup) == 130
    assert len(api.services.storage.events.blocks(_accepted(api, events))) == 130
