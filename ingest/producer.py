"""Producer library for services that emit generation events to Kafka.

Idempotent producer with ``acks=all``: a retried send is not written twice by the broker.
Events go to the partition their ``client_id`` hashes to, so one client's events stay in order
in one partition, which is also what lets the sink de-duplicate a client's events with a single
writer.
Events are validated before they are sent: a bad event fails at its producer, loudly.

``send_all`` packs events into batch messages (a JSON array of events, at most BATCH_EVENTS
or BATCH_BYTES) per partition, not per client: each event goes to the partition its
``client_id`` hashes to, exactly as a message keyed by it would (Kafka's default partitioner,
murmur2), so a client's events still stay in order on one partition, and the clients that
share a partition share its messages. The sink's consumer pays a fixed cost per Kafka message
(~150 us in Faust, profiled: docs/benchmarks-ingest.md): a hub sending many clients' events
at once makes one message per partition instead of one per client. ``send`` sends one event
alone, keyed by its client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from core.decode import DEFAULT_LIMITS, Limits, encode
from schemas.event import GenerationEvent

BATCH_EVENTS = 200
BATCH_BYTES = 256 * 1024
# The producer's own partitioner too, so a packed message and a keyed one agree.
_PARTITIONER = DefaultPartitioner()


def by_partition(
    encoded: Iterable[tuple[bytes, bytes]], partitions: Sequence[int]
) -> dict[int, list[bytes]]:
    """Encoded (key, value) pairs -> values per partition, in order: where Kafka's default
    partitioner sends a message with that key (``partitions``: all of the topic's, sorted)."""
    out: dict[int, list[bytes]] = {}
    for key, value in encoded:
        out.setdefault(partition_of(key, partitions), []).append(value)
    return out


def partition_of(key: bytes, partitions: Sequence[int]) -> int:
    return int(_PARTITIONER(key, list(partitions), list(partitions)))


def pack(values: Iterable[bytes]) -> Iterator[bytes]:
    """Encoded events -> batch messages (JSON arrays) within BATCH_EVENTS and BATCH_BYTES."""
    chunk: list[bytes] = []
    size = 2
    for value in values:
        if chunk and (len(chunk) >= BATCH_EVENTS or size + len(value) + 1 > BATCH_BYTES):
            yield b"[" + b",".join(chunk) + b"]"
            chunk, size = [], 2
        chunk.append(value)
        size += len(value) + 1
    if chunk:
        yield b"[" + b",".join(chunk) + b"]"


class EventProducer:
    """``async with EventProducer(bootstrap, topic) as p: await p.send(event)``."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        linger_ms: int = 5,
        max_batch_size: int = 512 * 1024,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.topic = topic
        self.limits = limits
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            enable_idempotence=True,
            acks="all",
            linger_ms=linger_ms,
            max_batch_size=max_batch_size,
            partitioner=_PARTITIONER,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def __aenter__(self) -> EventProducer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def send(self, event: GenerationEvent | Mapping[str, Any]) -> Any:
        """Queue one event; returns a future resolved when the broker acknowledged it."""
        key, value = encode(event, self.limits)
        return await self._producer.send(self.topic, value=value, key=key)

    async def send_all(self, events: Iterable[GenerationEvent | Mapping[str, Any]]) -> int:
        """Validate, batch per client and send; returns once the broker acknowledged all.

        Raises ValidationFailed (nothing sent) if any event is invalid.
        """
        return await self.send_encoded([encode(e, self.limits) for e in events])

    async def send_encoded(self, encoded: Iterable[tuple[bytes, bytes]]) -> int:
        """Send (key, value) pairs from :func:`encode` as batch messages, one partition's
        events each, in order per key (so per client)."""
        partitions = sorted(await self._producer.partitions_for(self.topic))
        values = by_partition(encoded, partitions)
        futures = []
        for partition, part in values.items():
            for message in pack(part):
                futures.append(
                    await self._producer.send(self.topic, value=message, partition=partition)
                )
        await asyncio.gather(*futures)
        return sum(len(part) for part in values.values())
