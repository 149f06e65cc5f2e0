"""Exports and statements on the real engine: streamed, filtered like the API, exact money."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest

from ingest.synthetic import EventFactory
from tests import oracle
from tests.conftest import Api

BASE = "/api/v1/llm/billing"
# Ragged bounds on purpose: the edges come from raw rows, the middle from the rollup.
START = datetime(2026, 9, 28, 5, 30, tzinfo=UTC)
END = datetime(2026, 10, 12, 17, 45, 30, tzinfo=UTC)


@pytest.fixture
async def loaded(api: Api) -> dict[str, Any]:
    keys = {
        "acme": await api.new_client("acme", budget="3.00"),
        "globex": await api.new_client("globex"),
    }
    factory = EventFactory(seed=23)
    events = list(
        factory.month({"acme": 700, "globex": 300}, START - timedelta(days=2), END + timedelta(2))
    )
    # A day without calls inside the period: usage exports still list it, as zeros.
    events = [e for e in events if not e["occurred_at"].startswith("2026-10-03")]
    result = await api.import_events(events)
    assert result["inserted"] == len(events)
    return {"keys": keys, "events": events}


def in_period(events: list[dict[str, Any]], client: str, **match: Any) -> list[dict[str, Any]]:
    out = []
    for e in events:
        when = oracle.parse_time(e["occurred_at"])
        if (
            e["client_id"] == client
            and START <= when < END
            and all(e[k] == v for k, v in match.items())
        ):
            out.append(e)
    return out


async def fetch(
    api: Api, path: str, key: str | None, **params: Any
) -> tuple[int, dict[str, str], bytes]:
    headers = {"x-api-key": key} if key else {}
    query = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}
    async with api.session.get(f"{api.base_url}{path}", headers=headers, params=query) as r:
        return r.status, dict(r.headers), await r.read()


PERIOD = {"start_date": START.isoformat(), "end_date": END.isoformat()}


async def test_log_export_csv_is_every_filtered_call_with_exact_costs(
    api: Api, loaded: dict[str, Any]
) -> None:
    status, headers, body = await fetch(
        api,
        f"{BASE}/exports/logs",
        loaded["keys"]["acme"],
        provider="openai",
        success=True,
        **PERIOD,
    )
    assert status == 200, body
    assert headers["Transfer-Encoding"] == "chunked"  # streamed, not built in memory
    assert headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    expected = in_period(loaded["events"], "acme", provider="openai", success=True)
    assert len(rows) == len(expected) == int(headers["X-Total-Rows"]) > 50
    by_id = {e["event_id"]: e for e in expected}
    assert {r["log_id"] for r in rows} == set(by_id)
    for r in rows:
        cost = oracle.cost(by_id[r["log_id"]])
        assert r["cost_usd"] == ("" if cost is None else oracle.fmt(cost))
        assert r["provider"] == "openai" and r["success"] == "true"
    times = [r["occurred_at"] for r in rows]
    assert times == sorted(times)  # oldest first


async def test_log_export_jsonl_matches_the_logs_endpoint(api: Api, loaded: dict[str, Any]) -> None:
    key = loaded["keys"]["globex"]
    status, headers, body = await fetch(
        api, f"{BASE}/exports/logs", key, format="jsonl", endpoint="chat", **PERIOD
    )
    assert status == 200 and headers["Content-Type"].startswith("application/x-ndjson")
    lines = [orjson.loads(line) for line in body.splitlines()]
    expected = in_period(loaded["events"], "globex", endpoint="chat")
    assert len(lines) == len(expected) > 0
    # Every line is a log item of the API: same fields, same values.
    _, page = await api.get(f"{BASE}/logs", key, endpoint="chat", limit=1000)
    api_items = {i["log_id"]: i for i in page["items"]}
    for line in lines:
        item = api_items[line["log_id"]]
        assert {k: v for k, v in line.items() if k != "occurred_at"} == {
            k: v for k, v in item.items() if k != "occurred_at"
        }
        assert datetime.fromisoformat(line["occurred_at"]) == datetime.fromisoformat(
            item["occurred_at"]
        )
        assert line["cost_usd"] is None or isinstance(line["cost_usd"], str)
    acme_ids = {e["event_id"] for e in loaded["events"] if e["client_id"] == "acme"}
    assert not acme_ids & {line["log_id"] for line in lines}


@pytest.mark.parametrize("group_by", ["hour", "day", "month"])
async def test_usage_export_equals_the_summary_bucket_for_bucket(
    api: Api, loaded: dict[str, Any], group_by: str
) -> None:
    key = loaded["keys"]["acme"]
    status, _, body = await fetch(api, f"{BASE}/exports/usage", key, group_by=group_by, **PERIOD)
    assert status == 200, body
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    _, summary = await api.get(f"{BASE}/usage/summary", key, group_by=group_by, **PERIOD)
    assert len(rows) == len(summary["buckets"])  # empty buckets included, as zeros
    for row, bucket in zip(rows, summary["buckets"], strict=True):
        assert datetime.fromisoformat(row["bucket_start"]) == datetime.fromisoformat(
            bucket["start"]
        )
        assert row["cost_usd"] == bucket["cost_usd"]
        assert int(row["calls"]) == bucket["calls"]
        assert int(row["cached_input_tokens"]) == bucket["cached_input_tokens"]
    total = sum((Decimal(r["cost_usd"]) for r in rows), Decimal(0))
    assert oracle.fmt(total) == oracle.totals(in_period(loaded["events"], "acme"))["cost_usd"]
    if group_by == "day":
        empty = [r for r in rows if r["bucket_start"].startswith("2026-10-03")]
        assert empty and empty[0]["calls"] == "0" and empty[0]["cost_usd"] == "0.000000000"


async def test_usage_export_split_by_provider_and_model(api: Api, loaded: dict[str, Any]) -> None:
    key = loaded["keys"]["acme"]
    status, _, body = await fetch(
        api,
        f"{BASE}/exports/usage",
        key,
        group_by="day",
        by="model,provider",
        format="jsonl",
        **PERIOD,
    )
    assert status == 200, body
    lines = [orjson.loads(line) for line in body.splitlines()]
    assert list(lines[0])[:4] == ["bucket_start", "bucket_end", "provider", "model"]
    events = in_period(loaded["events"], "acme")
    expected = oracle.group(
        events,
        lambda e: (oracle.parse_time(e["occurred_at"]).date(), e["provider"], e["model"]),
    )
    got = {
        (datetime.fromisoformat(x["bucket_start"]).date(), x["provider"], x["model"]): x
        for x in lines
    }
    assert set(got) == set(expected)
    for k, v in expected.items():
        oracle.assert_metrics(got[k], v)


async def test_export_parameters_are_validated_and_keys_checked(
    api: Api, loaded: dict[str, Any]
) -> None:
    status, _, body = await fetch(
        api,
        f"{BASE}/exports/usage",
        loaded["keys"]["acme"],
        format="xlsx",
        group_by="week",
        by="user",
    )
    assert status == 422
    problems = {tuple(p["loc"]) for p in orjson.loads(body)["detail"]}
    assert problems == {("query", "format"), ("query", "group_by"), ("query", "by")}
    status, _, _ = await fetch(api, f"{BASE}/exports/logs", "llmh_0000000000000000_nope")
    assert status == 401
    status, _, body = await fetch(
        api,
        f"{BASE}/exports/logs",
        loaded["keys"]["acme"],
        start_date=END.isoformat(),
        end_date=START.isoformat(),
    )
    assert status == 422


def bulk_insert(api: Api, client_id: str, rows: int, start: str = "2026-03-01") -> None:
    """Many plain calls for one client, made by the engine itself (fast, through the rollup)."""
    api.pool.command(
        f"INSERT INTO {api.pool.database}.generations (event_id, client_id, occurred_at, "
        "provider, model, endpoint, input_tokens, output_tokens, cost_usd, cost_source, "
        "latency_ms, success) SELECT generateUUIDv4(), {client:String}, "
        "toDateTime64({start:String}, 3, 'UTC') + toIntervalMillisecond(number * 150), "
        "'openai', 'gpt-4o', 'chat', 100 + number % 900, 50, "
        "toDecimal64(number % 100000, 9) / 1000000000, 'provider', 100 + number % 50, 1 "
        "FROM numbers({rows:UInt64})",
        {"client": client_id, "start": start, "rows": rows},
    )


async def test_long_exports_do_not_starve_the_api_and_hang_ups_end_them(
    api: Api, loaded: dict[str, Any]
) -> None:
    """More exports paused mid-way than the pool has clients: billing queries still answer.
    Then every export is abandoned by its reader, and the service goes on answering."""
    await asyncio.to_thread(bulk_insert, api, "acme", 200_000)
    key = loaded["keys"]["acme"]
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(api.pool.size + 1):
            r = await stack.enter_async_context(
                api.session.get(
                    f"{api.base_url}{BASE}/exports/logs",
                    headers={"x-api-key": key},
                    params={"start_date": "2026-01-01T00:00:00Z", "format": "jsonl"},
                )
            )
            assert r.status == 200 and int(r.headers["X-Total-Rows"]) > 200_000
            await r.content.read(100)  # and then stop reading, ~100 MB before the end
        status, body = await asyncio.wait_for(api.get(f"{BASE}/usage/current-month", key), 30)
        assert status == 200, body
    # All hung up now: the service still answers, exports included.
    status, body = await asyncio.wait_for(api.get(f"{BASE}/usage/current-month", key), 30)
    assert status == 200, body
    status, _, data = await fetch(api, f"{BASE}/exports/logs", key, **PERIOD)
    assert status == 200 and data.count(b"\n") == 1 + len(in_period(loaded["events"], "acme"))


async def test_monthly_statement_json_and_csv(api: Api, loaded: dict[str, Any]) -> None:
    key = loaded["keys"]["acme"]
    status, _, body = await fetch(api, f"{BASE}/statements/2026-10", key)
    assert status == 200, body
    s = orjson.loads(body)
    october = [
        e
        for e in loaded["events"]
        if e["client_id"] == "acme" and e["occurred_at"].startswith("2026-10")
    ]
    oracle.assert_metrics(s["totals"], oracle.totals(october))
    assert s["month"] == "2026-10" and s["complete"] is True
    by_model = oracle.group(october, lambda e: (e["provider"], e["model"]))
    for p in s["providers"]:
        for m in p["models"]:
            oracle.assert_metrics(m, by_model[(p["provider"], m["model"])])
    by_endpoint = oracle.group(october, lambda e: e["endpoint"])
    assert {e["endpoint"] for e in s["endpoints"]} == set(by_endpoint)
    for e in s["endpoints"]:
        oracle.assert_metrics(e, by_endpoint[e["endpoint"]])
    spend = Decimal(s["totals"]["cost_usd"])
    assert spend > Decimal("1.5")  # the 50% threshold of the 3.00 budget is crossed
    crossed = [t["threshold_percent"] for t in s["budget"]["thresholds_crossed"]]
    assert crossed == [t for t in (50, 80, 100) if spend >= Decimal(3) * t / 100]
    assert s["budget"]["monthly_budget_usd"] == "3.000000000"

    status, headers, body = await fetch(api, f"{BASE}/statements/2026-10", key, format="csv")
    assert status == 200 and "attachment" in headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    total = next(r for r in rows if r["section"] == "total")
    assert total["amount_usd"] == s["totals"]["cost_usd"]
    models = [r for r in rows if r["section"] == "model"]
    assert (
        oracle.fmt(sum((Decimal(r["amount_usd"]) for r in models), Decimal(0)))
        == total["amount_usd"]
    )
    assert [
        int(r["threshold_percent"]) for r in rows if r["section"] == "threshold_crossed"
    ] == crossed

    status, _, body = await fetch(api, f"{BASE}/statements/2026-13", key)
    assert status == 422 and orjson.loads(body)["detail"][0]["loc"] == ["path", "month"]


async def test_admin_exports_every_statement_and_the_overview(
    api: Api, loaded: dict[str, Any]
) -> None:
    auth = {"Authorization": f"Bearer {api.admin_token}"}
    async with api.session.get(f"{api.base_url}/admin/v1/statements/2026-10", headers=auth) as r:
        assert r.status == 200
        lines = [orjson.loads(line) for line in (await r.read()).splitlines()]
    assert [s["client_id"] for s in lines] == ["acme", "globex"]
    for s in lines:
        _, _, own = await fetch(api, f"{BASE}/statements/2026-10", loaded["keys"][s["client_id"]])
        assert {k: v for k, v in orjson.loads(own).items() if k != "generated_at"} == {
            k: v for k, v in s.items() if k != "generated_at"
        }
    async with api.session.get(
        f"{api.base_url}/admin/v1/statements/2026-10", headers=auth, params={"format": "csv"}
    ) as r:
        rows = list(csv.DictReader(io.StringIO(await r.text())))
    assert {r["client_id"] for r in rows} == {"acme", "globex"}

    status, overview = await api.admin("GET", "/overview")
    assert status == 200
    for c in overview["clients"]:
        _, month = await api.get(f"{BASE}/usage/current-month", loaded["keys"][c["client_id"]])
        assert (c["spend_usd"], c["calls"], c["status"]) == (
            month["spend_usd"],
            month["calls"],
            month["status"],
        )
    async with api.session.get(f"{api.base_url}/admin/v1/overview") as r:
        assert r.status == 401
