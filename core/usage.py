"""The metrics every usage aggregate has, as one typed row that adds up.

Storage returns :class:`Metrics` for any grouping (bucket, provider, endpoint...); reports
derive failures, rates and averages from it. Because totals are sums of these rows, the
summary, the breakdowns and the current month always agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any, NamedTuple


class Metrics(NamedTuple):
    cost_usd: Decimal
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    reasoning_tokens: int
    calls: int
    successes: int
    latency_ms_sum: int
    unpriced_calls: int

    def plus(self, other: Metrics) -> Metrics:
        # Not __add__: on a tuple that would mean concatenation.
        return Metrics(
            self.cost_usd + other.cost_usd,
            *(a + b for a, b in zip(self[1:], other[1:], strict=True)),
        )

    @classmethod
    def of(cls, values: Iterable[Any]) -> Metrics:
        """From a storage row: cost as Decimal, the rest as int."""
        cost, *counts = values
        return cls(Decimal(cost), *(int(c) for c in counts))


ZERO = Metrics(Decimal(0), 0, 0, 0, 0, 0, 0, 0, 0)
METRIC_NAMES = Metrics._fields


def total(rows: Iterable[Metrics]) -> Metrics:
    result = ZERO
    for row in rows:
        result = result.plus(row)
    return result
