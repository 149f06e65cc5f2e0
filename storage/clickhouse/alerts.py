"""Webhooks and their deliveries in ClickHouse (versioned rows, read with FINAL).

The rules (signing, which thresholds are due, the payload) are in :mod:`core.webhooks`; this
module stores them. Month-to-date spend for change detection is read from the hourly rollup
(a month starts on an hour, so whole hours cover it exactly).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from core import utc
from core.errors import NotFound
from core.webhooks import Delivery, Webhook
from storage.clickhouse.pool import ClickHousePool

_DELIVERY_COLUMNS = [f.name for f in dataclasses.fields(Delivery)]


class AlertStore:
    """Implements :class:`storage.AlertStore`."""

    def __init__(self, pool: ClickHousePool) -> None:
        self.pool = pool
        self.db = pool.database

    # -- webhooks ----------------------------------------------------------------------------
    def set_webhook(self, hook: Webhook) -> None:
        self._write_webhook(hook, enabled=True)

    def delete_webhook(self, client_id: str) -> None:
        if self.get_webhook(client_id) is None:
            raise NotFound(f"client {client_id} has no webhook")
        self._write_webhook(Webhook(client_id, "", ""), enabled=False)

    def _write_webhook(self, hook: Webhook, enabled: bool) -> None:
        self.pool.insert(
            "webhooks",
            [[hook.client_id], [hook.url], [hook.secret], [enabled], [utc.naive(utc.now())]],
            ["client_id", "url", "secret", "enabled", "updated_at"],
        )

    def get_webhook(self, client_id: str) -> Webhook | None:
        rows = self.pool.query_rows(
            f"SELECT client_id, url, secret FROM {self.db}.webhooks FINAL "
            "WHERE client_id = {cid:String} AND enabled",
            {"cid": client_id},
        )
        return Webhook(*rows[0]) if rows else None

    def webhooks(self) -> list[Webhook]:
        rows = self.pool.query_rows(
            f"SELECT client_id, url, secret FROM {self.db}.webhooks FINAL WHERE enabled "
            "ORDER BY client_id"
        )
        return [Webhook(*r) for r in rows]

    # -- spend -------------------------------------------------------------------------------
    def month_spend(
        self, client_ids: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, Decimal]:
        """Spend per client over whole hours ``[start, end)`` (naive UTC), from the rollup."""
        if not client_ids:
            return {}
        rows = self.pool.query_rows(
            f"SELECT client_id, sum(cost_usd) FROM {self.db}.usage_hourly "
            "WHERE client_id IN {ids:Array(String)} "
            "AND hour >= {start:DateTime} AND hour < {end:DateTime} GROUP BY client_id",
            {"ids": list(client_ids), "start": start, "end": end},
        )
        return {str(r[0]): Decimal(r[1]) for r in rows}

    # -- deliveries --------------------------------------------------------------------------
    def queued_thresholds(self, month: str) -> dict[str, set[int]]:
        """Per client, the thresholds already queued (whatever their status) in ``month``."""
        rows = self.pool.query_rows(
            f"SELECT client_id, groupArray(threshold_percent) FROM {self.db}.webhook_deliveries "
            "WHERE month = {month:String} GROUP BY client_id",
            {"month": month},
        )
        return {str(r[0]): {int(t) for t in r[1]} for r in rows}

    def save(self, delivery: Delivery) -> None:
        """Write one revision of a delivery (queued, or the outcome of an attempt)."""
        row = dataclasses.astuple(delivery)
        values: list[Any] = []
        for name, value in zip(_DELIVERY_COLUMNS, row, strict=True):
            if isinstance(value, datetime):
                value = utc.naive(value)
            elif name == "payload":
                value = value.decode()
            values.append([value])
        self.pool.insert("webhook_deliveries", values, _DELIVERY_COLUMNS)

    def due(self, now: datetime) -> list[Delivery]:
        """Pending deliveries whose next attempt is due at ``now``, oldest first."""
        return self._deliveries(
            "status = 'pending' AND next_attempt_at <= {now:DateTime64(3)}",
            {"now": utc.naive(now)},
        )

    def deliveries(self, client_id: str) -> list[Delivery]:
        return self._deliveries("client_id = {cid:String}", {"cid": client_id})

    def _deliveries(self, where: str, params: dict[str, Any]) -> list[Delivery]:
        rows = self.pool.query_rows(
            f"SELECT {', '.join(_DELIVERY_COLUMNS)} FROM {self.db}.webhook_deliveries FINAL "
            f"WHERE {where} ORDER BY created_at, client_id, threshold_percent",
            params,
        )
        found = []
        for r in rows:
            values = dict(zip(_DELIVERY_COLUMNS, r, strict=True))
            for name, value in values.items():
                if isinstance(value, datetime):
                    values[name] = utc.aware(value)
            values["payload"] = str(values["payload"]).encode()
            values["status"] = str(values["status"])
            found.append(Delivery(**values))
        return found
