"""The dead-letter topic: refused records with the original bytes, why, and where from.

The header names are defined once here; the sink writes them, ``llmhub-dlq`` reads them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from core import utc
from core.decode import Rejection

REASON = "llmhub.reason"
ERRORS = "llmhub.errors"  # JSON list of every problem: {"loc", "msg", "type"}
SOURCE_TOPIC = "llmhub.source.topic"
SOURCE_PARTITION = "llmhub.source.partition"
SOURCE_OFFSET = "llmhub.source.offset"
SOURCE_INDEX = "llmhub.source.index"  # place in a batch message; -1: the message held it alone
FAILED_AT = "llmhub.failed_at"


class DeadLetters:
    """Publishes refused records to the dead-letter topic."""

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self.producer = producer
        self.topic = topic

    async def publish(self, rejections: Sequence[Rejection]) -> None:
        """Return once the broker acknowledged every one."""
        futures = []
        failed_at = utc.now().isoformat().encode()
        for r in rejections:
            headers = [
                (REASON, r.reason.encode()),
                (ERRORS, orjson.dumps(r.errors)),
                (SOURCE_TOPIC, r.record.topic.encode()),
                (SOURCE_PARTITION, str(r.record.partition).encode()),
                (SOURCE_OFFSET, str(r.record.offset).encode()),
                (SOURCE_INDEX, str(r.record.index).encode()),
                (FAILED_AT, failed_at),
            ]
            futures.append(
                await self.producer.send(self.topic, value=r.record.value, headers=headers)
            )
        await asyncio.gather(*futures)


async def _partitions(bootstrap: str, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(
        p["partition"] for t in described if t["error_code"] == 0 for p in t["partitions"]
    )


async def read_all(bootstrap: str, topic: str) -> AsyncIterator[Any]:
    """Every record now in the dead-letter topic; no consumer group, so no offsets move."""
    tps = [TopicPartition(topic, p) for p in await _partitions(bootstrap, topic)]
    if not tps:
        return
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if ends[tp] > 0}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batch.items():
                for record in records:
                    yield record
                    if record.offset + 1 >= ends[tp]:
                        remaining.discard(tp)
    finally:
        await consumer.stop()


def describe(record: Any) -> dict[str, Any]:
    """A dead letter as a JSON-able dict (value cut to 2,000 characters)."""
    headers = {k: v.decode(errors="replace") for k, v in record.headers or ()}
    return {
        "dlq_partition": record.partition,
        "dlq_offset": record.offset,
        "reason": headers.get(REASON),
        "errors": json.loads(headers.get(ERRORS, "[]")),
        "source": {
            "topic": headers.get(SOURCE_TOPIC),
            "partition": headers.get(SOURCE_PARTITION),
            "offset": headers.get(SOURCE_OFFSET),
            "index": headers.get(SOURCE_INDEX),
        },
        "failed_at": headers.get(FAILED_AT),
        "value": (record.value or b"").decode(errors="replace")[:2000],
    }
