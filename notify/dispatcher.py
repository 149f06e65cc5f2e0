"""The alert dispatcher: finds thresholds crossed this month and delivers their webhooks.

Each tick it reads month-to-date spend of every client with a webhook (one rollup query) and
evaluates only clients whose spend, budget or thresholds changed since the last tick. A due
threshold (rules of :mod:`core.budget`, through :func:`core.webhooks.due_alerts`) is first
*recorded* as a pending delivery, then sent, then its outcome recorded. So:

- a restart loses nothing: a pending row is sent by whichever dispatcher runs next;
- a threshold is queued once per client per month (its row exists: never queued again);
- a crash between a successful send and recording it re-sends the same body under the same
  delivery id (at-least-once): receivers de-duplicate on ``X-Llmhub-Delivery``.

Failed attempts (no answer, or a non-2xx status) are retried with exponential backoff, the
next attempt time stored with the row so a restart keeps the schedule, until
``max_attempts``; then the delivery is marked failed and shown by the admin API.
Run one dispatcher per deployment: two would both send (still with one delivery id).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from decimal import Decimal
from typing import Any

import aiohttp
import orjson
from prometheus_client import CollectorRegistry, Counter

from core import utc
from core.calendar import month_bounds
from core.settings import AlertSettings
from core.tenancy import Client
from core.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    EVENT_TYPE,
    SIGNATURE_HEADER,
    Delivery,
    Webhook,
    backoff,
    due_alerts,
    month_key,
    payload,
    sign,
)
from storage import Storage

log = logging.getLogger("llmhub.alerts")

# What changes a client's evaluation: month, spend, budget, thresholds.
_Seen = tuple[str, Decimal, Decimal | None, tuple[int, ...]]


class AlertMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        kw: dict[str, Any] = {"registry": registry}
        self.queued = Counter("llmhub_alerts_queued", "Budget alerts queued for delivery", **kw)
        self.attempts = Counter(
            "llmhub_webhook_attempts",
            "Webhook delivery attempts by outcome",
            ["outcome"],
            **kw,
        )


class AlertDispatcher:
    def __init__(
        self,
        storage: Storage,
        settings: AlertSettings,
        clock: utc.Clock = utc.now,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.storage = storage
        self.settings = settings
        self.clock = clock
        self.metrics = AlertMetrics(registry)
        self._seen: dict[str, _Seen] = {}
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AlertDispatcher:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.settings.timeout_s)
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def start(self) -> None:
        await self.__aenter__()
        self._task = asyncio.ensure_future(self._loop())
        log.info("alert dispatcher started (every %.1fs)", self.settings.interval_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.__aexit__()

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # storage down, say: try again next tick
                log.exception("alert evaluation failed; retrying next tick")
            await asyncio.sleep(self.settings.interval_s)

    async def run_once(self) -> None:
        """One tick: queue newly crossed thresholds, then attempt every due delivery."""
        await self.evaluate()
        await self.deliver_due()

    async def evaluate(self) -> int:
        """Queue the thresholds crossed this month that were never queued; return how many."""
        now = self.clock()
        start, end = month_bounds(now)
        month = month_key(start)
        alerts = self.storage.alerts
        hooks = await asyncio.to_thread(alerts.webhooks)
        if not hooks:
            return 0
        ids = [h.client_id for h in hooks]
        spend, clients = await asyncio.gather(
            asyncio.to_thread(alerts.month_spend, ids, utc.naive(start), utc.naive(end)),
            asyncio.to_thread(self.storage.tenants.list_clients),
        )
        by_id: dict[str, Client] = {c.client_id: c for c in clients}
        changed: dict[str, _Seen] = {}
        for cid in ids:
            client = by_id.get(cid)
            if client is None:
                continue
            seen = (
                month,
                spend.get(cid, Decimal(0)),
                client.monthly_budget_usd,
                client.alert_thresholds,
            )
            if self._seen.get(cid) != seen:
                changed[cid] = seen
        if not changed:
            return 0
        queued = await asyncio.to_thread(alerts.queued_thresholds, month)
        count = 0
        for cid, seen in changed.items():
            client = by_id[cid]
            # The same total the current-month endpoint shows (rollup + ragged edges).
            total = await asyncio.to_thread(
                self.storage.usage.total, cid, utc.naive(start), utc.naive(end)
            )
            due = due_alerts(
                cid,
                total.cost_usd,
                client.monthly_budget_usd,
                client.alert_thresholds,
                start,
                queued.get(cid, set()),
            )
            url = next(h.url for h in hooks if h.client_id == cid)
            for alert in due:
                body = orjson.dumps(payload(alert, now))
                delivery = Delivery(
                    cid,
                    alert.month,
                    alert.threshold_percent,
                    alert.delivery_id,
                    0,
                    "pending",
                    0,
                    body,
                    url,
                    now,
                    now,
                )
                await asyncio.to_thread(alerts.save, delivery)
                log.info(
                    "budget alert queued: %s crossed %s%% in %s (spend %s)",
                    cid,
                    alert.threshold_percent,
                    alert.month,
                    alert.spend_usd,
                )
                self.metrics.queued.inc()
                count += 1
            self._seen[cid] = seen
        return count

    async def deliver_due(self) -> None:
        """Attempt every pending delivery whose time has come (a few at a time)."""
        now = self.clock()
        due = await asyncio.to_thread(self.storage.alerts.due, now)
        if not due:
            return
        hooks = {h.client_id: h for h in await asyncio.to_thread(self.storage.alerts.webhooks)}
        limit = asyncio.Semaphore(8)

        async def one(d: Delivery) -> None:
            async with limit:
                await self._attempt(d, hooks.get(d.client_id))

        await asyncio.gather(*(one(d) for d in due))

    async def _attempt(self, d: Delivery, hook: Webhook | None) -> None:
        now = self.clock()
        attempts = d.attempts + 1
        code, error = 0, ""
        if hook is None:
            error = "webhook removed"
        else:
            code, error = await self._post(hook, d, int(now.timestamp()))
        ok = 200 <= code < 300
        if ok:
            status = "delivered"
        elif hook is None or attempts >= self.settings.max_attempts:
            status = "failed"
        else:
            status = "pending"
        s = self.settings
        updated = dataclasses.replace(
            d,
            revision=d.revision + 1,
            status=status,
            attempts=attempts,
            url=hook.url if hook else d.url,
            last_attempt_at=now,
            delivered_at=now if ok else None,
            next_attempt_at=now + backoff(attempts, s.retry_initial_s, s.retry_max_s),
            last_status_code=code,
            last_error=error[:500],
        )
        await asyncio.to_thread(self.storage.alerts.save, updated)
        outcome = {"delivered": "delivered", "failed": "failed"}.get(status, "retry")
        self.metrics.attempts.labels(outcome).inc()
        if not ok:
            log.warning(
                "webhook %s for %s (%s%%, %s) attempt %s: %s",
                d.delivery_id,
                d.client_id,
                d.threshold_percent,
                d.month,
                attempts,
                error or f"HTTP {code}",
            )

    async def _post(self, hook: Webhook, d: Delivery, timestamp: int) -> tuple[int, str]:
        assert self._session is not None, "use the dispatcher inside 'async with' or start()"
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(hook.secret, timestamp, d.payload),
            DELIVERY_HEADER: str(d.delivery_id),
            EVENT_HEADER: EVENT_TYPE,
            "User-Agent": "llmhub-webhooks/1",
        }
        try:
            async with self._session.post(hook.url, data=d.payload, headers=headers) as resp:
                text = "" if resp.status < 300 else (await resp.text())[:200]
                return resp.status, text
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return 0, f"{type(exc).__name__}: {exc}"
