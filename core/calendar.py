"""Calendar buckets of usage reports: one definition of hour, day and month.

:class:`GroupBy` carries everything a bucket size means: how a time is floored to its bucket
(in Python and as the storage engine's function), the next bucket start, and how many buckets
a period needs. All buckets are UTC and half-open: ``[start, next(start))``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum


class GroupBy(StrEnum):
    HOUR = "hour"
    DAY = "day"
    MONTH = "month"

    @property
    def sql_floor(self) -> str:
        """The ClickHouse function that floors a time to this bucket (same as :meth:`floor`)."""
        return _SQL_FLOOR[self]

    def floor(self, value: datetime) -> datetime:
        """Start of the UTC bucket holding ``value`` (aware values are converted to UTC first)."""
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        value = value.replace(minute=0, second=0, microsecond=0)
        if self is GroupBy.HOUR:
            return value
        value = value.replace(hour=0)
        return value if self is GroupBy.DAY else value.replace(day=1)

    def step(self, start: datetime) -> datetime:
        """Start of the bucket after the one starting at ``start``."""
        if self is GroupBy.HOUR:
            return start + timedelta(hours=1)
        if self is GroupBy.DAY:
            return start + timedelta(days=1)
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)

    def starts(self, start: datetime, end: datetime) -> list[datetime]:
        """Starts of every bucket that overlaps ``[start, end)``."""
        found: list[datetime] = []
        if start >= end:
            return found
        current = self.floor(start)
        while current < end:
            found.append(current)
            current = self.step(current)
        return found

    def bucket_count(self, start: datetime, end: datetime) -> int:
        """``len(starts(start, end))``, computed without building them (guards huge requests)."""
        if start >= end:
            return 0
        first = self.floor(start)
        if self is GroupBy.MONTH:
            end = end.astimezone(UTC) if end.tzinfo is not None else end
            months = (end.year - first.year) * 12 + end.month - first.month
            return months + (1 if self.floor(end) < end else 0)
        unit = timedelta(hours=1) if self is GroupBy.HOUR else timedelta(days=1)
        return -(-(end - first) // unit)


_SQL_FLOOR = {
    GroupBy.HOUR: "toStartOfHour",
    GroupBy.DAY: "toStartOfDay",
    GroupBy.MONTH: "toStartOfMonth",
}


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    """``[first instant of now's month, first instant of the next month)``."""
    start = GroupBy.MONTH.floor(now)
    return start, GroupBy.MONTH.step(start)
