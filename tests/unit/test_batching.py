"""How the sink's batches are cut (ingest.batching), on a real Faust stream.

Faust's agent test context feeds the agent's stream in memory (no broker): what is tested here
is where a batch ends (messages, bytes, window), that the next batch fills while the caller
holds one and stops filling when full, and that nothing is lost or reordered. Committing and
acking are tested on the real broker (tests/integration).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Coroutine
from typing import Any

import faust

from ingest.batching import MESSAGE_OVERHEAD_BYTES, Batcher, Bounds

_apps = itertools.count()


class Harness:
    """One agent over :meth:`Batcher.batches`: records each batch's values, holds it on request."""

    def __init__(self, bounds: Bounds) -> None:
        self.batches: list[list[bytes]] = []
        self.batcher: Batcher | None = None
        self.partitions: set[Any] = set()  # of the last batch
        self.hold = asyncio.Event()  # cleared: the caller keeps the batch it has
        self.hold.set()
        self.got_one = asyncio.Event()
        self.app = faust.App(
            f"batching-test-{next(_apps)}", store="memory://", web_enabled=False,
            autodiscover=False,
        )  # fmt: skip

        async def sink(stream: Any) -> None:
            self.batcher = Batcher(stream, bounds)
            async for batch in self.batcher.batches():
                self.partitions = {e.message.tp for e in batch}
                self.batches.append([e.message.value for e in batch])
                self.got_one.set()
                await self.hold.wait()

        self.agent = self.app.agent(value_type=bytes)(sink)

    async def next_batch(self) -> list[bytes]:
        async with asyncio.timeout(5.0):
            await self.got_one.wait()
        self.got_one.clear()
        return self.batches[-1]


async def run(bounds: Bounds, test: Callable[[Harness, Any], Coroutine[Any, Any, None]]) -> None:
    harness = Harness(bounds)
    async with harness.agent.test_context() as agent:
        await test(harness, agent)


def values(n: int, size: int = 10) -> list[bytes]:
    return [f"{i:0{size}d}".encode() for i in range(n)]


async def test_a_batch_ends_at_the_message_bound_and_the_next_one_fills_meanwhile() -> None:
    async def test(h: Harness, agent: Any) -> None:
        h.hold.clear()
        sent = values(8)
        for v in sent[:3]:
            await agent.put(wait=False, value=v)
        assert await h.next_batch() == sent[:3]  # full at 3: handed over at once
        for v in sent[3:]:
            await agent.put(wait=False, value=v)
        await asyncio.sleep(0.1)
        h.hold.set()  # the caller is done: the batch filled meanwhile is due (full)
        assert await h.next_batch() == sent[3:6]
        assert await h.next_batch() == sent[6:]  # the rest, after the window

    await run(Bounds(messages=3, bytes=1 << 20, within_s=0.2), test)


async def test_a_batch_is_full_at_exactly_its_byte_bound() -> None:
    size = 100
    # Two messages reach the bound exactly: a third goes to the next batch.
    bound = 2 * (size + MESSAGE_OVERHEAD_BYTES)

    async def test(h: Harness, agent: Any) -> None:
        h.hold.clear()
        sent = values(5, size)
        for v in sent[:2]:
            await agent.put(wait=False, value=v)
        assert await h.next_batch() == sent[:2]
        for v in sent[2:]:
            await agent.put(wait=False, value=v)
        await asyncio.sleep(0.1)
        h.hold.set()
        assert await h.next_batch() == sent[2:4]
        assert await h.next_batch() == sent[4:]

    await run(Bounds(messages=1000, bytes=bound, within_s=0.2), test)


async def test_a_message_bigger_than_the_byte_bound_is_a_batch_alone() -> None:
    async def test(h: Harness, agent: Any) -> None:
        small, big = b"s" * 10, b"b" * 5000
        h.hold.clear()
        await agent.put(wait=False, value=big)
        assert await h.next_batch() == [big]  # over the bound on its own: due at once
        await agent.put(wait=False, value=small)
        await agent.put(wait=False, value=big)
        await agent.put(wait=False, value=small)
        await asyncio.sleep(0.1)
        h.hold.set()
        assert await h.next_batch() == [small, big]  # full once the big one is in
        assert await h.next_batch() == [small]

    await run(Bounds(messages=1000, bytes=1000, within_s=0.2), test)


async def test_a_batch_that_is_not_full_is_handed_over_after_the_window() -> None:
    window = 0.3

    async def test(h: Harness, agent: Any) -> None:
        started = time.monotonic()
        await agent.put(wait=False, value=b"one")
        assert await h.next_batch() == [b"one"]
        waited = time.monotonic() - started
        # Not at once (it waits for more), and not waiting for the batch to fill.
        assert window * 0.8 <= waited < window + 2.0

    await run(Bounds(messages=1000, bytes=1 << 20, within_s=window), test)


async def test_many_messages_arrive_in_order_in_bounded_batches() -> None:
    async def test(h: Harness, agent: Any) -> None:
        sent = values(500)
        for v in sent:
            await agent.put(wait=False, value=v)
        got: list[bytes] = []
        while len(got) < len(sent):
            batch = await h.next_batch()
            assert 1 <= len(batch) <= 64
            got.extend(batch)
        assert got == sent

    await run(Bounds(messages=64, bytes=1 << 20, within_s=0.05), test)


async def test_a_revoked_partitions_unstored_messages_are_dropped_and_the_rest_kept() -> None:
    async def test(h: Harness, agent: Any) -> None:
        h.hold.clear()
        for v in (b"a", b"b"):
            await agent.put(wait=False, value=v, partition=0)
        assert await h.next_batch() == [b"a", b"b"]
        (given_away,) = h.partitions
        await agent.put(wait=False, value=b"c", partition=0)
        await agent.put(wait=False, value=b"d", partition=1)
        await agent.put(wait=False, value=b"e", partition=1)
        await asyncio.sleep(0.1)  # c, d fill the next batch; e waits for room
        assert h.batcher is not None
        assert h.batcher.forget({given_away}) == 1
        h.hold.set()
        assert await h.next_batch() == [b"d", b"e"]  # room again: e joined d

    await run(Bounds(messages=2, bytes=1 << 20, within_s=0.3), test)


async def test_a_message_waiting_for_room_when_its_partition_is_revoked_is_left_unacked() -> None:
    async def test(h: Harness, agent: Any) -> None:
        h.hold.clear()
        for v in (b"a", b"b"):
            await agent.put(wait=False, value=v, partition=0)
        assert await h.next_batch() == [b"a", b"b"]
        (given_away,) = h.partitions
        await agent.put(wait=False, value=b"c", partition=1)
        await agent.put(wait=False, value=b"d", partition=1)
        await agent.put(wait=False, value=b"e", partition=0)  # waits: c, d fill the batch
        await asyncio.sleep(0.1)
        assert h.batcher is not None
        assert h.batcher.forget({given_away}) == 0  # the filling batch has none of it
        h.hold.set()
        assert await h.next_batch() == [b"c", b"d"]
        # e was taken before the revocation: not stored here. f came after (a partition
        # assigned again is read again from its committed offset): stored.
        await agent.put(wait=False, value=b"f", partition=0)
        assert await h.next_batch() == [b"f"]

    await run(Bounds(messages=2, bytes=1 << 20, within_s=0.3), test)
