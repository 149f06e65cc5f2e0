"""Budget alerts delivered: a real receiver on 127.0.0.1, the real engine, an injected clock.

Once per threshold per client per month, signed, retried with backoff, recorded so that a
restarted dispatcher neither loses nor repeats a delivery.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest

from core.settings import AlertSettings
from core.webhooks import DELIVERY_HEADER, SIGNATURE_HEADER, Delivery, delivery_id, verify
from notify.dispatcher import AlertDispatcher
from storage import Storage
from tests.conftest import Api
from tests.webhook_receiver import Receiver, receiver

SECRET = "whsec_test_secret_0123456789"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def event(client_id: str, at: datetime, cost: str) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "client_id": client_id,
        "occurred_at": at.isoformat(),
        "provider": "openai",
        "model": "gpt-4o-mini",
        "endpoint": "chat",
        "input_tokens": 10,
        "output_tokens": 5,
        "latency_ms": 100,
        "success": True,
        "status_code": 200,
        "cost_usd": cost,
    }


def alert_settings(**overrides: Any) -> AlertSettings:
    base: dict[str, Any] = {
        "interval_s": 0.2,
        "timeout_s": 5,
        "retry_initial_s": 60,
        "retry_max_s": 600,
        "max_attempts": 5,
    }
    return AlertSettings(**(base | overrides))


async def setup_client(api: Api, rec: Receiver, client_id: str, budget: str) -> None:
    await api.new_client(client_id, budget)
    status, body = await api.admin(
        "PATCH", f"/clients/{client_id}", json={"alert_thresholds": [50, 100]}
    )
    assert status == 200, body
    status, body = await api.admin(
        "PUT", f"/clients/{client_id}/webhook", json={"url": rec.url, "secret": SECRET}
    )
    assert status == 200 and body["secret"] == SECRET, body


def bodies(rec: Receiver) -> list[dict[str, Any]]:
    return [orjson.loads(r.body) for r in rec.requests]


@pytest.fixture
def jan31() -> Iterator[Clock]:
    yield Clock(datetime(2026, 1, 31, 23, 30, tzinfo=UTC))


async def test_once_per_threshold_per_month_signed_across_the_month_boundary(
    api: Api, jan31: Clock
) -> None:
    storage: Storage = api.services.storage
    async with receiver() as rec:
        await setup_client(api, rec, "acme", "10")
        clock = jan31
        async with AlertDispatcher(storage, alert_settings(), clock) as dispatcher:
            await api.import_events([event("acme", datetime(2026, 1, 31, 23, 0, tzinfo=UTC), "5")])
            await dispatcher.run_once()
            assert len(rec.requests) == 1
            sent = rec.requests[0]
            # Signed over timestamp + body with the client's secret; the timestamp is the clock's.
            now = int(clock.now.timestamp())
            assert verify(SECRET, sent.headers[SIGNATURE_HEADER], sent.body, now)
            assert not verify(
                "another-secret-0123456", sent.headers[SIGNATURE_HEADER], sent.body, now
            )
            assert not verify(SECRET, sent.headers[SIGNATURE_HEADER], sent.body + b" ", now)
            # Too old: a replayed request is refused by the receiver's tolerance.
            assert not verify(SECRET, sent.headers[SIGNATURE_HEADER], sent.body, now + 301)
            body = bodies(rec)[0]
            assert sent.headers[DELIVERY_HEADER] == body["id"]
            assert body["id"] == str(delivery_id("acme", "2026-01", 50))
            assert body["type"] == "budget.threshold_crossed"
            assert body["data"] == {
                "client_id": "acme",
                "month": "2026-01",
                "threshold_percent": 50,
                "threshold_usd": "5.000000000",
                "level": "warning",
                "month_to_date_spend_usd": "5.000000000",
                "monthly_budget_usd": "10.000000000",
            }

            # Nothing changed: nothing sent again.
            await dispatcher.run_once()
            # One nano-USD below the budget, at the month's last millisecond: 100% not crossed.
            last_ms = datetime(2026, 1, 31, 23, 59, 59, 999000, tzinfo=UTC)
            await api.import_events([event("acme", last_ms, "4.999999999")])
            await dispatcher.run_once()
            assert len(rec.requests) == 1

            # February: January's spend does not count; the month's first instant does.
            clock.now = datetime(2026, 2, 1, 0, 0, tzinfo=UTC)
            await dispatcher.run_once()
            assert len(rec.requests) == 1
            feb1 = datetime(2026, 2, 1, 0, 0, tzinfo=UTC)
            await api.import_events([event("acme", feb1, "5")])
            await dispatcher.run_once()
            assert len(rec.requests) == 2
            feb = bodies(rec)[1]
            assert (feb["data"]["month"], feb["data"]["threshold_percent"]) == ("2026-02", 50)
            assert feb["id"] == str(delivery_id("acme", "2026-02", 50)) != bodies(rec)[0]["id"]

            # Exactly the budget crosses 100% (equality crosses): one "exceeded" alert.
            await api.import_events([event("acme", feb1 + timedelta(hours=1), "5")])
            await dispatcher.run_once()
            await dispatcher.run_once()
            assert [b["data"]["threshold_percent"] for b in bodies(rec)] == [50, 50, 100]
            assert bodies(rec)[2]["data"]["level"] == "exceeded"

        status, listed = await api.admin("GET", "/clients/acme/webhook/deliveries")
        assert status == 200
        assert [
            (d["month"], d["threshold_percent"], d["status"]) for d in listed["deliveries"]
        ] == [
            ("2026-01", 50, "delivered"),
            ("2026-02", 50, "delivered"),
            ("2026-02", 100, "delivered"),
        ]


async def test_retries_with_backoff_survive_a_restart_without_repeating(
    api: Api, jan31: Clock
) -> None:
    storage: Storage = api.services.storage
    async with receiver() as rec:
        await setup_client(api, rec, "globex", "10")
        rec.failures = [500, 503]
        clock = jan31
        await api.import_events([event("globex", datetime(2026, 1, 31, 22, 0, tzinfo=UTC), "6")])
        async with AlertDispatcher(storage, alert_settings(), clock) as dispatcher:
            await dispatcher.run_once()
            assert len(rec.requests) == 1  # failed (500): retry in 60 s
            clock.now += timedelta(seconds=59)
            await dispatcher.run_once()
            assert len(rec.requests) == 1  # not due yet
            clock.now += timedelta(seconds=1)
            await dispatcher.run_once()
            assert len(rec.requests) == 2  # failed (503): retry in 120 s
        # Restart: a new dispatcher knows the schedule from storage, not from memory.
        async with AlertDispatcher(storage, alert_settings(), clock) as restarted:
            clock.now += timedelta(seconds=119)
            await restarted.run_once()
            assert len(rec.requests) == 2
            clock.now += timedelta(seconds=1)
            await restarted.run_once()
            assert len(rec.requests) == 3  # delivered
        async with AlertDispatcher(storage, alert_settings(), clock) as again:
            clock.now += timedelta(hours=1)
            await again.run_once()
        assert len(rec.requests) == 3
        # Every attempt carried the same id and the same body.
        assert len({r.headers[DELIVERY_HEADER] for r in rec.requests}) == 1
        assert len({r.body for r in rec.requests}) == 1
        _, listed = await api.admin("GET", "/clients/globex/webhook/deliveries")
        (d,) = listed["deliveries"]
        assert (d["status"], d["attempts"], d["last_status_code"]) == ("delivered", 3, 200)


async def test_gives_up_after_max_attempts_and_says_so(api: Api, jan31: Clock) -> None:
    async with receiver() as rec:
        await setup_client(api, rec, "initech", "10")
        rec.always_fail = True
        await api.import_events([event("initech", datetime(2026, 1, 31, 22, 0, tzinfo=UTC), "20")])
        settings = alert_settings(retry_initial_s=1, max_attempts=3)
        async with AlertDispatcher(api.services.storage, settings, jan31) as dispatcher:
            for _ in range(6):
                await dispatcher.run_once()
                jan31.now += timedelta(seconds=10)
        # Two thresholds (50, 100) crossed at once, three attempts each, then failed.
        assert len(rec.requests) == 6
        _, listed = await api.admin("GET", "/clients/initech/webhook/deliveries")
        assert {
            (d["threshold_percent"], d["status"], d["attempts"]) for d in listed["deliveries"]
        } == {
            (50, "failed", 3),
            (100, "failed", 3),
        }
        assert listed["deliveries"][0]["last_status_code"] == 503


class CrashAfterSend:
    """The real alert store, except that recording a success fails once (a crash there)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.crashed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def save(self, delivery: Delivery) -> None:
        if delivery.status == "delivered" and not self.crashed:
            self.crashed = True
            raise ConnectionError("engine gone between send and record")
        self.real.save(delivery)


