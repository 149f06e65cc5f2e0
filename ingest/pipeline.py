"""Two batches in flight: decode batch N+1 while batch N is checked and inserted.

:meth:`BatchSink.stage` (decode, validate, price, lay out rows) is Python holding the GIL;
:meth:`BatchSink.commit` mostly waits on the broker (dead letters) and on the engine (duplicate
check and insert, run in a thread; chdb releases the GIL while it inserts). Overlapping the two
lets a second core work.

What does not change: batch N+1 is committed (dead letters, duplicate check, insert) only after
batch N is stored and acked, so acks stay in offset order, a batch's duplicate check sees every
earlier batch, and a crash anywhere leaves at most the two unacked batches to be redelivered
(the store drops what was already stored). A batch is acked by its own commit task as soon as
it is stored: an idle stream does not hold the last batch back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from core.decode import SourceRecord
from ingest.sink import BatchSink, Staged

Ack = Callable[[], Awaitable[None]]


class PipelinedSink:
    """Feeds batches to a :class:`BatchSink` with one commit in flight behind the decoding."""

    def __init__(self, sink: BatchSink) -> None:
        self.sink = sink
        self._inflight: asyncio.Task[None] | None = None

    async def feed(self, records: Sequence[SourceRecord], ack: Ack) -> None:
        """Decode ``records`` now; store and ``ack`` them once the batch before is done.

        Returns when this batch's commit has started (not finished): call :meth:`drain` to
        wait for it.
        """
        staged = self.sink.stage(records)  # overlaps the previous batch's commit
        await self.drain()
        self._inflight = asyncio.ensure_future(self._commit(staged, ack))

    async def _commit(self, staged: Staged, ack: Ack) -> None:
        await self.sink.commit(staged)
        await ack()

    async def drain(self) -> None:
        """Wait until the batch in flight (if any) is stored and acked.

        Cancelling the caller does not cancel the commit: it is waited for all the same (a
        stopping worker stores and acks what it holds, so the final commit includes it).
        """
        inflight = self._inflight
        if inflight is None:
            return
        try:
            await asyncio.shield(inflight)
        except asyncio.CancelledError:
            if not inflight.done():
                await inflight
            raise
        finally:
            if inflight.done() and self._inflight is inflight:
                self._inflight = None
