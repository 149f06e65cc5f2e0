"""Authentication that hostile input cannot turn into errors, lookups or starvation.

- A malformed credential (any bytes, any length) is refused on the event loop: no thread,
  no storage. ``Authorization`` schemes are compared case-insensitively (RFC 9110).
- Failed authentications are counted per source address, and per key id for keys that exist
  (someone guessing a real key's secret). Past the allowance (``LLMHUB_API_AUTH_FAILURE_*``)
  failures answer 429 with ``Retry-After``, and a blocked address gets no more storage
  lookups for keys this replica has not seen valid: it is refused before any work.
- A key whose id authenticated here recently is *known*: it is never refused for its
  address's failures (a legitimate client behind the same address as an attacker keeps
  working), and its row is cached by the store, so checking it costs no query.
- Lookups of keys not known yet go through a small gate (``LLMHUB_API_AUTH_LOOKUP_*``):
  at most a few at once hold a worker thread and a storage client, a bounded number wait,
  and beyond that the answer is 429 at once. Wrong keys from many addresses therefore
  cannot exhaust the storage pool or the thread pool that legitimate requests need.
- A correct bearer token is never refused for earlier failures: checking it costs nothing.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import NoReturn, TypeVar

from pydantic import SecretStr

from core.errors import Forbidden, TooManyRequests, Unauthorized
from core.ratelimit import FailureLimiter, Ticker
from core.settings import ApiSettings
from core.tenancy import key_id_of
from storage import TenantRepository

T = TypeVar("T")

# How long a key id stays known after its last successful use, and how many are kept.
KNOWN_KEY_TTL_S = 3600.0
MAX_KNOWN_KEYS = 100_000
_UNKNOWN_ADDRESS = "unknown"
_BAD_KEY = "invalid or revoked API key"


class _Failed:
    """The thread's answer when the key did not authenticate."""


_FAILED = _Failed()


class AuthGuard:
    def __init__(
        self,
        tenants: TenantRepository,
        settings: ApiSettings,
        clock: Ticker = time.monotonic,
    ) -> None:
        self.tenants = tenants
        self.clock = clock
        burst, per_minute = settings.auth_failure_burst, settings.auth_failures_per_minute
        self.addresses = FailureLimiter(burst, per_minute, clock=clock)
        self.key_ids = FailureLimiter(burst, per_minute, clock=clock)
        self._known: OrderedDict[str, float] = OrderedDict()  # key id -> known until
        self._gate = asyncio.Semaphore(settings.auth_lookup_concurrency)
        self._queue = settings.auth_lookup_queue
        self._waiting = 0

    # -- API keys ------------------------------------------------------------------------
    async def with_api_key(
        self, api_key: str, address: str | None, answer: Callable[[str], T]
    ) -> T:
        """``answer(client_id)`` in a worker thread once ``api_key`` authenticated.

        For a known key the lookup (a cached row) and the answer share one thread hop.
        Raises Unauthorized, or TooManyRequests when the address or key id failed too often.
        """
        addr = address or _UNKNOWN_ADDRESS
        key_id = key_id_of(api_key)
        if key_id is None:
            self._refuse(addr, None, _BAD_KEY)

        def run() -> T | _Failed:
            client_id = self.tenants.authenticate(api_key)
            return _FAILED if client_id is None else answer(client_id)

        if not self._is_known(key_id):
            wait = self.addresses.retry_after(addr)
            if wait:
                raise TooManyRequests("too many failed authentications", wait)
            # Only the lookup is gated, not the answer: once the key is found valid, its
            # queries run like any known key's (the store caches its row meanwhile).
            if await self._gated(lambda: self.tenants.authenticate(api_key)) is None:
                self._refuse(addr, key_id if self._recent(key_id) else None, _BAD_KEY)
            self._remember(key_id)
        result = await asyncio.to_thread(run)
        if isinstance(result, _Failed):
            # Failures count per key id only for ids that are real (seen valid recently).
            self._refuse(addr, key_id if self._recent(key_id) else None, _BAD_KEY)
        self._remember(key_id)
        return result

    async def _gated(self, run: Callable[[], T]) -> T:
        if self._gate.locked() and self._waiting >= self._queue:
            raise TooManyRequests("too many authentications in progress", 1)
        self._waiting += 1
        try:
            await self._gate.acquire()
        finally:
            self._waiting -= 1
        try:
            return await asyncio.to_thread(run)
        finally:
            self._gate.release()

    def _recent(self, key_id: str | None) -> bool:
        until = self._known.get(key_id) if key_id is not None else None
        return until is not None and until >= self.clock()

    def _is_known(self, key_id: str | None) -> bool:
        # A key id whose secret keeps failing loses the benefit until it cools down.
        return key_id is not None and self._recent(key_id) and self.key_ids.retry_after(key_id) == 0

    def _remember(self, key_id: str | None) -> None:
        if key_id is None:
            return
        self._known[key_id] = self.clock() + KNOWN_KEY_TTL_S
        self._known.move_to_end(key_id)
        while len(self._known) > MAX_KNOWN_KEYS:
            self._known.popitem(last=False)

    # -- bearer tokens -------------------------------------------------------------------
    def bearer(
        self,
        authorization: str | None,
        token: SecretStr | None,
        address: str | None,
        what: str,
        env: str,
    ) -> None:
        """Check ``Authorization: Bearer <token>`` in constant time; 403 when ``what`` is off."""
        if token is None:
            raise Forbidden(f"{what} disabled: set {env}")
        scheme, _, given = (authorization or "").strip().partition(" ")
        # Headers arrive as text that may hold undecodable bytes: compare bytes, never raise.
        expected = token.get_secret_value().encode("utf-8", "replace")
        matches = hmac.compare_digest(given.strip().encode("utf-8", "replace"), expected)
        if not (scheme.lower() == "bearer" and matches):
            self._refuse(address or _UNKNOWN_ADDRESS, None, f"{what} token missing or wrong")

    # -- failures ------------------------------------------------------------------------
    def _refuse(self, address: str, key_id: str | None, message: str) -> NoReturn:
        """Count a failure; raise 429 if the address (or key id) was already over, else 401."""
        wait = self.addresses.retry_after(address)
        if key_id is not None:
            wait = max(wait, self.key_ids.retry_after(key_id))
            self.key_ids.fail(key_id)
        self.addresses.fail(address)
        if wait:
            raise TooManyRequests("too many failed authentications", wait)
        raise Unauthorized(message)
