"""The hourly rollup: exactly the raw numbers, duplicate-safe, and what deep log pages use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.columnar import decode_columns
from core.decode import SourceRecord, decode_batch
from ingest.synthetic import EventFactory
from storage.clickhouse import reads
from storage.clickhouse.migrate import migrate
from tests import oracle
from tests.conftest import Api

BASE = "/api/v1/llm/billing"
KEYS = "client_id, hour, provider, model, endpoint, success"
SUMS = (
    "sum(calls), sum(successes), sum(unpriced_calls), sum(cost_usd), sum(input_tokens), "
    "sum(output_tokens), sum(cached_input_tokens), sum(reasoning_tokens), sum(latency_ms_sum)"
)
RAW = (
    "count(), countIf(success), countIf(cost_source = 'unpriced'), sum(toDecimal128(cost_usd, 9)),"
    " sum(toUInt64(input_tokens)), sum(toUInt64(output_tokens)),"
    " sum(toUInt64(cached_input_tokens)), sum(toUInt64(reasoning_tokens)),"
    " sum(toUInt64(latency_ms))"
)


def rollup_vs_raw(api: Api) -> tuple[list[Any], list[Any]]:
    db = api.pool.database
    rollup = api.pool.query_rows(
        f"SELECT {KEYS}, {SUMS} FROM {db}.usage_hourly GROUP BY {KEYS} ORDER BY {KEYS}"
    )
    raw = api.pool.query_rows(
        f"SELECT client_id, toStartOfHour(occurred_at) AS hour, provider, model, endpoint, "
        f"success, {RAW} FROM {db}.generations GROUP BY {KEYS} ORDER BY {KEYS}"
    )
    return rollup, raw


@pytest.fixture
async def events(api: Api) -> list[dict[str, Any]]:
    end = datetime(2026, 10, 20, tzinfo=UTC)
    made = list(
        EventFactory(seed=17).month({"big": 3000, "small": 300}, end - timedelta(days=9), end)
    )
    await api.new_client("big")
    await api.new_client("small")
    # Twice, to prove duplicates reach neither table.
    await api.import_events(made)
    await api.import_events(made[:500])
    return made


async def test_rollup_equals_raw_row_for_row(api: Api, events: list[dict[str, Any]]) -> None:
    rollup, raw = rollup_vs_raw(api)
    assert rollup == raw
    assert sum(r[6] for r in rollup) == len(events)


async def test_retried_insert_is_counted_once_in_raw_and_rollup(api: Api) -> None:
    store = api.services.storage.events
    made = list(
        EventFactory(seed=2).month(
            {"retry": 200}, datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 2, tzinfo=UTC)
        )
    )
    import orjson

    decoded = decode_batch([SourceRecord(orjson.dumps(e)) for e in made], api.services.limits)
    prepared = store.prepare(decoded.accepted, "kafka")
    store.insert(prepared)
    store.insert(prepared)  # an insert that timed out but had landed, retried as-is
    store.release(prepared)
    db = api.pool.database
    raw = api.pool.query_rows(f"SELECT count() FROM {db}.generations")[0][0]
    rolled = api.pool.query_rows(f"SELECT sum(calls) FROM {db}.usage_hourly")[0][0]
    assert raw == rolled == 200
    # And once more through the normal path: everything is already stored.
    again = store.write(decoded.accepted, "kafka")
    assert again.inserted == 0 and again.duplicates == 200


@pytest.mark.parametrize("send_ids", [False, True])
async def test_duplicate_check_both_ways(
    api: Api, monkeypatch: pytest.MonkeyPatch, send_ids: bool
) -> None:
    """Listing the span and sending the ids find the same stored events."""
    import orjson

    from storage.clickhouse import events

    if send_ids:
        monkeypatch.setattr(events, "SPAN_ROWS_PER_EVENT", 0)
        monkeypatch.setattr(events, "SPAN_ROWS_MIN", 0)
    made = list(
        EventFactory(seed=4).month(
            {"a": 300, "b": 300},
            datetime(2026, 10, 1, tzinfo=UTC),
            datetime(2026, 10, 3, tzinfo=UTC),
        )
    )
    decoded = decode_batch([SourceRecord(orjson.dumps(e)) for e in made], api.services.limits)
    store = api.services.storage.events
    first = store.write(decoded.accepted[::2], "kafka")
    assert (first.inserted, first.duplicates) == (300, 0)
    second = store.write(decoded.accepted, "kafka")
    assert (second.inserted, second.duplicates) == (300, 300)
    db = api.pool.database
    assert api.pool.query_rows(f"SELECT count() FROM {db}.generations")[0][0] == 600


async def test_unaligned_periods_are_exact(api: Api, events: list[dict[str, Any]]) -> None:
    key = await _key(api, "big")
    start = datetime(2026, 10, 13, 10, 17, 33, 250000, tzinfo=UTC)
    for end in (
        datetime(2026, 10, 18, 15, 42, 10, tzinfo=UTC),
        datetime(2026, 10, 13, 10, 50, tzinfo=UTC),  # no whole hour inside
        datetime(2026, 10, 13, 11, 0, tzinfo=UTC),
    ):
        mine = [
            e
            for e in events
            if e["client_id"] == "big" and start <= oracle.parse_time(e["occurred_at"]) < end
        ]
        for path in ("usage/summary", "usage/by-provider", "usage/by-endpoint"):
            status, body = await api.get(
                f"{BASE}/{path}", key, start_date=start.isoformat(), end_date=end.isoformat()
            )
            assert status == 200, body
            oracle.assert_metrics(body["totals"], oracle.totals(mine))


async def test_deep_pages_equal_direct_pages(
    api: Api, events: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = await _key(api, "big")

    async def page(offset: int, **filters: Any) -> list[str]:
        status, body = await api.get(f"{BASE}/logs", key, limit=37, offset=offset, **filters)
        assert status == 200
        return [item["log_id"] for item in body["items"]]

    cases = [
        (0, {}),
        (1, {}),
        (1234, {}),
        (2990, {}),
        (555, {"provider": "openai"}),
        (100, {"success": False}),
        (700, {"endpoint": "chat", "success": True}),
    ]
    direct = [await page(o, **f) for o, f in cases]
    monkeypatch.setattr(reads, "DIRECT_OFFSET", 0)
    via_rollup = [await page(o, **f) for o, f in cases]
    assert via_rollup == direct
    assert all(direct[:4])


async def test_migration_backfills_the_rollup(api: Api, events: list[dict[str, Any]]) -> None:
    pool = api.pool
    db = pool.database
    before = rollup_vs_raw(api)[0]
    pool.command(f"TRUNCATE TABLE {db}.usage_hourly")
    pool.command(
        f"ALTER TABLE {db}.schema_migrations DELETE WHERE version = 3 SETTINGS mutations_sync = 1"
    )
    assert migrate(pool) == ["0003_usage_hourly"]
    after, raw = rollup_vs_raw(api)
    assert after == raw == before


async def _key(api: Api, client: str) -> str:
    status, issued = await api.admin("POST", f"/clients/{client}/keys", json={})
    assert status == 201
    return str(issued["api_key"])


def _events(seed: int, client: str, n: int) -> list[dict[str, Any]]:
    start = datetime(2026, 10, 5, tzinfo=UTC)
    return list(EventFactory(seed=seed).month({client: n}, start, start + timedelta(hours=30)))


async def _lose_rollup_of(api: Api, made: list[dict[str, Any]]) -> None:
    """Store ``made`` raw with no rollup block: what a SIGKILL between the two parts leaves."""
    db = api.pool.database
    api.pool.command(f"DETACH TABLE {db}.usage_hourly_mv")
    try:
        await api.import_events(made)
    finally:
        api.pool.command(f"ATTACH TABLE {db}.usage_hourly_mv")


@pytest.mark.parametrize("path", ["rows", "columnar"])
async def test_redelivery_after_a_lost_rollup_block_repairs_the_rollup(api: Api, path: str) -> None:
    """Regression: the restarted sink found the ids stored and dropped them, totals short.

    Redelivered through the per-event path (the HTTP import) and through the sink's columnar
    path (build, prepare_built), both via the writer the API's read model observes.
    """
    key = await api.new_client("crash")
    made = _events(5, "crash", 400)
    await api.import_events(made[:150])
    await _lose_rollup_of(api, made[150:300])
    rollup, raw = rollup_vs_raw(api)
    assert rollup != raw  # the state the crash leaves
    window = {"start_date": "2026-10-01T00:00:00Z", "end_date": "2026-10-10T00:00:00Z"}
    status, body = await api.get(f"{BASE}/usage/summary", key, **window)  # a read model now
    assert body["totals"]["calls"] == 150
    # Kafka redelivers the unacked records, with the next ones after them.
    assert await _redeliver(api, path, made[150:]) == 150
    rollup, raw = rollup_vs_raw(api)
    assert rollup == raw
    status, body = await api.get(f"{BASE}/usage/summary", key, **window)
    assert status == 200
    oracle.assert_metrics(body["totals"], oracle.totals(made))
    # Redelivered once more: nothing left to repair, nothing written.
    count = f"SELECT count() FROM {api.pool.database}.usage_hourly"
    rows_before = api.pool.query_rows(count)
    assert await _redeliver(api, path, made[150:300]) == 150
    assert rollup_vs_raw(api) == (rollup, raw)
    assert api.pool.query_rows(count) == rows_before


async def _redeliver(api: Api, path: str, made: list[dict[str, Any]]) -> int:
    """Store ``made`` again through ``path``; the number of duplicates found."""
    if path == "rows":
        return int((await api.import_events(made))["duplicates"])
    import orjson

    records = [SourceRecord(orjson.dumps(e), "t", 0, n) for n, e in enumerate(made)]
    store = api.services.storage.events
    built = store.build(decode_columns(records, api.services.limits), "kafka")
    (block,) = store.built_blocks(built)
    prepared = store.prepare_built(block)
    try:
        store.insert(prepared)
    finally:
        store.release(prepared)
    return prepared.result.duplicates


async def test_a_refused_repair_does_not_refuse_the_events(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine refusing the repair is not the events' fault: fresh ones are still stored."""
    from storage import StorageRefused
    from storage.clickhouse import events as events_module

    def refuse(*_: Any) -> int:
        raise StorageRefused("rollup repair: refused for the test", "storage")

    await api.new_client("refused")
    made = _events(6, "refused", 60)
    await api.import_events(made[:30])
    monkeypatch.setattr(events_module, "repair", refuse)
    result = await api.import_events(made)  # 30 stored (repair refused), 30 fresh
    assert (result["inserted"], result["duplicates"]) == (30, 30)
    rollup, raw = rollup_vs_raw(api)
    assert rollup == raw
    assert sum(r[6] for r in raw) == 60
