"""Monthly statements and the admin's overview of every client's month.

A statement is one client's UTC calendar month: totals, every provider with its models, every
endpoint with its providers, and the budget with the thresholds its spend crossed. Months are
whole hours, so statements read the hourly rollup only. Budgets have no history here: a
statement judges a month's spend against the budget and thresholds the client has now (it says
so in ``budget_basis``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from core import budget, utc
from core.calendar import month_bounds
from core.errors import ValidationFailed, problem
from core.money import money
from core.tenancy import Client
from core.usage import ZERO, Metrics, total
from query_api.reports import metric_fields
from storage import Dimension, Storage

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
BUDGET_BASIS = "current budget and thresholds of the client"

# Flat statement rows for CSV: one kind of line per section.
CSV_FIELDS = (
    "client_id",
    "month",
    "section",
    "provider",
    "model",
    "endpoint",
    "threshold_percent",
    "amount_usd",
    "calls",
    "successes",
    "failures",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "reasoning_tokens",
    "unpriced_calls",
)


def parse_month(text: str, loc: list[str | int]) -> datetime:
    """``YYYY-MM`` as the first instant of that UTC month; 422 otherwise."""
    found = _MONTH.match(text)
    if found and 1 <= int(found.group(2)) <= 12 and int(found.group(1)) >= 1970:
        return datetime(int(found.group(1)), int(found.group(2)), 1, tzinfo=UTC)
    msg = "must be a month as YYYY-MM, e.g. 2026-10"
    raise ValidationFailed([problem(loc, msg, "value_error")])


def _nested(rows: dict[tuple[str, str], Metrics], outer: str, inner: str) -> list[dict[str, Any]]:
    groups: dict[str, list[tuple[str, Metrics]]] = {}
    for (a, b), m in sorted(rows.items()):
        groups.setdefault(a, []).append((b, m))
    items = []
    for name, inner_rows in groups.items():
        items.append(
            {
                outer: name,
                **metric_fields(total(m for _, m in inner_rows)),
                f"{inner}s": [{inner: b, **metric_fields(m)} for b, m in inner_rows],
            }
        )
    return items


class Statements:
    """Statements and overview, read through the storage contract."""

    def __init__(self, storage: Storage, clock: utc.Clock = utc.now) -> None:
        self.storage = storage
        self.clock = clock

    def _pairs(
        self, client_id: str, start: datetime, end: datetime, dims: tuple[Dimension, Dimension]
    ) -> dict[tuple[str, str], Metrics]:
        return self.storage.usage.by_pair(client_id, utc.naive(start), utc.naive(end), dims)

    def statement(self, client: Client, month: datetime) -> dict[str, Any]:
        start, end = month_bounds(month)
        now = self.clock()
        by_model = self._pairs(client.client_id, start, end, ("provider", "model"))
        by_endpoint = self._pairs(client.client_id, start, end, ("endpoint", "provider"))
        m = total(by_model.values())
        thresholds = list(client.alert_thresholds)  # as current-month reads them
        limit = client.monthly_budget_usd
        state = budget.assess(m.cost_usd, limit, thresholds)
        newest = self.storage.usage.newest_event(client.client_id)
        return {
            "client_id": client.client_id,
            "client_name": client.name,
            "month": start.strftime("%Y-%m"),
            "period": {"start": start.isoformat(), "end": end.isoformat()},
            "currency": "USD",
            "complete": now >= end,
            "totals": metric_fields(m),
            "budget": {
                "monthly_budget_usd": money(limit) if limit is not None else None,
                "alert_thresholds": thresholds,
                "status": state.status,
                "percent_used": state.percent_used,
                "remaining_usd": (
                    money(state.remaining_usd) if state.remaining_usd is not None else None
                ),
                "thresholds_crossed": [
                    {
                        "threshold_percent": a.threshold_percent,
                        "threshold_usd": money(a.threshold_usd),
                        "level": a.level,
                    }
                    for a in state.alerts
                ],
                "budget_basis": BUDGET_BASIS,
            },
            "providers": _nested(by_model, "provider", "model"),
            "endpoints": _nested(by_endpoint, "endpoint", "provider"),
            "as_of": utc.aware(newest).isoformat() if newest is not None else None,
            "generated_at": now.isoformat(),
        }

    def overview(self) -> dict[str, Any]:
        """Every client's month to date: spend, calls, budget status, projected month end."""
        now = self.clock()
        start, end = month_bounds(now)
        # The same month as current-month answers (a month is whole hours: rollup only).
        spend = self.storage.fleet.usage_by_client(utc.naive(start), utc.naive(end))
        clients: list[dict[str, Any]] = []
        for client in self.storage.tenants.list_clients():
            m = spend.get(client.client_id, ZERO)
            limit = client.monthly_budget_usd
            state = budget.assess(m.cost_usd, limit, client.alert_thresholds)
            clients.append(
                {
                    "client_id": client.client_id,
                    "name": client.name,
                    "spend_usd": money(m.cost_usd),
                    "calls": m.calls,
                    "unpriced_calls": m.unpriced_calls,
                    "projected_month_end_usd": money(budget.project_month_end(m.cost_usd, now)),
                    "monthly_budget_usd": money(limit) if limit is not None else None,
                    "percent_used": state.percent_used,
                    "status": state.status,
                    "thresholds_crossed": [a.threshold_percent for a in state.alerts],
                }
            )
        clients.sort(key=lambda c: (-Decimal(c["spend_usd"]), c["client_id"]))
        return {
            "month": start.strftime("%Y-%m"),
            "period": {"start": start.isoformat(), "end": end.isoformat()},
            "currency": "USD",
            "total_spend_usd": money(total(spend.values()).cost_usd),
            "clients": clients,
            "generated_at": now.isoformat(),
        }

    def all_statements(self, month: datetime) -> Iterator[dict[str, Any]]:
        for client in self.storage.tenants.list_clients():
            yield self.statement(client, month)


