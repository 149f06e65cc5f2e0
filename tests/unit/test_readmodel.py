"""The in-memory read model against brute-force sums over the same rows (no engine)."""

from __future__ import annotations

import random
from datetime import datetime

import numpy as np
import pytest

from storage.clickhouse.readmodel import CALLS, ClientRollup, Combo, TooLarge

H = 3600
T0 = 1_790_000_000 // H * H
COMBOS: list[Combo] = [
    ("openai", "gpt-4o", "chat", True),
    ("openai", "gpt-4o", "chat", False),
    ("anthropic", "claude", "chat", True),
    ("groq", "llama", "embed", True),
]


def _rows(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = random.Random(seed)
    seen = set()
    combo, hours = [], []
    while len(combo) < n:
        c, h = rng.randrange(len(COMBOS)), T0 + H * rng.randrange(200)
        if (c, h) not in seen:
            seen.add((c, h))
            combo.append(c)
            hours.append(h)
    values = np.asarray([[rng.randrange(1, 10**6) for _ in range(n)] for _ in range(9)])
    values[CALLS] = [rng.randrange(1, 50) for _ in range(n)]
    return np.asarray(combo), np.asarray(hours), values.astype(np.int64)


def _model(seed: int = 1, n: int = 300) -> tuple[ClientRollup, tuple[np.ndarray, ...]]:
    combo, hours, values = _rows(seed, n)
    return ClientRollup.build(COMBOS, combo, hours, values, datetime(2026, 1, 1)), (
        combo,
        hours,
        values,
    )


def test_sums_between_edges_and_per_combo_equal_brute_force() -> None:
    model, (combo, hours, values) = _model()
    rng = random.Random(3)
    for _ in range(50):
        lo = T0 + H * rng.randrange(-5, 210)
        hi = lo + H * rng.randrange(0, 80)
        mid = lo + (hi - lo) // 2 // H * H
        got = model.between([lo, mid, hi])
        for i, (a, b) in enumerate(((lo, mid), (mid, hi))):
            mask = (hours >= a) & (hours < b)
            assert list(got[:, i]) == list(values[:, mask].sum(axis=1))
        per = model.per_combo(lo, hi)
        for c in range(len(COMBOS)):
            mask = (hours >= lo) & (hours < hi) & (combo == c)
            assert list(per[:, c]) == list(values[:, mask].sum(axis=1))


@pytest.mark.parametrize(
    ("provider", "success"), [(None, None), ("openai", None), (None, False), ("groq", True)]
)
def test_log_window_holds_exactly_the_page(provider: str | None, success: bool | None) -> None:
    model, (combo, hours, values) = _model()
    keep = [
        i
        for i in range(len(combo))
        if (provider is None or COMBOS[combo[i]][0] == provider)
        and (success is None or COMBOS[combo[i]][3] == success)
    ]
    # One entry per call, newest hour first: what a page of raw rows walks through.
    calls = sorted((int(hours[i]) for i in keep for _ in range(values[CALLS][i])), reverse=True)
    assert model.count(provider, None, success) == len(calls)
    for offset in (0, 1, 17, len(calls) // 2, len(calls) - 1, len(calls), len(calls) + 5):
        for limit in (1, 10, 1000):
            window = model.window(provider, None, success, limit, offset)
            page = calls[offset : offset + limit]
            if not page:
                assert window is None
                continue
            assert window is not None
            inside = [h for h in calls if window.lo <= h < window.hi]
            assert inside[window.offset : window.offset + limit] == page


def test_patch_equals_a_model_built_from_all_rows() -> None:
    model, (combo, hours, values) = _model(seed=5)
    lo, hi = T0 + 40 * H, T0 + 60 * H
    extra_hours = np.asarray([T0 + 41 * H, T0 + 41 * H, T0 + 59 * H])
    extra_values = np.ones((9, 3), dtype=np.int64) * 7
    keep = (hours < lo) | (hours > hi)
    new = [*COMBOS, ("newco", "m", "chat", True)]
    patched = model.patched(
        lo,
        hi,
        [COMBOS[0], COMBOS[1], new[4]],
        np.asarray([0, 1, 2]),
        extra_hours,
        extra_values,
        datetime(2026, 2, 1),
    )
    rebuilt = ClientRollup.build(
        new,
        np.concatenate([combo[keep], np.asarray([0, 1, 4])]),
        np.concatenate([hours[keep], extra_hours]),
        np.concatenate([values[:, keep], extra_values], axis=1),
        datetime(2026, 2, 1),
    )
    assert patched.combos == rebuilt.combos
    assert patched.newest == datetime(2026, 2, 1)
    edges = [T0 - H, T0 + 41 * H, T0 + 100 * H, T0 + 300 * H]
    assert (patched.between(edges) == rebuilt.between(edges)).all()
    assert (patched.per_combo(T0, T0 + 300 * H) == rebuilt.per_combo(T0, T0 + 300 * H)).all()


def test_sums_that_could_overflow_are_refused() -> None:
    values = np.full((9, 4), 2**62, dtype=np.int64)
    with pytest.raises(TooLarge):
        ClientRollup.build(COMBOS, np.arange(4), np.full(4, T0), values, None)
