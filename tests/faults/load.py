"""Concurrent HTTP load over every billing endpoint, from this process, to loopback only."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

BASE = "/api/v1/llm/billing"


@dataclass
class LoadResult:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def http_5xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    @property
    def errors(self) -> int:
        """Anything but 200, or 404 for a call not stored yet (a failed connection is 0)."""
        return sum(n for status, n in self.statuses.items() if status not in (200, 404))

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> dict[str, str]:
        median = statistics.median(self.latencies_ms) if self.latencies_ms else 0.0
        return {
            "requests": str(self.requests),
            "p50_ms": f"{median:.1f}",
            "p99_ms": f"{self.percentile(0.99):.1f}",
            "errors": str(self.errors),
            "statuses": " ".join(f"{s}:{n}" for s, n in sorted(self.statuses.items())),
        }


def _request(rng: random.Random, log_ids: list[str]) -> tuple[str, dict[str, str]]:
    """One request of the mix, with a random period / page so no cache answers by repetition."""
    now = datetime.now(UTC)
    start = now - timedelta(hours=rng.uniform(1, 24 * 5))
    period = {"start_date": start.isoformat(), "end_date": now.isoformat()}
    kind = rng.randrange(7)
    if kind == 0:
        return f"{BASE}/usage/summary", {**period, "group_by": rng.choice(["hour", "day"])}
    if kind == 1:
        return f"{BASE}/usage/by-provider", period
    if kind == 2:
        return f"{BASE}/usage/by-endpoint", period
    if kind == 3:
        return f"{BASE}/usage/current-month", {}
    if kind == 4:
        return f"{BASE}/logs", {"limit": "50", "offset": str(rng.randrange(2000))}
    if kind == 5:
        return f"{BASE}/logs", {"provider": "openai", "success": "true"}
    return f"{BASE}/logs/{rng.choice(log_ids)}", {}


async def run_load(
    url: str,
    keys: dict[str, str],
    log_ids: dict[str, list[str]],
    concurrency: int,
    seconds: float,
    seed: int = 1,
) -> LoadResult:
    """``concurrency`` workers for ``seconds``; each picks a client and a request at random."""
    result = LoadResult()
    deadline = time.monotonic() + seconds
    clients = sorted(keys)

    async def worker(n: int, session: aiohttp.ClientSession) -> None:
        rng = random.Random(seed * 1000 + n)
        while time.monotonic() < deadline:
            client = rng.choice(clients)
            path, params = _request(rng, log_ids[client])
            started = time.perf_counter()
            try:
                async with session.get(
                    url + path, params=params, headers={"x-api-key": keys[client]}
                ) as r:
                    await r.read()
                    status = r.status
            except aiohttp.ClientError:
                status = 0
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            result.statuses[status] += 1
            result.requests += 1

    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        await asyncio.gather(*(worker(n, session) for n in range(concurrency)))
    return result


def ids_by_client(sent: list[dict[str, Any]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in sent:
        out.setdefault(e["client_id"], []).append(e["event_id"])
    return out