def _line(s: dict[str, Any], section: str, **values: Any) -> dict[str, Any]:
    row = dict.fromkeys(CSV_FIELDS, None)
    row.update(client_id=s["client_id"], month=s["month"], section=section)
    row.update(values)
    return row


def _metric_columns(m: dict[str, Any]) -> dict[str, Any]:
    keep = ("calls", "successes", "failures", "input_tokens", "output_tokens")
    extra = ("cached_input_tokens", "reasoning_tokens", "unpriced_calls")
    return {"amount_usd": m["cost_usd"], **{k: m[k] for k in (*keep, *extra)}}


def csv_rows(s: dict[str, Any]) -> list[dict[str, Any]]:
    """A statement as flat rows: total, provider, model, endpoint, endpoint_provider, budget
    (amount = the budget) and threshold_crossed (amount = the threshold in USD)."""
    rows = [_line(s, "total", **_metric_columns(s["totals"]))]
    for p in s["providers"]:
        rows.append(_line(s, "provider", provider=p["provider"], **_metric_columns(p)))
        for m in p["models"]:
            rows.append(
                _line(s, "model", provider=p["provider"], model=m["model"], **_metric_columns(m))
            )
    for e in s["endpoints"]:
        rows.append(_line(s, "endpoint", endpoint=e["endpoint"], **_metric_columns(e)))
        for p in e["providers"]:
            rows.append(
                _line(
                    s,
                    "endpoint_provider",
                    endpoint=e["endpoint"],
                    provider=p["provider"],
                    **_metric_columns(p),
                )
            )
    b = s["budget"]
    if b["monthly_budget_usd"] is not None:
        rows.append(_line(s, "budget", amount_usd=b["monthly_budget_usd"]))
    for t in b["thresholds_crossed"]:
        rows.append(
            _line(
                s,
                "threshold_crossed",
                threshold_percent=t["threshold_percent"],
                amount_usd=t["threshold_usd"],
            )
        )
    return rows
