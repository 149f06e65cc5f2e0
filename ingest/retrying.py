"""How the sink calls storage and the broker: in a thread, outages retried with backoff.

The retry half of the sink's failure model (README, "The sink's failure model"; the rest is
:mod:`ingest.sink`): an outage (:class:`StorageUnavailable`) is retried forever, the sink
reporting itself degraded meanwhile; data the engine refuses (:class:`StorageRefused`) is
raised at once; an error of no known kind is retried a few times and then taken as a refusal,
so nothing is retried forever that will never succeed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from ingest.stats import SinkStats
from storage import StorageError, StorageRefused, StorageUnavailable

T = TypeVar("T")

log = logging.getLogger("llmhub.sink")

# Reasons given by the sink itself (the decoder and the store give the others).
STORAGE_ERROR = "storage_error"  # an error of no known kind that kept coming back


@dataclass(frozen=True)
class RetryPolicy:
    initial_s: float = 0.2
    max_s: float = 10.0
    # Attempts at an error of no known kind before it is taken as a refusal of the data.
    unknown_attempts: int = 5


class Retrier:
    """Runs the sink's calls; keeps its health state (ok or degraded, since when)."""

    def __init__(self, policy: RetryPolicy, stats: SinkStats, clock: Callable[[], float]) -> None:
        self.policy = policy
        self.stats = stats
        self.clock = clock
        # Monotonic time since when a call keeps failing (None: all is well).
        self.degraded_since: float | None = None

    async def call(
        self,
        what: str,
        unknown_attempts: int,
        fn: Callable[[], T],
        abandoned: Callable[[T], None] | None = None,
    ) -> T:
        """Run ``fn`` in a thread: retry outages forever, unknown errors a few times.

        If the caller is cancelled while ``fn`` runs, ``abandoned`` gets what ``fn`` returns
        once it is done (to undo it).
        """
        attempts = 0
        while True:
            running = asyncio.ensure_future(asyncio.to_thread(fn))
            try:
                result = await asyncio.shield(running)
            except asyncio.CancelledError:
                running.add_done_callback(partial(_abandon, abandoned))
                raise
            except StorageRefused:
                raise
            except Exception as exc:
                attempts += 1
                transient = isinstance(exc, StorageUnavailable)
                if not transient and attempts >= unknown_attempts:
                    reason = STORAGE_ERROR
                    if not isinstance(exc, StorageError):
                        reason = f"{STORAGE_ERROR}:{type(exc).__name__}"
                    raise StorageRefused(f"{what}: {exc}", reason) from exc
                await self.backoff(what, exc, attempts)
                continue
            self.recovered(what)
            return result

    async def backoff(self, what: str, exc: BaseException, attempts: int) -> None:
        delay = min(self.policy.initial_s * 2 ** (attempts - 1), self.policy.max_s)
        self.stats.storage_ok = False
        self.stats.storage_retries += 1
        self.stats.last_error = f"{what}: {exc}"[:500]
        if self.degraded_since is None:
            self.degraded_since = self.clock()
        log.error("%s failed (retry in %.1fs): %s", what, delay, exc)
        await asyncio.sleep(delay)

    def recovered(self, what: str) -> None:
        if not self.stats.storage_ok:
            log.info("%s recovered", what)
        self.stats.storage_ok = True
        self.degraded_since = None


def _abandon(release: Callable[[T], None] | None, done: asyncio.Future[T]) -> None:
    """The end of a call whose caller stopped waiting: undo what it did, if it succeeded."""
    if not done.cancelled() and done.exception() is None and release is not None:
        release(done.result())
