"""Sink batches bounded in bytes, filled while the batch before is being handled.

Why not Faust's ``noack_take(n, within)``: it counts messages, and a message holds anything
from one event to a 200-event batch message. A bound that keeps a backlog of big messages
under the memory target (100 messages, ~17k events) gave a live stream of small messages
(~6 events each) batches of ~600 events, and each batch costs two engine statements (duplicate
check, insert) whatever its size: at 20k events/s the worker fell behind for good (measured,
docs/benchmarks-ingest.md). And ``noack_take`` stops taking messages while the caller handles
a batch, so every batch starts from an empty buffer.

A :class:`Batcher` bounds a batch by bytes (what memory follows) and by messages, closes it
``within`` seconds after its first message (what freshness follows), and keeps filling the
next one while the caller handles the one it has: one batch of read-ahead, bounded. When that
one is full, the stream's processor waits, Faust's queue fills and Faust stops fetching the
partition (its own flow control): backpressure, nothing dropped.

Acks stay with the caller: nothing here acks, so an event is committed only once the sink
acked it (ingest.runtime).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from typing import Any

# Counted per message on top of its value: a batch of tiny messages is bounded too.
MESSAGE_OVERHEAD_BYTES = 64


@dataclass(frozen=True)
class Bounds:
    messages: int  # at most this many messages per batch
    bytes: int  # at most about this many bytes (a bigger single message is a batch alone)
    within_s: float  # a batch is handed over this long after its first message at the latest


@dataclass
class _Filling:
    events: list[Any] = field(default_factory=list)
    bytes: int = 0
    first_at: float = 0.0

    def full(self, bounds: Bounds) -> bool:
        return len(self.events) >= bounds.messages or self.bytes >= bounds.bytes


def message_bytes(event: Any) -> int:
    value = event.message.value
    return (len(value) if value is not None else 0) + MESSAGE_OVERHEAD_BYTES


class Batcher:
    """Cuts ``stream`` (a Faust agent's stream) into batches of unacked events within ``bounds``."""

    def __init__(self, stream: Any, bounds: Bounds) -> None:
        self.stream = stream
        self.bounds = bounds
        self._filling = _Filling()
        self._ready = asyncio.Event()  # the filling batch got its first message, or is full
        self._room = asyncio.Event()  # the filling batch is not full
        self._room.set()
        # Partitions given away, one collection per revocation (see _add).
        self._revoked: list[Collection[Any]] = []

    async def batches(self) -> AsyncIterator[list[Any]]:
        """Yield each batch as soon as it is full, or ``within_s`` after its first message.

        While the caller handles one, the next one fills (up to full; then the stream waits).
        """
        stream = self.stream
        enable_acks = stream.enable_acks
        stream.enable_acks = False  # the sink acks, after storing
        stream.add_processor(self._add)
        stream._enable_passive(aiter(stream.channel))  # Faust drains the stream into _add
        try:
            while not stream.should_stop:
                filling = self._filling
                if not filling.full(self.bounds):
                    # Empty: wait for a first message. Not full: until full or due.
                    due = (
                        filling.first_at + self.bounds.within_s - time.monotonic()
                        if filling.events
                        else None
                    )
                    if due is None or due > 0:
                        self._ready.clear()
                        await stream.wait_for_stopped(self._ready, timeout=due)
                        continue
                self._filling = _Filling()
                self._room.set()
                yield filling.events
        finally:
            stream.enable_acks = enable_acks
            stream._processors.remove(self._add)

    def forget(self, partitions: Collection[Any]) -> int:
        """Drop the filling batch's events of ``partitions`` (revoked: given to another worker).

        They are unacked, so their new owner reads them again; storing them here too, after
        that owner checked for duplicates, would store them twice. Returns how many.
        """
        self._revoked.append(frozenset(partitions))
        filling = self._filling
        kept = [e for e in filling.events if e.message.tp not in partitions]
        dropped = len(filling.events) - len(kept)
        if dropped:
            filling.events = kept
            filling.bytes = sum(message_bytes(e) for e in kept)
            if not filling.full(self.bounds):
                self._room.set()
        return dropped

    async def _add(self, value: Any) -> Any:
        # Runs in the stream's own task for every message, in offset order per partition.
        event = self.stream.current_event
        if event is None:
            raise RuntimeError("a batch found no current event")
        revocations = len(self._revoked)
        while self._filling.full(self.bounds):
            self._room.clear()
            if await self.stream.wait_for_stopped(self._room):
                return value  # stopping: the message is left unacked (redelivered)
        if any(event.message.tp in gone for gone in self._revoked[revocations:]):
            # Its partition was given away while it waited for room: like the filling
            # batch's messages of that partition (forget), it is left unacked to the new owner.
            return value
        filling = self._filling
        if not filling.events:
            filling.first_at = time.monotonic()
            self._ready.set()
        filling.events.append(event)
        filling.bytes += message_bytes(event)
        if filling.full(self.bounds):
            self._ready.set()
        return value