@dataclasses.dataclass
class StorageWith:
    real: Any
    alerts: Any

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


async def test_a_crash_between_send_and_record_resends_under_the_same_id(
    api: Api, jan31: Clock
) -> None:
    async with receiver() as rec:
        await setup_client(api, rec, "hooli", "10")
        await api.import_events([event("hooli", datetime(2026, 1, 31, 22, 0, tzinfo=UTC), "5")])
        crashing = StorageWith(api.services.storage, CrashAfterSend(api.services.storage.alerts))
        async with AlertDispatcher(crashing, alert_settings(), jan31) as dispatcher:
            with pytest.raises(ConnectionError):
                await dispatcher.run_once()
        assert len(rec.requests) == 1
        async with AlertDispatcher(api.services.storage, alert_settings(), jan31) as restarted:
            await restarted.run_once()
            await restarted.run_once()
        # At-least-once: sent again, with the id the receiver de-duplicates on; then never again.
        assert len(rec.requests) == 2
        assert rec.requests[0].headers[DELIVERY_HEADER] == rec.requests[1].headers[DELIVERY_HEADER]
        assert rec.requests[0].body == rec.requests[1].body


async def test_the_background_task_delivers_and_follows_budget_changes(api: Api) -> None:
    async with receiver() as rec:
        await setup_client(api, rec, "umbrella", "100")
        now = datetime.now(UTC)
        await api.import_events([event("umbrella", now - timedelta(seconds=1), "60")])
        dispatcher = AlertDispatcher(api.services.storage, alert_settings())
        await dispatcher.start()
        try:
            await wait_for(lambda: len(rec.requests) == 1)
            # Lowering the budget crosses 100% without any new spend: evaluated too.
            status, _ = await api.admin(
                "PATCH", "/clients/umbrella", json={"monthly_budget_usd": "60"}
            )
            assert status == 200
            await wait_for(lambda: len(rec.requests) == 2)
        finally:
            await dispatcher.stop()
        assert [b["data"]["threshold_percent"] for b in bodies(rec)] == [50, 100]
        assert Decimal(bodies(rec)[1]["data"]["monthly_budget_usd"]) == Decimal(60)


