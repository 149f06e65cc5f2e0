"""Dead letters for the admin: counted and listed by reason and client, replayed, discarded,
through the admin API and ``llmhub-admin`` / ``llmhub-dlq``, on the real broker and engine."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from core.settings import Settings
from ingest.runtime import IngestRuntime
from tests.conftest import Api
from tests.integration.test_clis import admin, run
from tests.integration.test_ingest_e2e import (
    _offsets_match,
    pipeline_settings,
    produce,
    running_pipeline,
    wait_for,
)
from tests.integration.test_sink_failures import _check, _events, _logs_total, _raw

pytestmark = pytest.mark.kafka


@pytest.fixture
async def sink(
    api: Api, settings: Settings, kafka_bootstrap: str, tmp_path: Path
) -> AsyncIterator[tuple[Api, Settings, IngestRuntime]]:
    full = pipeline_settings(settings, kafka_bootstrap, tmp_path)
    async with running_pipeline(api, full) as runtime:
        yield api, full, runtime


async def _counts(api: Api, **query: str) -> dict[tuple[str, str, str], int]:
    status, body = await api.admin("GET", "/dead-letters/counts", params=query)
    assert status == 200, body
    return {(c["reason"], c["client_id"], c["status"]): c["count"] for c in body["counts"]}


async def test_dead_letters_are_counted_listed_replayed_and_discarded(
    sink: tuple[Api, Settings, IngestRuntime],
) -> None:
    api, settings, runtime = sink
    db = api.pool.database
    api.pool.command(f"ALTER TABLE {db}.generations ADD CONSTRAINT gate CHECK model != 'held'")
    key = await api.new_client("acme")
    events = _events({"acme": 20}, 21)
    held = {**events[0], "event_id": str(uuid.uuid4()), "model": "held"}
    await produce(settings, events)
    await _raw(settings, [(b"acme", orjson.dumps(held)), (b"acme", b'{"client_id": "acme", ')])
    assert runtime.sink is not None
    stats = runtime.sink.stats
    await wait_for(_check(lambda: stats.dead_lettered == 2), 60, "two dead letters")

    async with api.session.get(f"{api.base_url}/admin/v1/dead-letters/counts") as r:
        assert r.status == 401
    assert await _counts(api) == {
        ("engine_refused", "acme", "open"): 1,
        ("invalid_json", "", "open"): 1,
    }
    status, listed = await api.admin("GET", "/dead-letters", params={"client_id": "acme"})
    assert status == 200
    (letter,) = listed["dead_letters"]
    assert letter["reason"] == "engine_refused" and "VIOLATED_CONSTRAINT" in str(letter["errors"])
    assert orjson.loads(letter["value"]) == held and letter["dlq_offset"] >= 0
    status, body = await api.admin("POST", "/dead-letters/replay", json={})
    assert status == 422, "replay needs a filter"
    status, body = await api.admin("GET", "/dead-letters", params={"status": "lost"})
    assert status == 422

    # Fixed on the engine's side, then replayed: stored once, and the row says replayed.
    api.pool.command(f"ALTER TABLE {db}.generations DROP CONSTRAINT gate")
    status, body = await api.admin("POST", "/dead-letters/replay", json={"client_id": "acme"})
    assert status == 200 and body["replayed"] == 1
    await wait_for(lambda: _stored(api, key, len(events) + 1), 60, "the replayed event")

    # The CLIs: counts by reason and client, discard by reason.
    discarded = await admin(api, "discard-dead-letters", "--reason", "invalid_json")
    assert discarded == {"discarded": 1}
    counts = await admin(api, "dead-letter-counts", "--status", "any")
    assert {(c["reason"], c["client_id"], c["status"], c["count"]) for c in counts["counts"]} == {
        ("engine_refused", "acme", "replayed", 1),
        ("invalid_json", "", "discarded", 1),
    }
    assert (await admin(api, "dead-letter-counts"))["total"] == 0
    code, out, err = await run(
        "cli.dlq",
        "--bootstrap",
        settings.kafka.bootstrap,
        "--topic",
        settings.kafka.dlq_topic,
        "counts",
    )
    assert code == 0, err
    topic_counts = [orjson.loads(line) for line in out.splitlines()]
    assert sorted((c["reason"], c["client_id"], c["count"]) for c in topic_counts) == [
        ("engine_refused", "acme", 1),
        ("invalid_json", "", 1),
    ]
    await wait_for(lambda: _offsets_match(settings), 15, "the commit")


async def _stored(api: Api, key: str, n: int) -> bool:
    return await _logs_total(api, key) == n
