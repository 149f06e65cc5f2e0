"""Two batches in flight: decode batch N+1 while batch N is checked and inserted.

:meth:`BatchSink.stage` (decode, validate, price, lay out rows) is Python holding the GIL;
:meth:`BatchSink.commit` mostly waits on the broker (dead letters) and on the engine (duplicate
check and insert, run in a thread; chdb releases the GIL while it inserts). Overlapping the two
lets a second core work.

What does not change: batch N+1 is committed (stored, dead-lettered) only after batch N is
committed and acked, so acks stay in offset order, a batch's duplicate check sees every
earlier batch, and a crash anywhere leaves at most the two unacked batches to be redelivered
(the store drops what was already stored). A commit that fails or is cancelled acks nothing,
and no later batch is committed after it. A batch is acked by its own commit task as soon as
it is stored: an idle stream does not hold the last batch back.

Stopping is bounded (the failure model): :meth:`PipelinedSink.settle` gives the commit in
flight a grace period and cancels it past that, leaving its records unacked (redelivered).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from core.decode import SourceRecord
from ingest.sink import BatchSink, Staged

Ack = Callable[[], Awaitable[None]]

log = logging.getLogger("llmhub.sink")


class PipelinedSink:
    """Feeds batches to a :class:`BatchSink` with one commit in flight behind the decoding."""

    def __init__(self, sink: BatchSink) -> None:
        self.sink = sink
        self._inflight: asyncio.Task[None] | None = None
        # Set from the moment a batch is fed until its commit has started (it is staged, then
        # waits for the one before): a rebalance must wait for that batch too (wait_in_flight).
        self._feeding: asyncio.Future[None] | None = None

    def feed(self, records: Sequence[SourceRecord], ack: Ack) -> asyncio.Task[None]:
        """Decode ``records``; store and ``ack`` them once the batch before is done.

        The returned task ends when this batch's commit has started (not finished): call
        :meth:`drain` to wait for it. The batch counts as in flight from this call on, with
        no await in between (a rebalance arriving before the task first runs waits for it).
        """
        feeding = self._feeding = asyncio.get_running_loop().create_future()
        return asyncio.ensure_future(self._feed(records, ack, feeding))

    async def _feed(
        self, records: Sequence[SourceRecord], ack: Ack, feeding: asyncio.Future[None]
    ) -> None:
        try:
            staged = self.sink.stage(records)  # overlaps the previous batch's commit
            await self.drain()
            self._inflight = asyncio.ensure_future(self._commit(staged, ack))
        finally:
            if self._feeding is feeding:
                self._feeding = None
            feeding.set_result(None)

    async def _commit(self, staged: Staged, ack: Ack) -> None:
        try:
            await self.sink.commit(staged)
        except Exception:
            # Raised again to the next feed/drain; logged now, as no batch may come for a while
            # (the unacked records then show as lag, and health as a stall).
            log.exception("commit failed: the batch is left unacked")
            raise
        await ack()

    async def drain(self) -> None:
        """Wait until the batch in flight (if any) is stored and acked.

        Cancelling the caller does not cancel the commit (a stop decides, in :meth:`settle`,
        how long it may still take); a commit that failed raises here.
        """
        inflight = self._inflight
        if inflight is None:
            return
        await asyncio.shield(inflight)
        if self._inflight is inflight:
            self._inflight = None

    async def wait_in_flight(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the commit in flight to end, never cancelling it; a
        batch staged behind it is waited for too (its commit starts when the one before ends).

        True when none is left running (a rebalance waits so: see ingest.runtime).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout_s, 0.0)
        feeding = self._feeding
        if feeding is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({feeding}, timeout=max(deadline - loop.time(), 0.0))
            if not feeding.done():
                return False
        inflight = self._inflight
        if inflight is None or inflight.done():
            return True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait({inflight}, timeout=max(deadline - loop.time(), 0.0))
        return inflight.done()

    async def settle(self, grace_s: float) -> bool:
        """Stopping: give the commit in flight ``grace_s`` seconds, then cancel it.

        True when it finished (its batch stored and acked); False when it failed or was
        cancelled, its batch then left unacked for redelivery.
        """
        inflight = self._inflight
        if inflight is None:
            return True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait({inflight}, timeout=max(grace_s, 0.0))
        if not inflight.done():
            inflight.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await inflight
            return False
        return not inflight.cancelled() and inflight.exception() is None
