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

# The times every part of llmhub can hold and compute with: the hourly rollup's ``DateTime``
# column ends at 2106-02-07, starts at 1970-01-01, and the calendar steps one bucket past a
# period's end. Query periods are refused outside these round limits (both inclusive).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2106, 1, 1, tzinfo=UTC)
SUPPORTED_RANGE = f"{EARLIEST:%Y-%m-%dT%H:%M:%SZ} to {LATEST:%Y-%m-%dT%H:%M:%SZ}"


def now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """Aware values converted to UTC; naive ones are taken to be UTC already.

    Raises OverflowError when the UTC instant falls outside years 1-9999 (an offset can push
    a valid local time there): check :func:`supported` first for input from outside.
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def supported(value: datetime) -> bool:
    """Whether ``value`` is within ``[EARLIEST, LATEST]``; never raises."""
    try:
        instant = aware(value)
    except OverflowError:
        return False
    return EARLIEST <= instant <= LATEST


def naive(value: datetime) -> datetime:
    """The same instant as naive UTC (how values are bound for storage)."""
    return aware(value).replace(tzinfo=None)
