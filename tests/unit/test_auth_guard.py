"""Failed-authentication limits at their boundaries, with an injected clock, and the lookup gate.

The tenant store is a small class satisfying ``storage.TenantRepository``'s ``authenticate``:
what is tested here is the guard's policy, not storage (the integration tests use the engine).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from core.errors import Forbidden, TooManyRequests, Unauthorized
from core.ratelimit import FailureLimiter
from core.settings import ApiSettings
from query_api.auth import KNOWN_KEY_TTL_S, AuthGuard

GOOD = "llmh_00000000000000aa_" + "A" * 43
GOOD_OTHER_SECRET = "llmh_00000000000000aa_" + "B" * 43
UNKNOWN = "llmh_00000000000000bb_" + "A" * 43


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- the limiter -----------------------------------------------------------------------------
def test_burst_failures_then_blocked_until_one_token_refills() -> None:
    clock = Clock()
    limiter = FailureLimiter(burst=3, per_minute=6, clock=clock)  # one token per 10 s
    assert limiter.retry_after("a") == 0
    assert [limiter.fail("a") for _ in range(3)] == [0, 0, 10]
    assert limiter.retry_after("b") == 0  # keys are independent
    clock.now += 9.999
    assert limiter.retry_after("a") == 1
    clock.now += 0.001
    assert limiter.retry_after("a") == 0
    assert limiter.fail("a") == 10  # took the refilled token: blocked again for 10 s


def test_refill_never_exceeds_the_burst_and_full_buckets_are_forgotten() -> None:
    clock = Clock()
    limiter = FailureLimiter(burst=2, per_minute=60, clock=clock)
    limiter.fail("a")
    clock.now += 3600
    limiter.fail("b")  # "a" is full again: forgotten
    assert len(limiter) == 1
    assert limiter.fail("a") == 0 and limiter.fail("a") == 1


def test_tracked_keys_are_bounded() -> None:
    limiter = FailureLimiter(burst=1, per_minute=1, max_keys=100, clock=Clock())
    for n in range(1000):
        limiter.fail(f"k{n}")
    assert len(limiter) == 100
    assert limiter.retry_after("k999") > 0 and limiter.retry_after("k0") == 0


@pytest.mark.parametrize(("burst", "per_minute"), [(0, 1), (1, 0), (1, -1)])
def test_limits_must_be_positive(burst: int, per_minute: float) -> None:
    with pytest.raises(ValueError):
        FailureLimiter(burst, per_minute)


# -- the guard -------------------------------------------------------------------------------
class Tenants:
    """Knows one key (GOOD); can hold lookups until released."""

    def __init__(self) -> None:
        self.lookups = 0
        self.release = threading.Event()
        self.release.set()
        self.inside = 0
        self.most_inside = 0
        self._lock = threading.Lock()

    def authenticate(self, api_key: str) -> str | None:
        with self._lock:
            self.lookups += 1
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        try:
            self.release.wait(10)
            return "acme" if api_key == GOOD else None
        finally:
            with self._lock:
                self.inside -= 1


def guard(tenants: Tenants, clock: Clock, **settings: Any) -> AuthGuard:
    config = {"auth_failure_burst": 3, "auth_failures_per_minute": 6, **settings}
    return AuthGuard(tenants, ApiSettings(**config), clock=clock)  # type: ignore[arg-type]


async def attempt(g: AuthGuard, key: str, address: str = "10.0.0.1") -> str:
    return await g.with_api_key(key, address, lambda client_id: client_id)


async def test_malformed_keys_never_reach_storage() -> None:
    tenants, clock = Tenants(), Clock()
    g = guard(tenants, clock)
    for key in ["", "x", "llmh_", GOOD + "\n", "llmh_00000000000000aa_" + "A" * 44, "\udcff"]:
        with pytest.raises((Unauthorized, TooManyRequests)):
            await attempt(g, key)
    assert tenants.lookups == 0


async def test_an_address_is_blocked_after_its_burst_and_gets_no_lookups() -> None:
    tenants, clock = Tenants(), Clock()
    g = guard(tenants, clock)
    for _ in range(3):
        with pytest.raises(Unauthorized):
            await attempt(g, UNKNOWN)
    with pytest.raises(TooManyRequests) as caught:
        await attempt(g, UNKNOWN)
    assert caught.value.retry_after == 10
    assert tenants.lookups == 3  # the refused attempt cost nothing
    # Another address is not affected.
    with pytest.raises(Unauthorized):
        await attempt(g, UNKNOWN, "10.0.0.2")
    # Ten seconds later one more attempt is allowed.
    clock.now += 10
    with pytest.raises(Unauthorized):
        await attempt(g, UNKNOWN)
    with pytest.raises(TooManyRequests):
        await attempt(g, UNKNOWN)


async def test_a_known_key_passes_from_a_blocked_address_a_new_one_waits() -> None:
    tenants, clock = Tenants(), Clock()
    g = guard(tenants, clock)
    assert await attempt(g, GOOD) == "acme"
    for _ in range(5):
        with pytest.raises((Unauthorized, TooManyRequests)):
            await attempt(g, UNKNOWN)
    assert await attempt(g, GOOD) == "acme"
    # Known for KNOWN_KEY_TTL_S after its last success; then it is treated as new.
    clock.now += KNOWN_KEY_TTL_S + 1
    for _ in range(4):
        with pytest.raises((Unauthorized, TooManyRequests)):
            await attempt(g, UNKNOWN)
    with pytest.raises(TooManyRequests):
        await attempt(g, GOOD)


async def test_guessing_a_real_keys_secret_is_limited_per_key_id() -> None:
    tenants, clock = Tenants(), Clock()
    g = guard(tenants, clock)
    assert await attempt(g, GOOD) == "acme"
    # Wrong secrets for the known id, each from a different address.
    for n in range(3):
        with pytest.raises(Unauthorized):
            await attempt(g, GOOD_OTHER_SECRET, f"10.1.0.{n}")
    with pytest.raises(TooManyRequests):
        await attempt(g, GOOD_OTHER_SECRET, "10.1.0.9")
    # The owner, from an address without failures, still gets in.
    assert await attempt(g, GOOD, "10.2.0.1") == "acme"


async def test_lookups_of_unknown_keys_are_gated() -> None:
    tenants, clock = Tenants(), Clock()
    g = guard(
        tenants,
        clock,
        auth_failure_burst=1000,
        auth_lookup_concurrency=2,
        auth_lookup_queue=3,
    )
    assert await attempt(g, GOOD) == "acme"
    tenants.release.clear()
    tenants.most_inside = 0
    floods = [asyncio.create_task(attempt(g, UNKNOWN, f"10.3.0.{n}")) for n in range(10)]
    await asyncio.sleep(0.2)
    # Two lookups hold threads, three wait, five were refused at once.
    refused = [t for t in floods if t.done()]
    assert len(refused) == 5
    assert all(isinstance(t.exception(), TooManyRequests) for t in refused)
    assert tenants.inside == 2
    # A known key is not behind the gate.
    known = asyncio.create_task(attempt(g, GOOD))
    await asyncio.sleep(0.1)
    assert tenants.inside == 3
    tenants.release.set()
    assert await known == "acme"
    results = await asyncio.gather(*floods, return_exceptions=True)
    assert sum(isinstance(r, Unauthorized) for r in results) == 5
    assert tenants.most_inside == 3


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic s3cret", "Bearer s3cre", "Bearer \udcff\udcfe", "\x00"],
)
def test_wrong_or_malformed_bearer_is_401(header: str | None) -> None:
    g = guard(Tenants(), Clock())
    with pytest.raises(Unauthorized):
        g.bearer(header, _secret("s3cret"), "10.0.0.1", "admin API", "ENV")


@pytest.mark.parametrize("header", ["Bearer s3cret", "bearer s3cret", "BEARER  s3cret "])
def test_the_right_bearer_passes_even_when_blocked(header: str) -> None:
    g = guard(Tenants(), Clock())
    for _ in range(3):
        with pytest.raises(Unauthorized):
            g.bearer("Bearer nope", _secret("s3cret"), "10.0.0.1", "admin API", "ENV")
    with pytest.raises(TooManyRequests):
        g.bearer("Bearer nope", _secret("s3cret"), "10.0.0.1", "admin API", "ENV")
    g.bearer(header, _secret("s3cret"), "10.0.0.1", "admin API", "ENV")


def test_no_token_configured_is_403() -> None:
    with pytest.raises(Forbidden):
        guard(Tenants(), Clock()).bearer("Bearer x", None, None, "admin API", "ENV")


def _secret(value: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(value)
