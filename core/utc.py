"""UTC everywhere: the one place that converts between aware and naive datetimes.

Storage columns are ``DateTime64(3, 'UTC')`` and bound parameters are read as UTC only when
they are naive, so values cross into storage as naive UTC and come back out as aware UTC.
A naive value from a user (a query parameter without an offset) is taken to be UTC already.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

# What "now" is, for code that takes an injected clock (budgets, default periods).
Clock = Callable[[], datetime]


def now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """Aware values converted to UTC; naive ones are taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def naive(value: datetime) -> datetime:
    """The same instant as naive UTC (how values are bound for storage)."""
    return aware(value).replace(tzinfo=None)