async def wait_for(condition: Any, within: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_admin_webhook_routes_validate_and_hide_the_secret(api: Api) -> None:
    await api.new_client("soylent", "10")
    status, body = await api.admin(
        "PUT", "/clients/soylent/webhook", json={"url": "ftp://x", "secret": "short"}
    )
    assert status == 422
    assert {tuple(p["loc"]) for p in body["detail"]} == {("url",), ("secret",)}
    status, _ = await api.admin("PUT", "/clients/nobody/webhook", json={"url": "http://a/b"})
    assert status == 404
    status, _ = await api.admin("GET", "/clients/soylent/webhook")
    assert status == 404
    status, made = await api.admin("PUT", "/clients/soylent/webhook", json={"url": "http://a/b"})
    assert status == 200 and made["secret"].startswith("whsec_") and len(made["secret"]) > 40
    status, shown = await api.admin("GET", "/clients/soylent/webhook")
    assert shown == {
        "client_id": "soylent",
        "url": "http://a/b",
        "secret_hint": "..." + made["secret"][-4:],
    }
    status, _ = await api.admin("DELETE", "/clients/soylent/webhook")
    assert status == 200
    assert (await api.admin("GET", "/clients/soylent/webhook"))[0] == 404
    assert (await api.admin("DELETE", "/clients/soylent/webhook"))[0] == 404
    async with api.session.put(f"{api.base_url}/admin/v1/clients/soylent/webhook", json={}) as r:
        assert r.status == 401
