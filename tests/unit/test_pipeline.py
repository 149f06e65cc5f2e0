"""The pipeline's ordering and stop rules (ingest.pipeline), with a sink that only records.

The storing itself is tested on the real broker and engine (tests/integration); here the
sink's commit is a coroutine the test controls, so each rule is checked at its edge: acks in
offset order, nothing acked or committed behind a failed commit, a bounded stop that leaves an
unfinished commit unacked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

import pytest

from core.decode import SourceRecord
from ingest.pipeline import PipelinedSink
from ingest.sink import BatchSink


class Recorder:
    """Stands for BatchSink: stage() returns the offsets, commit() waits for the test."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.gates: dict[int, asyncio.Future[None]] = {}

    def stage(self, records: Sequence[SourceRecord]) -> Any:
        first = records[0].offset
        self.events.append(f"stage {first}")
        self.gates[first] = asyncio.get_running_loop().create_future()
        return first

    async def commit(self, staged: Any) -> None:
        self.events.append(f"commit {staged}")
        await self.gates[staged]
        self.events.append(f"stored {staged}")


def _batch(offset: int) -> list[SourceRecord]:
    return [SourceRecord(b"{}", "t", 0, offset)]


def _pipeline() -> tuple[Recorder, PipelinedSink]:
    sink = Recorder()
    return sink, PipelinedSink(cast(BatchSink, sink))


def _ack(sink: Recorder, offset: int) -> Any:
    async def ack() -> None:
        sink.events.append(f"ack {offset}")

    return ack


async def test_next_batch_is_staged_during_commit_and_acks_keep_offset_order() -> None:
    sink, pipeline = _pipeline()
    await pipeline.feed(_batch(0), _ack(sink, 0))
    second = asyncio.ensure_future(pipeline.feed(_batch(1), _ack(sink, 1)))
    await asyncio.sleep(0.01)
    assert sink.events == ["stage 0", "commit 0", "stage 1"]  # 1 waits for 0 to be stored
    sink.gates[0].set_result(None)
    await second
    sink.gates[1].set_result(None)
    await pipeline.drain()
    assert sink.events == [
        *("stage 0", "commit 0", "stage 1", "stored 0", "ack 0"),
        *("commit 1", "stored 1", "ack 1"),
    ]


async def test_a_failed_commit_acks_nothing_and_stops_the_batches_behind_it() -> None:
    sink, pipeline = _pipeline()
    await pipeline.feed(_batch(0), _ack(sink, 0))
    second = asyncio.ensure_future(pipeline.feed(_batch(1), _ack(sink, 1)))
    await asyncio.sleep(0.01)
    sink.gates[0].set_exception(RuntimeError("boom"))
    with pytest.raises(RuntimeError):
        await second
    assert not any(e.startswith(("ack", "commit 1")) for e in sink.events), sink.events
    assert not await pipeline.settle(0.1)


async def test_stop_waits_the_grace_then_leaves_the_commit_unacked() -> None:
    sink, pipeline = _pipeline()
    await pipeline.feed(_batch(0), _ack(sink, 0))
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert not await pipeline.settle(0.2)  # storage never answers
    assert 0.2 <= loop.time() - started < 2
    assert "ack 0" not in sink.events and "stored 0" not in sink.events
    # A commit that ends within the grace is acked.
    sink2, pipeline2 = _pipeline()
    await pipeline2.feed(_batch(5), _ack(sink2, 5))
    loop.call_later(0.05, sink2.gates[5].set_result, None)
    assert await pipeline2.settle(5)
    assert sink2.events[-2:] == ["stored 5", "ack 5"]


async def test_a_stop_while_waiting_for_the_batch_before_does_not_wait_unbounded() -> None:
    sink, pipeline = _pipeline()
    await pipeline.feed(_batch(0), _ack(sink, 0))
    second = asyncio.ensure_future(pipeline.feed(_batch(1), _ack(sink, 1)))
    await asyncio.sleep(0.01)
    second.cancel()  # the runtime cancels the feed past the grace
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(second, 1)
    assert not await pipeline.settle(0.05)
    assert not any(e.startswith(("ack", "commit 1")) for e in sink.events), sink.events


async def test_a_rebalance_waits_for_the_commit_in_flight_and_never_cancels_it() -> None:
    sink, pipeline = _pipeline()
    await pipeline.feed(_batch(0), _ack(sink, 0))
    await asyncio.sleep(0)
    # Still storing: the wait times out, the commit goes on (no cancel, nothing acked yet).
    assert await pipeline.wait_in_flight(0.05) is False
    assert "ack 0" not in sink.events
    waiting = asyncio.ensure_future(pipeline.wait_in_flight(5))
    await asyncio.sleep(0.01)
    sink.gates[0].set_result(None)
    assert await waiting is True
    assert sink.events[-2:] == ["stored 0", "ack 0"]
    assert await pipeline.wait_in_flight(0) is True  # nothing in flight


async def test_a_rebalance_also_waits_for_the_batch_staged_behind_the_commit() -> None:
    """Batch 1 is staged while batch 0 is stored; its commit starts only when 0's ends. A
    rebalance in between must wait for batch 1 too, or it would be stored after the
    partitions went to another worker (whose duplicate check could not see it)."""
    sink, pipeline = _pipeline()
    await pipeline.feed(_batch(0), _ack(sink, 0))
    second = asyncio.ensure_future(pipeline.feed(_batch(1), _ack(sink, 1)))
    await asyncio.sleep(0.01)
    waiting = asyncio.ensure_future(pipeline.wait_in_flight(5))
    await asyncio.sleep(0.01)
    sink.gates[0].set_result(None)
    await second
    await asyncio.sleep(0.01)
    assert sink.events[-1] == "commit 1"
    assert not waiting.done()  # batch 0 is stored, batch 1 is still being stored
    sink.gates[1].set_result(None)
    assert await waiting is True
    assert sink.events[-2:] == ["stored 1", "ack 1"]


async def test_the_wait_for_a_staged_batch_is_bounded() -> None:
    sink, pipeline = _pipeline()
    await pipeline.feed(_batch(0), _ack(sink, 0))
    second = asyncio.ensure_future(pipeline.feed(_batch(1), _ack(sink, 1)))
    await asyncio.sleep(0.01)
    assert await pipeline.wait_in_flight(0.05) is False  # batch 0 never ends here
    sink.gates[0].set_result(None)
    await second
    sink.gates[1].set_result(None)
    await pipeline.drain()


async def test_a_rebalance_waits_for_a_batch_fed_just_before_it() -> None:
    """The rebalance arrives after the batch was handed to the pipeline but before its
    feeding task first ran: that batch is in flight too."""
    sink, pipeline = _pipeline()
    fed = pipeline.feed(_batch(0), _ack(sink, 0))
    waiting = asyncio.ensure_future(pipeline.wait_in_flight(5))
    await fed
    await asyncio.sleep(0.01)
    assert sink.events == ["stage 0", "commit 0"]
    assert not waiting.done()
    sink.gates[0].set_result(None)
    assert await waiting is True
    assert sink.events[-2:] == ["stored 0", "ack 0"]
