"""The calendar walk of the usage summary: UTC hour/day/month buckets over a period."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from query_api.billing import bucket_starts, count_buckets, next_bucket


def t(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_hour_buckets_start_with_the_partial_first_hour() -> None:
    assert bucket_starts(t(2026, 3, 1, 10, 30), t(2026, 3, 1, 13), "hour") == [
        t(2026, 3, 1, 10),
        t(2026, 3, 1, 11),
        t(2026, 3, 1, 12),
    ]
    # The end is exclusive, but a second past it opens one more bucket.
    assert bucket_starts(t(2026, 3, 1, 10), t(2026, 3, 1, 12, 0, 1), "hour")[-1] == t(
        2026, 3, 1, 12
    )


def test_day_buckets_cross_a_month_end() -> None:
    assert bucket_starts(t(2026, 1, 30, 18, 45), t(2026, 2, 2), "day") == [
        t(2026, 1, 30),
        t(2026, 1, 31),
        t(2026, 2, 1),
    ]


def test_day_buckets_in_a_leap_february() -> None:
    assert bucket_starts(t(2028, 2, 28), t(2028, 3, 1), "day") == [t(2028, 2, 28), t(2028, 2, 29)]
    assert bucket_starts(t(2026, 2, 28), t(2026, 3, 1), "day") == [t(2026, 2, 28)]


def test_month_buckets_from_the_31st() -> None:
    assert bucket_starts(t(2026, 1, 31, 15), t(2026, 3, 1), "month") == [
        t(2026, 1, 1),
        t(2026, 2, 1),
    ]


def test_month_buckets_cross_the_year() -> None:
    assert bucket_starts(t(2026, 12, 15), t(2027, 2, 1, 0, 0, 1), "month") == [
        t(2026, 12, 1),
        t(2027, 1, 1),
        t(2027, 2, 1),
    ]


@pytest.mark.parametrize(
    ("current", "group_by", "expected"),
    [
        (t(2026, 1, 31, 23), "hour", t(2026, 2, 1, 0)),
        (t(2026, 12, 31), "day", t(2027, 1, 1)),
        (t(2028, 2, 28), "day", t(2028, 2, 29)),
        (t(2028, 2, 29), "day", t(2028, 3, 1)),
        (t(2026, 1, 1), "month", t(2026, 2, 1)),
        (t(2026, 1, 31), "month", t(2026, 2, 1)),
        (t(2026, 2, 1), "month", t(2026, 3, 1)),
        (t(2028, 2, 1), "month", t(2028, 3, 1)),
        (t(2026, 12, 1), "month", t(2027, 1, 1)),
        (t(2026, 12, 31), "month", t(2027, 1, 1)),
    ],
)
def test_next_bucket(current: datetime, group_by: str, expected: datetime) -> None:
    assert next_bucket(current, group_by) == expected


def test_buckets_tile_the_period() -> None:
    start, end = t(2026, 1, 15, 7, 20), t(2026, 4, 2, 3)
    for group_by in ("hour", "day", "month"):
        starts = bucket_starts(start, end, group_by)
        assert starts[0] <= start < next_bucket(starts[0], group_by)
        assert starts[-1] < end <= next_bucket(starts[-1], group_by)
        ends = [next_bucket(s, group_by) for s in starts]
        assert starts[1:] == ends[:-1], group_by  # no gap, no overlap


def test_an_aligned_start_is_the_first_bucket() -> None:
    assert bucket_starts(t(2026, 5, 1), t(2026, 5, 1, 0, 0, 1), "month") == [t(2026, 5, 1)]
    assert bucket_starts(t(2026, 5, 1), t(2026, 5, 1), "day") == []


def test_count_buckets_is_a_tight_upper_bound() -> None:
    # The guard against huge requests must never count fewer buckets than the walk makes.
    rng = random.Random(3)
    for _ in range(400):
        start = t(2024, 1, 1) + timedelta(seconds=rng.randrange(0, 3 * 365 * 86400))
        for group_by, span in (("hour", 10 * 86400), ("day", 400 * 86400), ("month", 2000 * 86400)):
            end = start + timedelta(seconds=rng.randrange(1, span))
            walked = len(bucket_starts(start, end, group_by))
            assert walked <= count_buckets(start, end, group_by) <= walked + 2, (
                start,
                end,
                group_by,
            )
