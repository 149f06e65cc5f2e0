"""The calendar walk of the usage summary: UTC hour/day/month buckets over a period."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from core.calendar import GroupBy


def bucket_starts(start: datetime, end: datetime, group_by: str) -> list[datetime]:
    return GroupBy(group_by).starts(start, end)


def next_bucket(current: datetime, group_by: str) -> datetime:
    return GroupBy(group_by).step(current)


def count_buckets(start: datetime, end: datetime, group_by: str) -> int:
    return GroupBy(group_by).bucket_count(start, end)


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


# --- boundaries ------------------------------------------------------------------------------

US = timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("group_by", "boundary", "previous"),
    [
        (GroupBy.HOUR, t(2026, 3, 1, 12), t(2026, 3, 1, 11)),
        (GroupBy.HOUR, t(2027, 1, 1), t(2026, 12, 31, 23)),
        (GroupBy.DAY, t(2026, 3, 1), t(2026, 2, 28)),
        (GroupBy.DAY, t(2028, 3, 1), t(2028, 2, 29)),
        (GroupBy.DAY, t(2027, 1, 1), t(2026, 12, 31)),
        (GroupBy.MONTH, t(2026, 3, 1), t(2026, 2, 1)),
        (GroupBy.MONTH, t(2027, 1, 1), t(2026, 12, 1)),
    ],
)
def test_floor_at_and_just_before_a_boundary(
    group_by: GroupBy, boundary: datetime, previous: datetime
) -> None:
    assert group_by.floor(boundary) == boundary
    assert group_by.floor(boundary + US) == boundary
    assert group_by.floor(boundary - US) == previous
    assert group_by.step(previous) == boundary


@pytest.mark.parametrize(
    ("group_by", "current", "expected"),
    [
        (GroupBy.HOUR, t(2026, 12, 31, 23), t(2027, 1, 1)),
        (GroupBy.DAY, t(2026, 12, 31), t(2027, 1, 1)),
        (GroupBy.MONTH, t(2026, 12, 1), t(2027, 1, 1)),
        (GroupBy.MONTH, t(2027, 1, 1), t(2027, 2, 1)),
        (GroupBy.HOUR, t(2026, 2, 28, 23), t(2026, 3, 1)),
        (GroupBy.HOUR, t(2028, 2, 28, 23), t(2028, 2, 29)),
        (GroupBy.DAY, t(2026, 2, 28), t(2026, 3, 1)),
        (GroupBy.DAY, t(2028, 2, 28), t(2028, 2, 29)),
        (GroupBy.DAY, t(2100, 2, 28), t(2100, 3, 1)),  # a century: not a leap year
        (GroupBy.DAY, t(2000, 2, 28), t(2000, 2, 29)),  # divisible by 400: leap
        (GroupBy.MONTH, t(2028, 1, 1), t(2028, 2, 1)),
        (GroupBy.MONTH, t(2028, 2, 1), t(2028, 3, 1)),
        (GroupBy.MONTH, t(2026, 2, 1), t(2026, 3, 1)),
        (GroupBy.MONTH, t(2100, 2, 1), t(2100, 3, 1)),
    ],
)
def test_step_across_years_and_februaries(
    group_by: GroupBy, current: datetime, expected: datetime
) -> None:
    assert group_by.step(current) == expected


def test_month_steps_visit_every_first_of_month() -> None:
    current = t(2027, 11, 1)
    seen = []
    for _ in range(16):
        current = GroupBy.MONTH.step(current)
        seen.append((current.year, current.month, current.day))
    assert seen == [(2027, 12, 1)] + [(2028, m, 1) for m in range(1, 13)] + [
        (2029, 1, 1),
        (2029, 2, 1),
        (2029, 3, 1),
    ]


@pytest.mark.parametrize(
    ("group_by", "start", "boundary", "before"),
    [
        (
            GroupBy.HOUR,
            t(2026, 12, 31, 21, 15),
            t(2027, 1, 1),
            [t(2026, 12, 31, h) for h in (21, 22, 23)],
        ),
        (GroupBy.DAY, t(2028, 2, 27, 8), t(2028, 3, 1), [t(2028, 2, d) for d in (27, 28, 29)]),
        (GroupBy.DAY, t(2026, 2, 27, 8), t(2026, 3, 1), [t(2026, 2, d) for d in (27, 28)]),
        (GroupBy.MONTH, t(2026, 11, 30, 23), t(2027, 1, 1), [t(2026, 11, 1), t(2026, 12, 1)]),
        (GroupBy.MONTH, t(2028, 1, 31), t(2028, 3, 1), [t(2028, 1, 1), t(2028, 2, 1)]),
    ],
)
def test_starts_is_half_open_at_the_end(
    group_by: GroupBy, start: datetime, boundary: datetime, before: list[datetime]
) -> None:
    # An end on a boundary excludes the bucket starting there; a microsecond later includes it.
    assert group_by.starts(start, boundary) == before
    assert group_by.starts(start, boundary + US) == [*before, boundary]
    assert group_by.starts(start, boundary - US) == before


@pytest.mark.parametrize("group_by", list(GroupBy))
def test_starts_from_a_boundary_and_a_microsecond_before_it(group_by: GroupBy) -> None:
    boundary = t(2027, 1, 1)
    assert group_by.starts(boundary, boundary + US) == [boundary]
    previous = group_by.floor(boundary - US)
    assert group_by.starts(boundary - US, boundary + US) == [previous, boundary]
    assert group_by.starts(boundary - US, boundary) == [previous]


def test_an_empty_period_has_no_buckets() -> None:
    assert GroupBy.HOUR.starts(t(2026, 3, 1, 10, 30), t(2026, 3, 1, 10, 30)) == []


def test_sql_floor_names_the_clickhouse_functions() -> None:
    assert GroupBy.HOUR.sql_floor == "toStartOfHour"
    assert GroupBy.DAY.sql_floor == "toStartOfDay"
    assert GroupBy.MONTH.sql_floor == "toStartOfMonth"
    assert [GroupBy(v) for v in ("hour", "day", "month")] == list(GroupBy)
    with pytest.raises(ValueError):
        GroupBy("week")


# --- aware UTC and naive inputs --------------------------------------------------------------


@pytest.mark.parametrize("group_by", list(GroupBy))
def test_naive_inputs_give_the_same_buckets_naive(group_by: GroupBy) -> None:
    start, end = t(2026, 12, 30, 22, 59, 59), t(2027, 3, 1, 0, 0, 0)
    aware = group_by.starts(start, end + US)
    naive = group_by.starts(start.replace(tzinfo=None), end.replace(tzinfo=None) + US)
    assert all(s.tzinfo is UTC for s in aware)
    assert all(s.tzinfo is None for s in naive)
    assert naive == [s.replace(tzinfo=None) for s in aware]
    assert group_by.bucket_count(start, end) == group_by.bucket_count(
        start.replace(tzinfo=None), end.replace(tzinfo=None)
    )
    assert group_by.floor(end - US).tzinfo is UTC
    assert group_by.step(aware[0]).tzinfo is UTC


def test_mixing_aware_and_naive_is_rejected() -> None:
    with pytest.raises(TypeError):
        GroupBy.DAY.starts(t(2026, 3, 1), datetime(2026, 3, 5))


# --- bucket_count ----------------------------------------------------------------------------


def test_bucket_count_is_an_upper_bound_exact_for_months() -> None:
    rng = random.Random(20260301)
    base = t(2023, 12, 1)
    spans = {GroupBy.HOUR: 12 * 86400, GroupBy.DAY: 200 * 86400, GroupBy.MONTH: 1500 * 86400}
    for _ in range(2000):
        start = base + timedelta(microseconds=rng.randrange(0, 6 * 365 * 86400 * 10**6))
        for group_by, span in spans.items():
            end = start + timedelta(microseconds=rng.randrange(1, span * 10**6))
            walked = len(group_by.starts(start, end))
            counted = group_by.bucket_count(start, end)
            assert walked <= counted, (start, end, group_by)
            if group_by is GroupBy.MONTH and GroupBy.MONTH.floor(end) != end:
                assert counted == walked, (start, end)


@pytest.mark.parametrize("group_by", list(GroupBy))
def test_bucket_count_bounds_periods_ending_on_boundaries(group_by: GroupBy) -> None:
    start = t(2026, 11, 30, 22, 30)
    end = group_by.step(group_by.floor(start))
    for _ in range(40):
        for probe in (end - US, end, end + US):
            assert len(group_by.starts(start, probe)) <= group_by.bucket_count(start, probe)
        end = group_by.step(end)


def test_month_bucket_count_is_exact_when_the_end_is_a_month_start() -> None:
    start, end = t(2026, 1, 15), t(2026, 2, 1)
    assert GroupBy.MONTH.bucket_count(start, end) == len(GroupBy.MONTH.starts(start, end)) == 1


@pytest.mark.parametrize("group_by", [GroupBy.HOUR, GroupBy.DAY])
def test_bucket_count_is_at_most_one_over(group_by: GroupBy) -> None:
    start = t(2026, 1, 1)
    end = start + (timedelta(hours=9_999) if group_by is GroupBy.HOUR else timedelta(days=9_999))
    assert len(group_by.starts(start, end)) == 9_999
    assert group_by.bucket_count(start, end) <= 9_999 + 1
