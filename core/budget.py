"""Budget policy: where a client's monthly spend stands against its budget. Pure functions.

Rules (each tested at its boundary):
- A threshold of T percent is *crossed* when spend >= budget x T / 100 (equality crosses).
  A threshold of 0 USD is crossed only by a positive spend: no alert for a month with none.
- Status is ``exceeded`` when spend >= budget (and the budget is positive, or spend is
  positive), ``warning`` when any threshold is crossed, else ``ok``. No budget: ``ok``.
- The month-end projection is linear in elapsed time, measured to the microsecond from the
  first instant of the UTC month, and never over less than :data:`MIN_ELAPSED` so a month's
  first minutes do not project absurd numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from core.calendar import month_bounds

Status = Literal["ok", "warning", "exceeded"]
MIN_ELAPSED = timedelta(hours=1)
_MICRO = timedelta(microseconds=1)


@dataclass(frozen=True)
class Alert:
    threshold_percent: int
    threshold_usd: Decimal
    level: Literal["warning", "exceeded"]


@dataclass(frozen=True)
class BudgetState:
    status: Status
    remaining_usd: Decimal | None
    percent_used: float | None  # None: a budget of 0 with spend on it (no finite percentage)
    alerts: tuple[Alert, ...]


def assess(spend: Decimal, budget: Decimal | None, thresholds: Iterable[int]) -> BudgetState:
    """The budget state of ``spend`` against ``budget`` and its alert ``thresholds``."""
    if budget is None:
        return BudgetState("ok", None, None, ())
    alerts = []
    for percent in sorted(set(thresholds)):
        limit = budget * percent / 100
        if spend >= limit and (spend > 0 or limit > 0):
            alerts.append(Alert(percent, limit, "exceeded" if percent >= 100 else "warning"))
    status: Status = "ok"
    if spend >= budget and (budget > 0 or spend > 0):
        status = "exceeded"
    elif alerts:
        status = "warning"
    if budget > 0:
        percent_used: float | None = float(round(spend * 100 / budget, 2))
    else:
        percent_used = 0.0 if spend == 0 else None
    return BudgetState(status, budget - spend, percent_used, tuple(alerts))


def project_month_end(spend: Decimal, now: datetime) -> Decimal:
    """Spend at the end of ``now``'s UTC month if it goes on at the rate seen so far."""
    start, end = month_bounds(now)
    month = (end - start) // _MICRO
    elapsed = min(max(now - start, MIN_ELAPSED) // _MICRO, month)
    return spend * Decimal(month) / Decimal(elapsed)
