"""The dashboard in a real browser (Debian's chromium driven by Playwright) on the real engine.

Each test signs in as a person would and compares what the page shows with what the API
answers for the same question: chart data and the exact decimal strings in labels, tables and
tooltips. Screenshots land in docs/screenshots/ (the README shows them).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright
from playwright.async_api import Error as PlaywrightError

from ingest.synthetic import EventFactory
from tests import oracle
from tests.conftest import Api

BASE = "/api/v1/llm/billing"
# The README's screenshots are rewritten only when asked (LLMHUB_UPDATE_SCREENSHOTS=1), so a
# test run leaves the checkout clean; otherwise they go to a scratch folder.
SHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("LLMHUB_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "llmhub-screenshots"
)
SHOTS.mkdir(parents=True, exist_ok=True)
VIEWPORT = {"width": 1200, "height": 860}


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is missing: `make browser` installs it")
    async with async_playwright() as p:
        # Debian's build, never a browser downloaded by Playwright.
        launched = await p.chromium.launch(executable_path=chromium)
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda e: errors.append(str(e)))
    yield opened
    await context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
async def loaded(api: Api) -> dict[str, Any]:
    """Two clients with calls in the last 25 days; umbrella's budget is set so that its spend
    this month is 5/6 of it (the 50% and 80% thresholds crossed, not 100%)."""
    now = datetime.now(UTC)
    factory = EventFactory(seed=5)
    events = list(factory.month({"umbrella-co": 400, "globex-inc": 150}, now - timedelta(25), now))
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    events += factory.month({"umbrella-co": 40}, max(month_start, now - timedelta(5)), now)
    spent = sum(
        (
            oracle.cost(e) or Decimal(0)
            for e in events
            if e["client_id"] == "umbrella-co"
            and oracle.parse_time(e["occurred_at"]) >= month_start
        ),
        Decimal(0),
    )
    budget = (spent * Decimal("1.2")).quantize(Decimal("0.000000001"))
    keys = {
        "umbrella-co": await api.new_client("umbrella-co", budget=str(budget)),
        "globex-inc": await api.new_client("globex-inc"),
    }
    result = await api.import_events(events)
    assert result["inserted"] == len(events)
    return {"keys": keys, "events": events, "calls": {"umbrella-co": 440, "globex-inc": 150}}


def default_period() -> dict[str, str]:
    """What the page asks for by default: the last 30 UTC days, today included."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=29)
    end = today + timedelta(days=1)
    return {
        "start_date": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end_date": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def record(page: Page) -> dict[str, Any]:
    """The JSON bodies the page received, by path (the last one of each to arrive)."""
    bodies: dict[str, Any] = {}
    arrived = itertools.count()
    latest: dict[str, int] = {}

    async def keep(response: Any) -> None:
        # Numbered as responses arrive: reading bodies is async and may finish out of order.
        n = next(arrived)
        if response.ok and "json" in (response.headers.get("content-type") or ""):
            path = response.url.split("?")[0].split("127.0.0.1")[1].split("/", 1)[1]
            try:
                body = await response.json()
            except PlaywrightError:  # the page closed before the body was read
                return
            if n >= latest.get(path, -1):
                latest[path] = n
                bodies[path] = body

    page.on("response", keep)
    return bodies


async def sign_in(page: Page, api: Api, key: str) -> None:
    await page.goto(f"{api.base_url}/")
    await page.fill("#api-key", key)
    await page.click("#key-form button[type=submit]")
    await page.wait_for_selector("#logs-table tbody tr")
    # The first answers are drawn: what a test clicks next is asked after them.
    await page.wait_for_function(
        "() => Charts.instance('chart-spend')?.getOption()?.series?.[0]?.data?.length > 0"
    )


async def chart_data(page: Page, chart: str) -> list[dict[str, Any]]:
    raw = await page.evaluate(
        "(id) => JSON.stringify(Charts.instance(id).getOption().series[0].data)", chart
    )
    return list(json.loads(raw))


async def test_charts_show_the_numbers_the_api_returns(
    api: Api, loaded: dict[str, Any], page: Page
) -> None:
    key = loaded["keys"]["umbrella-co"]
    received = record(page)
    await sign_in(page, api, key)
    period = default_period()
    _, summary = await api.get(f"{BASE}/usage/summary", key, group_by="day", **period)
    _, providers = await api.get(f"{BASE}/usage/by-provider", key, **period)
    _, endpoints = await api.get(f"{BASE}/usage/by-endpoint", key, **period)
    _, month = await api.get(f"{BASE}/usage/current-month", key)
    # The projection moves with the clock: compare the page with the answer it was given,
    # and that answer with ours on everything that does not move.
    shown = received[f"{BASE[1:]}/usage/current-month"]
    assert {
        k: v for k, v in shown.items() if k not in ("projected_month_end_usd", "generated_at")
    } == {k: v for k, v in month.items() if k not in ("projected_month_end_usd", "generated_at")}
    month = shown

    # Spend over time: one bar per bucket, plotted from the API's amount, labelled with it.
    bars = await chart_data(page, "chart-spend")
    assert [b["text"] for b in bars] == [b["cost_usd"] for b in summary["buckets"]]
    assert [b["value"] for b in bars] == [float(b["cost_usd"]) for b in summary["buckets"]]
    assert sum(b["calls"] for b in bars) == summary["totals"]["calls"] == 440
    assert await page.text_content("#kpi-cost") == summary["totals"]["cost_usd"]
    # A tooltip shows the exact string of the bucket it points at.
    busiest = max(range(len(bars)), key=lambda i: bars[i]["value"])
    await page.evaluate(
        "(i) => Charts.instance('chart-spend').dispatchAction("
        "{type: 'showTip', seriesIndex: 0, dataIndex: i})",
        busiest,
    )
    tip = summary["buckets"][busiest]["cost_usd"]
    await page.wait_for_function(
        "(t) => document.querySelector('#chart-spend').innerText.includes(t)", arg=tip
    )

    # Providers and endpoints: chart items and table cells carry the API's strings.
    items = await chart_data(page, "chart-providers")
    assert [(i["name"], i["text"]) for i in items] == [
        (p["provider"], p["cost_usd"]) for p in providers["providers"]
    ]
    table = await page.inner_text("#providers-table")
    for p in providers["providers"]:
        assert p["cost_usd"] in table
        for m in p["models"]:
            assert m["model"] in table and m["cost_usd"] in table
    items = await chart_data(page, "chart-endpoints")
    assert [i["text"] for i in items] == [e["cost_usd"] for e in endpoints["endpoints"]]

    # Budget: spend, budget, projection and each crossed threshold, as the API says them.
    facts = await page.inner_text("#budget-facts")
    for field in ("spend_usd", "monthly_budget_usd", "projected_month_end_usd", "remaining_usd"):
        assert month[field] in facts
    assert month["status"] == "warning" and "warning" in facts
    alerts = await page.inner_text("#budget-alerts")
    assert [a["threshold_percent"] for a in month["alerts"]] == [50, 80]
    assert all(f"{a['threshold_percent']}% crossed" in alerts for a in month["alerts"])
    gauge = await chart_data(page, "chart-budget")
    assert gauge[0]["text"] == month["spend_usd"]
    assert gauge[1]["text"] == month["projected_month_end_usd"]

    # as_of is shown; the key lives in this tab only.
    assert summary["as_of"] == await page.get_attribute("#as-of", "data-as-of")
    storage = await page.evaluate(
        "() => [document.cookie, localStorage.length, sessionStorage.getItem('llmhub.apiKey')]"
    )
    assert storage == ["", 0, key]
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.evaluate("() => Charts.instance('chart-spend').dispatchAction({type: 'hideTip'})")
    await page.screenshot(path=str(SHOTS / "dashboard-client.png"))


async def test_period_picker_asks_for_the_chosen_period_and_unit(
    api: Api, loaded: dict[str, Any], page: Page
) -> None:
    key = loaded["keys"]["umbrella-co"]
    received = record(page)
    await sign_in(page, api, key)
    await page.click("[data-preset='1']")  # yesterday and today, by hour
    await page.wait_for_function(
        "() => Charts.instance('chart-spend').getOption().series[0].data.length === 48"
    )
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    period = {
        "start_date": (today - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end_date": (today + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    _, summary = await api.get(f"{BASE}/usage/summary", key, group_by="hour", **period)
    assert received[f"{BASE[1:]}/usage/summary"]["group_by"] == "hour"
    bars = await chart_data(page, "chart-spend")
    assert [b["text"] for b in bars] == [b["cost_usd"] for b in summary["buckets"]]
    assert await page.text_content("#kpi-cost") == summary["totals"]["cost_usd"]
    # A hand-picked period by month.
    end = (today + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    _, months = await api.get(
        f"{BASE}/usage/summary",
        key,
        group_by="month",
        start_date="2026-01-01T00:00:00Z",
        end_date=end,
    )
    await page.fill("#from", "2026-01-01")
    await page.select_option("#group-by", "month")
    await page.click("#apply")
    await page.wait_for_function(
        "(n) => Charts.instance('chart-spend').getOption().series[0].data.length === n",
        arg=len(months["buckets"]),
    )
    bars = await chart_data(page, "chart-spend")
    assert [b["text"] for b in bars] == [b["cost_usd"] for b in months["buckets"]]


async def test_log_filters_paging_and_detail(api: Api, loaded: dict[str, Any], page: Page) -> None:
    key = loaded["keys"]["umbrella-co"]
    await sign_in(page, api, key)
    await page.select_option("#f-provider", "openai")
    _, first = await api.get(f"{BASE}/logs", key, provider="openai", limit=25, offset=0)
    await page.wait_for_function(
        "(t) => document.querySelector('#page-info').textContent.endsWith('of ' + t)",
        arg=f"{first['total']:,}",
    )
    assert 25 < first["total"] < 440
    rows = await page.eval_on_selector_all(
        "#logs-table tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )
    assert [r[1] for r in rows] == ["openai"] * 25
    assert [r[5] for r in rows] == [i["cost_usd"] or "unpriced" for i in first["items"]]

    await page.click("#next")
    await page.wait_for_function(
        "() => document.querySelector('#page-info').textContent.startsWith('26–50')"
    )
    _, second = await api.get(f"{BASE}/logs", key, provider="openai", limit=25, offset=25)
    rows = await page.eval_on_selector_all(
        "#logs-table tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )
    assert [r[5] for r in rows] == [i["cost_usd"] or "unpriced" for i in second["items"]]

    await page.select_option("#f-success", "false")
    _, failed = await api.get(f"{BASE}/logs", key, provider="openai", success=False, limit=25)
    await page.wait_for_function(
        "(t) => document.querySelector('#page-info').textContent.endsWith('of ' + t)",
        arg=f"{failed['total']:,}",
    )
    assert await page.locator("#logs-table tbody tr.failed").count() == len(failed["items"])

    # Detail view of the first call: everything the detail endpoint returns for it.
    await page.select_option("#f-success", "")
    await page.wait_for_function(
        "(t) => document.querySelector('#page-info').textContent.endsWith('of ' + t)",
        arg=f"{first['total']:,}",
    )
    await page.click("#logs-table tbody tr:first-child")
    await page.wait_for_selector("#detail[open]")
    _, detail = await api.get(f"{BASE}/logs/{first['items'][0]['log_id']}", key)
    assert await page.text_content("#detail-id") == detail["log_id"]
    facts = await page.inner_text("#detail-facts")
    assert detail["cost_usd"] is None or detail["cost_usd"] in facts
    assert (
        json.loads(await page.text_content("#detail-request") or "") == detail["request_metadata"]
    )
    await page.screenshot(path=str(SHOTS / "dashboard-log-detail.png"))


async def test_a_client_sees_nothing_of_another(
    api: Api, loaded: dict[str, Any], page: Page
) -> None:
    seen: list[Any] = []

    async def keep(response: Any) -> None:
        if BASE in response.url and response.ok:
            seen.append(await response.json())

    page.on("response", keep)
    key = loaded["keys"]["globex-inc"]
    await sign_in(page, api, key)
    await page.click("#logs-table tbody tr:first-child")
    await page.wait_for_selector("#detail[open]")
    text = await page.inner_text("body")
    umbrella = [e for e in loaded["events"] if e["client_id"] == "umbrella-co"]
    _, umbrella_total = await api.get(
        f"{BASE}/usage/summary", loaded["keys"]["umbrella-co"], **default_period()
    )
    assert "umbrella" not in text.lower()
    assert umbrella_total["totals"]["cost_usd"] not in text
    assert not any(e["event_id"] in text for e in umbrella)
    assert seen and all(body["client_id"] == "globex-inc" for body in seen)
    dumped = json.dumps(seen)
    assert not any(e["event_id"] in dumped for e in umbrella)
    # Signing out forgets the key and clears what was shown.
    await page.keyboard.press("Escape")
    await page.click("#sign-out")
    assert await page.evaluate("() => sessionStorage.length") == 0
    assert await page.locator("#logs-table tr").count() == 0


async def test_a_wrong_key_gets_a_clear_message(
    api: Api, loaded: dict[str, Any], page: Page
) -> None:
    await page.goto(f"{api.base_url}/")
    await page.fill("#api-key", "llmh_0000000000000000_not-a-real-key")
    await page.click("#key-form button[type=submit]")
    message = page.locator("#sign-in-error")
    await message.wait_for(state="visible")
    assert "not accepted" in (await message.text_content() or "")
    assert await page.is_hidden("#client-view")
    assert await page.evaluate("() => sessionStorage.length") == 0
    await page.screenshot(path=str(SHOTS / "dashboard-wrong-key.png"))


async def test_admin_view_lists_clients_with_month_to_date_spend(
    api: Api, loaded: dict[str, Any], page: Page
) -> None:
    received = record(page)
    await page.goto(f"{api.base_url}/")
    await page.click("summary")
    await page.fill("#admin-token", api.admin_token)
    await page.click("#admin-form button[type=submit]")
    await page.wait_for_selector("#clients-table tbody tr")
    rows = await page.eval_on_selector_all(
        "#clients-table tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )
    for client_id, key in loaded["keys"].items():
        _, month = await api.get(f"{BASE}/usage/current-month", key)
        row = next(r for r in rows if r[0] == client_id)
        assert row[2] == month["spend_usd"]
        assert row[7] == month["status"]
        shown = next(
            c for c in received["admin/v1/overview"]["clients"] if c["client_id"] == client_id
        )
        assert row[6] == shown["projected_month_end_usd"]
    bars = await chart_data(page, "chart-clients")
    assert [b["text"] for b in bars] == [r[2] for r in rows]
    await page.screenshot(path=str(SHOTS / "dashboard-admin.png"))
