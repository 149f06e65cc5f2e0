"""Budget policy (core.budget) at every boundary: exact Decimals and an injected ``now``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Literal

import pytest

from core.budget import MIN_ELAPSED, Alert, BudgetState, assess, project_month_end
from core.calendar import month_bounds

NANO = Decimal("0.000000001")
# budget x T / 100 is a whole number of nano-USD for every integer T, so "one nano below the
# threshold" is a spend that can really occur.
BUDGET = Decimal("250.000000100")
THRESHOLDS = (1, 50, 80, 99, 100, 150, 1000)


def utc(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    micro: int = 0,
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def limit(percent: int) -> Decimal:
    return BUDGET * percent / 100


def percents(state: BudgetState) -> list[int]:
    return [a.threshold_percent for a in state.alerts]


# --- assess: the budget itself ---------------------------------------------------------------


def test_spend_exactly_at_the_budget_is_exceeded() -> None:
    state = assess(BUDGET, BUDGET, [150])
    # No threshold is crossed: the status comes from the budget alone.
    assert state == BudgetState("exceeded", Decimal(0), 100.0, ())


def test_spend_at_the_budget_with_a_100_percent_threshold() -> None:
    state = assess(BUDGET, BUDGET, [50, 100])
    assert state.status == "exceeded"
    assert state.alerts == (
        Alert(50, Decimal("125.00000005"), "warning"),
        Alert(100, BUDGET, "exceeded"),
    )


def test_one_nano_below_the_budget_is_not_exceeded() -> None:
    spend = BUDGET - NANO
    assert assess(spend, BUDGET, [150]) == BudgetState("ok", NANO, 100.0, ())
    state = assess(spend, BUDGET, [50, 100])
    assert state.status == "warning"
    assert percents(state) == [50]


def test_remaining_is_negative_when_over() -> None:
    state = assess(BUDGET + NANO, BUDGET, [100])
    assert state.status == "exceeded"
    assert state.remaining_usd == Decimal("-0.000000001")
    state = assess(Decimal("1000.5"), Decimal("100"), [100])
    assert state.remaining_usd == Decimal("-900.5")
    assert state.percent_used == 1000.5


# --- assess: thresholds ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("percent", "level"),
    [
        (1, "warning"),
        (50, "warning"),
        (80, "warning"),
        (99, "warning"),
        (100, "exceeded"),
        (150, "exceeded"),
        (1000, "exceeded"),
    ],
)
def test_spend_exactly_at_a_threshold_crosses_it(
    percent: int, level: Literal["warning", "exceeded"]
) -> None:
    state = assess(limit(percent), BUDGET, THRESHOLDS)
    assert percents(state) == [p for p in THRESHOLDS if p <= percent]
    assert state.alerts[-1] == Alert(percent, limit(percent), level)
    # At a threshold of 100% or more the spend is at or over the budget.
    assert state.status == level


@pytest.mark.parametrize("percent", THRESHOLDS)
def test_one_nano_below_a_threshold_does_not_cross_it(percent: int) -> None:
    state = assess(limit(percent) - NANO, BUDGET, THRESHOLDS)
    assert percents(state) == [p for p in THRESHOLDS if p < percent]
    # Below 100% of the budget the status is never "exceeded".
    expected = "exceeded" if percent > 100 else ("warning" if percent > 1 else "ok")
    assert state.status == expected


def test_threshold_usd_values_are_exact() -> None:
    state = assess(limit(1000), BUDGET, THRESHOLDS)
    assert [a.threshold_usd for a in state.alerts] == [
        Decimal("2.500000001"),
        Decimal("125.00000005"),
        Decimal("200.00000008"),
        Decimal("247.500000099"),
        Decimal("250.0000001"),
        Decimal("375.00000015"),
        Decimal("2500.000001"),
    ]
    assert [a.level for a in state.alerts] == ["warning"] * 4 + ["exceeded"] * 3


def test_levels_either_side_of_100_percent() -> None:
    state = assess(Decimal("200"), Decimal("100"), [99, 100, 101, 200])
    assert [(a.threshold_percent, a.level) for a in state.alerts] == [
        (99, "warning"),
        (100, "exceeded"),
        (101, "exceeded"),
        (200, "exceeded"),
    ]


def test_thresholds_above_100_percent() -> None:
    budget = Decimal("100")
    assert percents(assess(Decimal("150"), budget, [150])) == [150]
    under = assess(Decimal("149.999999999"), budget, [50, 150])
    assert percents(under) == [50]
    # Over the budget, so exceeded, though the 150% alert is not raised yet.
    assert under.status == "exceeded"


def test_duplicate_and_unsorted_thresholds() -> None:
    state = assess(Decimal("100"), Decimal("100"), [100, 50, 80, 50, 100, 80])
    assert percents(state) == [50, 80, 100]
    assert assess(Decimal("60"), Decimal("100"), iter([80, 50, 50])).alerts == (
        Alert(50, Decimal("50"), "warning"),
    )


def test_a_zero_usd_threshold_needs_a_positive_spend() -> None:
    assert assess(Decimal(0), Decimal("100"), [0]) == BudgetState("ok", Decimal("100"), 0.0, ())
    state = assess(NANO, Decimal("100"), [0])
    assert state.alerts == (Alert(0, Decimal(0), "warning"),)
    assert state.status == "warning"


def test_no_thresholds() -> None:
    assert assess(Decimal("99"), Decimal("100"), []).status == "ok"
    assert assess(Decimal("100"), Decimal("100"), []).status == "exceeded"


# --- assess: zero and missing budgets --------------------------------------------------------


def test_a_zero_budget_with_zero_spend_is_ok() -> None:
    assert assess(Decimal(0), Decimal(0), [50, 100, 150]) == BudgetState("ok", Decimal(0), 0.0, ())


def test_a_zero_budget_with_any_spend_is_exceeded() -> None:
    state = assess(NANO, Decimal(0), [50, 100, 150])
    assert state.status == "exceeded"
    assert state.remaining_usd == -NANO
    assert state.percent_used is None  # no finite percentage of zero
    assert state.alerts == (
        Alert(50, Decimal(0), "warning"),
        Alert(100, Decimal(0), "exceeded"),
        Alert(150, Decimal(0), "exceeded"),
    )


@pytest.mark.parametrize("spend", [Decimal(0), NANO, Decimal("1000000000")])
def test_no_budget_is_always_ok(spend: Decimal) -> None:
    assert assess(spend, None, [1, 50, 100]) == BudgetState("ok", None, None, ())


# --- assess: percent_used --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spend", "budget", "expected"),
    [
        (Decimal(0), Decimal("100"), 0.0),
        (Decimal("12.3456"), Decimal("100"), 12.35),
        (Decimal("12.3449999"), Decimal("100"), 12.34),
        # Half-way ties go to the even digit (like money()): .345 down, .355 up.
        (Decimal("12.345"), Decimal("100"), 12.34),
        (Decimal("12.355"), Decimal("100"), 12.36),
        (Decimal("0.005"), Decimal("1"), 0.5),
        (Decimal("0.00005"), Decimal("1"), 0.0),
        (Decimal("0.00015"), Decimal("1"), 0.02),
        (Decimal("1"), Decimal("3"), 33.33),
        (Decimal("2"), Decimal("3"), 66.67),
        (Decimal("99.995"), Decimal("100"), 100.0),
        (Decimal("99.994999999"), Decimal("100"), 99.99),
        (Decimal("250"), Decimal("100"), 250.0),
    ],
)
def test_percent_used_has_two_places(spend: Decimal, budget: Decimal, expected: float) -> None:
    assert assess(spend, budget, [100]).percent_used == expected


def test_percent_used_rounds_up_to_100_before_the_budget_is_reached() -> None:
    # The rounded percentage may read 100.0 while the status is still only a warning.
    state = assess(Decimal("99.995"), Decimal("100"), [50])
    assert (state.status, state.percent_used) == ("warning", 100.0)


# --- month_bounds ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (utc(2026, 3, 15, 12), (utc(2026, 3, 1), utc(2026, 4, 1))),
        (utc(2026, 3, 1), (utc(2026, 3, 1), utc(2026, 4, 1))),
        (utc(2026, 2, 28, 23, 59, 59, 999999), (utc(2026, 2, 1), utc(2026, 3, 1))),
        (utc(2028, 2, 29, 23, 59, 59, 999999), (utc(2028, 2, 1), utc(2028, 3, 1))),
        (utc(2026, 12, 31, 23, 59, 59, 999999), (utc(2026, 12, 1), utc(2027, 1, 1))),
        (utc(2027, 1, 1), (utc(2027, 1, 1), utc(2027, 2, 1))),
        (utc(2026, 1, 31, 23), (utc(2026, 1, 1), utc(2026, 2, 1))),
        (utc(2026, 4, 30, 12), (utc(2026, 4, 1), utc(2026, 5, 1))),
    ],
)
def test_month_bounds(now: datetime, expected: tuple[datetime, datetime]) -> None:
    assert month_bounds(now) == expected
    assert all(bound.tzinfo is UTC for bound in month_bounds(now))


def test_month_bounds_of_a_naive_time_are_naive() -> None:
    assert month_bounds(datetime(2026, 12, 31, 23, 59, 59, 999999)) == (
        datetime(2026, 12, 1),
        datetime(2027, 1, 1),
    )


def test_month_bounds_of_a_non_utc_time_are_the_utc_month() -> None:
    now = datetime(2026, 2, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    assert month_bounds(now) == (utc(2026, 1, 1), utc(2026, 2, 1))


# --- project_month_end -----------------------------------------------------------------------
#
# Month lengths in microseconds: 28 days 2_419_200_000_000, 29 days 2_505_600_000_000,
# 30 days 2_592_000_000_000, 31 days 2_678_400_000_000; one hour is 3_600_000_000.
# Most cases spend exactly 1 USD per elapsed second (spend = elapsed seconds, to the
# microsecond), so the projection is the month's length in seconds. A projection from whole
# seconds, hours or days of elapsed time lands elsewhere whenever ``now`` is off those units.


@pytest.mark.parametrize(
    ("now", "spend", "expected"),
    [
        # Within the first hour the elapsed time counts as MIN_ELAPSED: 744 hours / 1 hour.
        pytest.param(utc(2026, 1, 1), Decimal(1), Decimal(744), id="first-instant"),
        pytest.param(utc(2026, 1, 1, 0, 30), Decimal(1), Decimal(744), id="half-hour"),
        pytest.param(
            utc(2026, 1, 1, 0, 59, 59, 999999), Decimal(1), Decimal(744), id="min-elapsed-1us"
        ),
        pytest.param(utc(2026, 1, 1, 1), Decimal(1), Decimal(744), id="at-min-elapsed"),
        pytest.param(utc(2026, 1, 1, 1), Decimal(3600), Decimal(2678400), id="at-min-elapsed-rate"),
        # 3_600_000_001 us elapsed: 3600.000001 x 2_678_400_000_000 / 3_600_000_001 = 2678400.
        pytest.param(
            utc(2026, 1, 1, 1, 0, 0, 1),
            Decimal("3600.000001"),
            Decimal(2678400),
            id="min-elapsed+1us",
        ),
        # 14 days 13 hours = 1_256_400 s of 31 days.
        pytest.param(
            utc(2026, 1, 15, 13), Decimal("1256.4"), Decimal("2678.4"), id="mid-month-hour"
        ),
        pytest.param(
            utc(2026, 1, 15, 13, 0, 0, 1),
            Decimal("1256400.000001"),
            Decimal(2678400),
            id="mid-month-hour+1us",
        ),
        pytest.param(
            utc(2026, 1, 15, 12, 59, 59, 999999),
            Decimal("1256399.999999"),
            Decimal(2678400),
            id="mid-month-hour-1us",
        ),
        # 15 days of 30: the spend doubles.
        pytest.param(utc(2026, 4, 16), Decimal("125.50"), Decimal("251.00"), id="mid-month-day"),
        pytest.param(
            utc(2026, 4, 15, 23, 59, 59, 999999),
            Decimal("1295999.999999"),
            Decimal(2592000),
            id="mid-month-day-1us",
        ),
        pytest.param(
            utc(2026, 4, 16, 0, 0, 0, 1),
            Decimal("1296000.000001"),
            Decimal(2592000),
            id="mid-month-day+1us",
        ),
        # 9 d 12 h 34 min 56.789012 s = 822_896.789012 s; 1 USD per 100_000 s.
        pytest.param(
            utc(2026, 4, 10, 12, 34, 56, 789012),
            Decimal("8.22896789012"),
            Decimal("25.92"),
            id="arbitrary-instant",
        ),
        # 7 days of 28 (x4), 7.25 days of 29 (x4), 150 hours of 744 (x4.96).
        pytest.param(utc(2026, 2, 8), Decimal(30), Decimal(120), id="feb-28-days"),
        pytest.param(utc(2028, 2, 8, 6), Decimal("72.50"), Decimal("290.00"), id="feb-29-days"),
        pytest.param(utc(2026, 12, 7, 6), Decimal(15), Decimal("74.4"), id="dec-31-days"),
        # The last microsecond of each month length.
        pytest.param(
            utc(2026, 1, 31, 23, 59, 59, 999999),
            Decimal("2678399.999999"),
            Decimal(2678400),
            id="last-us-31",
        ),
        pytest.param(
            utc(2026, 2, 28, 23, 59, 59, 999999),
            Decimal("2419199.999999"),
            Decimal(2419200),
            id="last-us-28",
        ),
        pytest.param(
            utc(2028, 2, 29, 23, 59, 59, 999999),
            Decimal("2505599.999999"),
            Decimal(2505600),
            id="last-us-29-leap",
        ),
        pytest.param(
            utc(2026, 4, 30, 23, 59, 59, 999999),
            Decimal("2591999.999999"),
            Decimal(2592000),
            id="last-us-30",
        ),
        pytest.param(
            utc(2026, 12, 31, 23, 59, 59, 999999),
            Decimal("2678399.999999"),
            Decimal(2678400),
            id="last-us-december",
        ),
        # The first instant of the next month starts over (the MIN_ELAPSED floor again).
        pytest.param(utc(2027, 1, 1), Decimal(1), Decimal(744), id="first-instant-january"),
        pytest.param(utc(2028, 2, 1), Decimal(1), Decimal(696), id="first-instant-leap-feb"),
        pytest.param(utc(2026, 1, 20), Decimal(0), Decimal(0), id="no-spend"),
    ],
)
def test_project_month_end(now: datetime, spend: Decimal, expected: Decimal) -> None:
    assert project_month_end(spend, now) == expected


@pytest.mark.parametrize(
    ("now", "month_us", "elapsed_us"),
    [
        (utc(2026, 2, 11, 7, 0, 0, 1), 2_419_200_000_000, 889_200_000_001),
        (utc(2028, 2, 11, 7, 0, 0, 1), 2_505_600_000_000, 889_200_000_001),
        (utc(2026, 6, 3, 0, 0, 0, 333333), 2_592_000_000_000, 172_800_333_333),
        (utc(2026, 7, 1, 1, 0, 0, 7), 2_678_400_000_000, 3_600_000_007),
    ],
)
def test_a_non_terminating_projection_is_exact_to_the_decimal_precision(
    now: datetime, month_us: int, elapsed_us: int
) -> None:
    spend = Decimal("1.000000001")
    exact = Fraction(spend) * month_us / elapsed_us
    projected = Fraction(project_month_end(spend, now))
    assert abs(projected - exact) <= exact * Fraction(1, 10**26)


def test_min_elapsed_is_one_hour() -> None:
    assert timedelta(hours=1) == MIN_ELAPSED


def test_a_naive_now_projects_like_an_aware_utc_now() -> None:
    aware = utc(2026, 4, 10, 12, 34, 56, 789012)
    spend = Decimal("8.22896789012")
    assert project_month_end(spend, aware.replace(tzinfo=None)) == project_month_end(spend, aware)


def test_a_non_utc_now_projects_over_the_utc_month() -> None:
    now = datetime(2026, 2, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    assert project_month_end(Decimal("2676600"), now) == Decimal(2678400)
