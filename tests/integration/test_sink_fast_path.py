"""The failure model on the columnar decoder and the pipelined sink, and on the exact path.

Both paths of the sink (LLMHUB_WORKER_COLUMNAR / _PIPELINE on, and both off) get the same
stream: batch messages spanning three months with an event the engine refuses among them, a
single-event message the engine refuses, and a tombstone. Each refused event must be pinned
on its own record (and its place in a batch message), the tombstone dead-lettered alone, every
other event stored once, and the committed offsets must reach the end.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from core.settings import Settings
from ingest.runtime import IngestRuntime
from tests.conftest import Api
from tests.integration.test_ingest_e2e import (
    _offsets_match,
    dead_letters,
    pipeline_settings,
    produce,
    running_pipeline,
    wait_for,
)
from tests.integration.test_sink_failures import _all_stored, _check, _events, _raw

pytestmark = pytest.mark.kafka

PATHS = {"columnar+pipeline": (True, True), "exact": (False, False)}


@pytest.fixture(params=list(PATHS))
async def sink(
    request: pytest.FixtureRequest,
    api: Api,
    settings: Settings,
    kafka_bootstrap: str,
    tmp_path: Path,
) -> AsyncIterator[tuple[str, Api, Settings, IngestRuntime]]:
    columnar, pipeline = PATHS[request.param]
    full = pipeline_settings(
        settings, kafka_bootstrap, tmp_path, columnar=columnar, pipeline=pipeline
    )
    async with running_pipeline(api, full) as runtime:
        yield request.param, api, full, runtime


def _months_back(event: dict[str, Any], months: int) -> dict[str, Any]:
    when = datetime.now(UTC) - timedelta(days=5 + 31 * months)
    return {**event, "event_id": str(uuid.uuid4()), "occurred_at": when.isoformat()}


async def test_refusals_are_pinned_and_neighbours_stored_on_each_path(
    sink: tuple[str, Api, Settings, IngestRuntime],
) -> None:
    path, api, settings, runtime = sink
    db = api.pool.database
    api.pool.command(
        f"ALTER TABLE {db}.generations ADD CONSTRAINT no_poison CHECK model != 'poison-2'"
    )
    try:
        clients = {"north": 200, "south": 200}
        keys = {c: await api.new_client(c) for c in clients}
        events = _events(clients, 21)
        # Two batch messages of 60 events over three months (one block per month), the
        # second holding an event the engine refuses at index 31 (the middle month).
        spread = [_months_back(e, i % 3) for i, e in enumerate(events[:120])]
        poison_in_batch = {**_months_back(events[120], 1), "model": "poison-2"}
        second = [*spread[60:91], poison_in_batch, *spread[91:]]
        poison_alone = {**_months_back(events[121], 0), "model": "poison-2"}
        good = spread + events[122:]
        await produce(settings, events[122:200])
        await _raw(
            settings,
            [
                (b"north", orjson.dumps(spread[:60])),
                (b"south", orjson.dumps(second)),
                (b"north", orjson.dumps(poison_alone)),
                (b"north", None),  # a tombstone between valid records
            ],
        )
        await produce(settings, events[200:])
        assert runtime.sink is not None
        stats = runtime.sink.stats
        await _all_stored(api, keys, good)
        await wait_for(_check(lambda: stats.dead_lettered == 3), 30, "three dead letters")
        assert stats.refused_by_storage == 2 and stats.inserted == len(good)
        # The path under test is the one that ran (the columnar one prices by column).
        assert ("price+columns" in stats.stage_s) == (path != "exact")
        letters = await dead_letters(settings, 3)
        by_value = {r.value: dict(r.headers) for r in letters}
        for bad, index in ((poison_in_batch, b"31"), (poison_alone, b"-1")):
            headers = by_value[orjson.dumps(bad)]
            assert headers["llmhub.reason"] == b"engine_refused"
            assert b"VIOLATED_CONSTRAINT" in headers["llmhub.errors"]
            assert headers["llmhub.source.index"] == index
        # The decoder names a null value a tombstone (core.decode), on every path.
        assert by_value[None]["llmhub.reason"] == b"tombstone"
        rows = api.pool.query_rows(
            f"SELECT toYYYYMM(occurred_at) AS m, count() FROM {db}.generations "
            "WHERE client_id IN ('north', 'south') GROUP BY m"
        )
        assert sum(n for _, n in rows) == len(good) and len(rows) >= 3
        await wait_for(lambda: _offsets_match(settings), 15, "the commit past every failure")
    finally:
        api.pool.command(f"ALTER TABLE {db}.generations DROP CONSTRAINT no_poison")
