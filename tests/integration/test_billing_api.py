"""The six billing endpoints on the real engine, checked against the Decimal oracle."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from ingest.synthetic import EventFactory
from tests import oracle
from tests.conftest import Api

BASE = "/api/v1/llm/billing"
START = datetime(2026, 9, 28, 0, 0, tzinfo=UTC)
END = datetime(2026, 10, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
async def loaded(api: Api) -> dict[str, Any]:
    """Three clients; ``acme`` and ``globex`` have history, ``initech`` a budget and this month."""
    keys = {
        "acme": await api.new_client("acme"),
        "globex": await api.new_client("globex"),
        "initech": await api.new_client("initech", budget="0.50"),
    }
    factory = EventFactory(seed=11)
    # Leave 2026-10-05 empty on purpose: empty buckets must still be reported.
    history = [
        e
        for e in factory.month({"acme": 600, "globex": 250}, START + timedelta(hours=5), END)
        if not e["occurred_at"].startswith("2026-10-05")
    ]
    now = datetime.now(UTC)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    this_month = list(factory.month({"initech": 120}, month_start, now))
    result = await api.import_events(history + this_month)
    assert result["inserted"] == len(history) + len(this_month)
    assert result["rejected"] == 0
    return {"keys": keys, "history": history, "this_month": this_month}


def _of(events: list[dict[str, Any]], client: str) -> list[dict[str, Any]]:
    return [e for e in events if e["client_id"] == client]


@pytest.mark.parametrize("group_by", ["day", "hour", "month"])
async def test_summary_matches_oracle_per_bucket(
    api: Api, loaded: dict[str, Any], group_by: str
) -> None:
    status, body = await api.get(
        f"{BASE}/usage/summary",
        loaded["keys"]["acme"],
        start_date=START.isoformat(),
        end_date=END.isoformat(),
        group_by=group_by,
    )
    assert status == 200, body
    events = _of(loaded["history"], "acme")
    oracle.assert_metrics(body["totals"], oracle.totals(events))
    fmt = {"hour": "%Y-%m-%dT%H", "day": "%Y-%m-%d", "month": "%Y-%m"}[group_by]
    expected = oracle.group(events, lambda e: oracle.parse_time(e["occurred_at"]).strftime(fmt))
    assert sum(b["calls"] for b in body["buckets"]) == len(events)
    for bucket in body["buckets"]:
        key = datetime.fromisoformat(bucket["start"]).strftime(fmt)
        if key in expected:
            oracle.assert_metrics(bucket, expected[key])
        else:
            assert bucket["calls"] == 0 and bucket["cost_usd"] == "0.000000000"
    if group_by == "day":
        assert len(body["buckets"]) == 14  # every day of the period, the empty one included
        empty = [b for b in body["buckets"] if b["start"].startswith("2026-10-05")]
        assert empty and empty[0]["calls"] == 0
    assert body["as_of"] is not None
    assert body["period"]["start"].startswith("2026-09-28")


async def test_breakdowns_match_oracle_and_each_other(api: Api, loaded: dict[str, Any]) -> None:
    key = loaded["keys"]["acme"]
    events = _of(loaded["history"], "acme")
    window = {"start_date": START.isoformat(), "end_date": END.isoformat()}
    _, summary = await api.get(f"{BASE}/usage/summary", key, **window)
    status, by_provider = await api.get(f"{BASE}/usage/by-provider", key, **window)
    assert status == 200
    status, by_endpoint = await api.get(f"{BASE}/usage/by-endpoint", key, **window)
    assert status == 200

    expected_p = oracle.group(events, lambda e: e["provider"])
    assert {p["provider"] for p in by_provider["providers"]} == set(expected_p)
    for item in by_provider["providers"]:
        oracle.assert_metrics(item, expected_p[item["provider"]])
        models = oracle.group(
            [e for e in events if e["provider"] == item["provider"]], lambda e: e["model"]
        )
        for m in item["models"]:
            oracle.assert_metrics(m, models[m["model"]])
    expected_e = oracle.group(events, lambda e: e["endpoint"])
    for item in by_endpoint["endpoints"]:
        oracle.assert_metrics(item, expected_e[item["endpoint"]])

    total = oracle.totals(events)
    for body in (summary, by_provider, by_endpoint):
        oracle.assert_metrics(body["totals"], total)
    shares = sum(Decimal(str(p["cost_share"])) for p in by_provider["providers"])
    assert abs(shares - 1) < Decimal("0.00001")
    costs = [Decimal(p["cost_usd"]) for p in by_provider["providers"]]
    assert costs == sorted(costs, reverse=True)


async def test_logs_paginate_newest_first_and_sum_to_totals(
    api: Api, loaded: dict[str, Any]
) -> None:
    key = loaded["keys"]["globex"]
    events = _of(loaded["history"], "globex")
    seen: list[dict[str, Any]] = []
    offset = 0
    while True:
        status, page = await api.get(f"{BASE}/logs", key, limit=70, offset=offset)
        assert status == 200, page
        assert page["total"] == len(events)
        seen.extend(page["items"])
        offset += 70
        if not page["has_more"]:
            break
    assert len(seen) == len(events)
    assert len({i["log_id"] for i in seen}) == len(events)
    times = [i["occurred_at"] for i in seen]
    assert times == sorted(times, reverse=True)
    priced = sum(Decimal(i["cost_usd"]) for i in seen if i["cost_usd"] is not None)
    assert oracle.fmt(priced) == oracle.totals(events)["cost_usd"]
    assert sum(i["cost_usd"] is None for i in seen) == oracle.totals(events)["unpriced_calls"]


@pytest.mark.parametrize(
    ("filters", "predicate"),
    [
        ({"provider": "openai"}, lambda e: e["provider"] == "openai"),
        ({"provider": "OpenAI"}, lambda e: e["provider"] == "openai"),
        ({"endpoint": "translation"}, lambda e: e["endpoint"] == "translation"),
        ({"success": False}, lambda e: not e["success"]),
        (
            {"provider": "anthropic", "success": True},
            lambda e: e["provider"] == "anthropic" and e["success"],
        ),
    ],
)
async def test_log_filters(
    api: Api, loaded: dict[str, Any], filters: dict[str, Any], predicate: Any
) -> None:
    events = [e for e in _of(loaded["history"], "acme") if predicate(e)]
    status, page = await api.get(f"{BASE}/logs", loaded["keys"]["acme"], limit=1000, **filters)
    assert status == 200
    assert page["total"] == len(events) > 0
    assert {i["log_id"] for i in page["items"]} == {e["event_id"] for e in events}


async def test_log_details_show_everything_and_only_to_the_owner(
    api: Api, loaded: dict[str, Any]
) -> None:
    event = _of(loaded["history"], "acme")[3]
    status, body = await api.get(f"{BASE}/logs/{event['event_id']}", loaded["keys"]["acme"])
    assert status == 200
    assert body["request_metadata"] == event["request_metadata"]
    assert body["response_metadata"] == event["response_metadata"]
    assert body["request_id"] == event["request_id"]
    assert body["end_user_id"] == event["end_user_id"]
    expected_cost = oracle.cost(event)
    assert body["cost_usd"] == (oracle.fmt(expected_cost) if expected_cost is not None else None)
    # Another client asking for it, and an id that exists nowhere: the same 404.
    other = await api.get(f"{BASE}/logs/{event['event_id']}", loaded["keys"]["globex"])
    missing = await api.get(f"{BASE}/logs/{uuid.uuid4()}", loaded["keys"]["globex"])
    assert other == missing == (404, {"detail": "Not Found"})


async def test_current_month_budget_alerts(api: Api, loaded: dict[str, Any]) -> None:
    events = loaded["this_month"]
    status, body = await api.get(f"{BASE}/usage/current-month", loaded["keys"]["initech"])
    assert status == 200, body
    expected = oracle.totals(events)
    assert body["spend_usd"] == expected["cost_usd"]
    assert body["calls"] == expected["calls"]
    assert body["total_tokens"] == expected["total_tokens"]
    spend = Decimal(expected["cost_usd"])
    budget = Decimal("0.5")
    assert body["monthly_budget_usd"] == "0.500000000"
    assert Decimal(body["remaining_usd"]) == budget - spend
    crossed = [t for t in (50, 80, 100) if spend >= budget * t / 100]
    assert [a["threshold_percent"] for a in body["alerts"]] == crossed
    want = "exceeded" if spend >= budget else ("warning" if crossed else "ok")
    assert body["status"] == want
    assert Decimal(body["projected_month_end_usd"]) >= spend

    # Raising the budget clears the alerts.
    status, _ = await api.admin("PATCH", "/clients/initech", json={"monthly_budget_usd": "100000"})
    assert status == 200
    _, body = await api.get(f"{BASE}/usage/current-month", loaded["keys"]["initech"])
    assert body["status"] == "ok" and body["alerts"] == []
    # A client without a budget: no alerts, no percentage.
    _, body = await api.get(f"{BASE}/usage/current-month", loaded["keys"]["acme"])
    assert body["monthly_budget_usd"] is None and body["status"] == "ok"


async def test_totals_agree_across_endpoints_for_current_month(
    api: Api, loaded: dict[str, Any]
) -> None:
    key = loaded["keys"]["initech"]
    _, month = await api.get(f"{BASE}/usage/current-month", key)
    window = {"start_date": month["period"]["start"], "end_date": month["period"]["end"]}
    _, summary = await api.get(f"{BASE}/usage/summary", key, **window)
    _, by_provider = await api.get(f"{BASE}/usage/by-provider", key, **window)
    _, by_endpoint = await api.get(f"{BASE}/usage/by-endpoint", key, **window)
    _, logs = await api.get(f"{BASE}/logs", key, limit=1000)
    log_sum = sum(Decimal(i["cost_usd"]) for i in logs["items"] if i["cost_usd"])
    for body in (summary, by_provider, by_endpoint):
        assert body["totals"]["cost_usd"] == month["spend_usd"]
        assert body["totals"]["calls"] == month["calls"] == logs["total"]
    assert oracle.fmt(log_sum) == month["spend_usd"]


async def test_tenant_isolation(api: Api, loaded: dict[str, Any]) -> None:
    window = {"start_date": START.isoformat(), "end_date": END.isoformat()}
    for client, key in loaded["keys"].items():
        events = _of(loaded["history"], client)
        _, body = await api.get(f"{BASE}/usage/summary", key, **window)
        assert body["client_id"] == client
        oracle.assert_metrics(body["totals"], oracle.totals(events))
        _, logs = await api.get(f"{BASE}/logs", key, limit=1000)
        mine = {e["event_id"] for e in _of(loaded["history"] + loaded["this_month"], client)}
        assert {i["log_id"] for i in logs["items"]} <= mine


async def test_pricing_unpriced_and_provider_cost(api: Api) -> None:
    key = await api.new_client("pricing")
    base = {
        "client_id": "pricing",
        "occurred_at": "2026-10-01T12:00:00+02:00",
        "endpoint": "chat",
        "input_tokens": 1_000_000,
        "output_tokens": 200_000,
        "cached_input_tokens": 400_000,
        "reasoning_tokens": 0,
        "latency_ms": 100,
        "success": True,
    }
    catalog_priced = {
        **base,
        "event_id": str(uuid.uuid4()),
        "provider": "openai",
        "model": "gpt-4o",
    }
    reported = {**catalog_priced, "event_id": str(uuid.uuid4()), "cost_usd": "0.123456789"}
    unknown = {**base, "event_id": str(uuid.uuid4()), "provider": "acme", "model": "nope-1"}
    # o3 changed price on 2025-06-10: the price in force on the call's day applies.
    old_o3 = {
        **base,
        "event_id": str(uuid.uuid4()),
        "provider": "openai",
        "model": "o3",
        "occurred_at": "2025-06-09T23:59:59Z",
    }
    new_o3 = {**old_o3, "event_id": str(uuid.uuid4()), "occurred_at": "2025-06-10T00:00:00Z"}
    await api.import_events([catalog_priced, reported, unknown, old_o3, new_o3])

    async def detail(e: dict[str, Any]) -> dict[str, Any]:
        status, body = await api.get(f"{BASE}/logs/{e['event_id']}", key)
        assert status == 200
        return dict(body)

    # gpt-4o: 600k input x 2.50 + 400k cached x 1.25 + 200k output x 10.00 per 1M = 4.00 USD
    body = await detail(catalog_priced)
    assert body["cost_usd"] == "4.000000000" and body["cost_source"] == "catalog"
    assert body["price_version"] == "openai/gpt-4o@2024-10-01"
    body = await detail(reported)
    assert body["cost_usd"] == "0.123456789" and body["cost_source"] == "provider"
    body = await detail(unknown)
    assert body["cost_usd"] is None and body["cost_source"] == "unpriced"
    assert (await detail(old_o3))["cost_usd"] == "15.000000000"  # 6 + 1 + 8 at the old price
    assert (await detail(old_o3))["cost_usd"] == oracle.fmt(oracle.cost(old_o3))
    assert (await detail(new_o3))["cost_usd"] == oracle.fmt(oracle.cost(new_o3))
    _, summary = await api.get(
        f"{BASE}/usage/summary",
        key,
        start_date="2026-10-01T00:00:00Z",
        end_date="2026-10-02T00:00:00Z",
    )
    assert summary["totals"]["unpriced_calls"] == 1
    assert summary["totals"]["cost_usd"] == "4.123456789"
