"""A small client's raw events in memory against brute-force sums over the same events."""

from __future__ import annotations

import random

import numpy as np
import pytest

from storage.clickhouse.edges import EdgeEvents
from storage.clickhouse.readmodel import CALLS, TooLarge

T0 = 1_790_000_000_000  # epoch ms


def _events(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = random.Random(seed)
    times = np.asarray([T0 + rng.randrange(3 * 3_600_000) for _ in range(n)], dtype=np.int64)
    times[: n // 4] = times[n // 2]  # many calls on one millisecond
    combos = np.asarray([rng.randrange(5) for _ in range(n)], dtype=np.int64)
    values = np.asarray([[rng.randrange(10**12) for _ in range(n)] for _ in range(9)])
    values[CALLS] = 1
    return times, combos, values.astype(np.int64)


def _brute(
    times: np.ndarray, combos: np.ndarray, values: np.ndarray, lo: int, hi: int
) -> list[list[int]]:
    out = [[0] * 5 for _ in range(9)]
    for t, c, column in zip(times, combos, values.T, strict=True):
        if lo <= t < hi:
            for m in range(9):
                out[m][c] += int(column[m])
    return out


def test_sums_of_any_range_equal_brute_force() -> None:
    times, combos, values = _events(1, 400)
    edges = EdgeEvents.build(times, combos, values)
    assert list(edges.times) == sorted(times)
    rng = random.Random(2)
    bounds = [int(t) for t in times[:20]] + [int(t) + 1 for t in times[:20]]
    bounds += [T0 + rng.randrange(3 * 3_600_000) for _ in range(20)]
    for lo in bounds:
        for hi in bounds[::7]:
            want = _brute(times, combos, values, lo, hi)
            assert edges.per_combo(lo, hi, 5).tolist() == want
            assert edges.total(lo, hi).tolist() == [sum(row) for row in want]


def test_patched_replaces_the_events_of_its_range() -> None:
    times, combos, values = _events(3, 300)
    new_times, new_combos, new_values = _events(4, 50)
    lo, hi = T0 + 3_600_000, T0 + 7_200_000
    new_times = lo + new_times % 3_600_000
    patched = EdgeEvents.build(times, combos, values).patched(
        lo, hi, EdgeEvents.build(new_times, new_combos, new_values)
    )
    keep = (times < lo) | (times >= hi)
    all_times = np.concatenate([times[keep], new_times])
    all_combos = np.concatenate([combos[keep], new_combos])
    all_values = np.concatenate([values[:, keep], new_values], axis=1)
    assert patched.count == int(keep.sum()) + 50
    for a, b in ((T0, T0 + 4 * 3_600_000), (lo, hi), (lo - 5, lo + 5), (hi - 1, hi + 1)):
        assert patched.per_combo(a, b, 5).tolist() == _brute(
            all_times, all_combos, all_values, a, b
        )


def test_events_whose_sums_could_overflow_are_refused() -> None:
    times = np.asarray([T0, T0 + 1], dtype=np.int64)
    values = np.zeros((9, 2), dtype=np.int64)
    values[0] = 2**62
    with pytest.raises(TooLarge):
        EdgeEvents.build(times, np.zeros(2, dtype=np.int64), values)
