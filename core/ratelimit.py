"""Counting failures per key (a source address, an API key id) with token buckets.

Each key has a bucket of ``burst`` tokens that refills at ``per_minute`` tokens a minute; a
failure takes one token, and a key whose bucket holds less than one token is *blocked* until
it refills. So ``burst`` failures in a row are answered normally, after that about
``per_minute`` a minute. Keys whose bucket is full again are forgotten, and at most
``max_keys`` are tracked (the least recently failed go first), so a flood of distinct keys
cannot grow memory without bound. Not thread-safe: one event loop owns an instance.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

# A monotonic clock in seconds (time.monotonic); tests inject their own.
Ticker = Callable[[], float]


class FailureLimiter:
    def __init__(
        self,
        burst: int,
        per_minute: float,
        max_keys: int = 100_000,
        clock: Ticker = time.monotonic,
    ) -> None:
        if burst < 1 or per_minute <= 0:
            raise ValueError("burst must be >= 1 and per_minute > 0")
        self.burst = burst
        self.rate = per_minute / 60.0  # tokens per second
        self.max_keys = max_keys
        self.clock = clock
        # key -> (tokens, time they were counted)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _tokens(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - at) * self.rate)

    def retry_after(self, key: str) -> int:
        """0 when ``key`` may fail once more; else whole seconds until it may."""
        if key not in self._buckets:
            return 0
        tokens = self._tokens(key, self.clock())
        if tokens >= 1:
            return 0
        return max(1, math.ceil((1 - tokens) / self.rate))

    def fail(self, key: str) -> int:
        """Count one failure of ``key``; return retry_after(key) as it stands afterwards."""
        now = self.clock()
        tokens = max(0.0, self._tokens(key, now) - 1)
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        self._forget_refilled(now)
        return self.retry_after(key)

    def _forget_refilled(self, now: float) -> None:
        # The oldest entries are the least recently failed: drop those that are full again.
        while self._buckets:
            key = next(iter(self._buckets))
            if self._tokens(key, now) < self.burst:
                break
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)
