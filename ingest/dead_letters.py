"""The dead-letter topic: refused records with the original bytes, why, and where from.

The header names are defined once here; the sink writes them, ``llmhub-dlq`` reads them. The
topic is the source of truth (kept until someone replays or discards: retention -1, see
:mod:`ingest.topics`); the sink also writes each one to the dead-letter table
(:class:`storage.DeadLetterStore`) so the admin can list and count them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from aiokafka.structs import TopicPartition

from core import utc
from core.decode import Rejection
from storage import DeadLetter

REASON = "llmhub.reason"
ERRORS = "llmhub.errors"  # JSON list of every problem: {"loc", "msg", "type"}
SOURCE_TOPIC = "llmhub.source.topic"
SOURCE_PARTITION = "llmhub.source.partition"
SOURCE_OFFSET = "llmhub.source.offset"
SOURCE_INDEX = "llmhub.source.index"  # place in a batch message; -1: the message held it alone
FAILED_AT = "llmhub.failed_at"
VALUE_CUT = "llmhub.value_cut"  # original size, when the value had to be cut to be kept
CUT_BYTES = 64 * 1024


class DeadLetters:
    """Publishes refused records to the dead-letter topic."""

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self.producer = producer
        self.topic = topic

    async def publish(self, rejections: Sequence[Rejection], cut: bool = False) -> list[Placed]:
        """Return once the broker acknowledged every one: where each one landed.

        ``cut``: the last resort when the broker keeps refusing a record as it is (too large,
        say): its value is cut to ``CUT_BYTES`` and the header ``llmhub.value_cut`` says from
        what size, so the dead letter and its reason are still kept.
        """
        futures = []
        now = utc.now()
        failed_at = now.isoformat().encode()
        for r in rejections:
            value = r.record.value
            headers = [
                (REASON, r.reason.encode()),
                (ERRORS, orjson.dumps(r.errors)),
                (SOURCE_TOPIC, r.record.topic.encode()),
                (SOURCE_PARTITION, str(r.record.partition).encode()),
                (SOURCE_OFFSET, str(r.record.offset).encode()),
                (SOURCE_INDEX, str(r.record.index).encode()),
                (FAILED_AT, failed_at),
            ]
            if cut and value is not None and len(value) > CUT_BYTES:
                headers.append((VALUE_CUT, str(len(value)).encode()))
                value = value[:CUT_BYTES]
            # Keyed by client, like the source topic, so a replay keeps one writer per client.
            key = client_of(value).encode()
            futures.append(
                await self.producer.send(self.topic, key=key, value=value, headers=headers)
            )
        metadata = await asyncio.gather(*futures)
        return [Placed(m.partition, m.offset, now) for m in metadata]


def transient(exc: BaseException) -> bool:
    """Whether a publish failure may pass by itself (broker away, leader moving)."""
    if isinstance(exc, (KafkaConnectionError, KafkaTimeoutError, TimeoutError)):
        return True
    return isinstance(exc, KafkaError) and bool(getattr(exc, "retriable", False))


@dataclass(frozen=True)
class Placed:
    """Where the dead-letter topic holds a record, and when it was put there."""

    partition: int
    offset: int
    at: datetime


def as_rows(rejections: Sequence[Rejection], placed: Sequence[Placed]) -> list[DeadLetter]:
    """Rows for the dead-letter table, one per published rejection."""
    return [
        DeadLetter(
            source_topic=r.record.topic,
            source_partition=r.record.partition,
            source_offset=r.record.offset,
            source_index=r.record.index,
            reason=r.reason,
            errors=r.errors,
            client_id=client_of(r.record.value),
            value=r.record.value or b"",
            failed_at=p.at,
            dlq_partition=p.partition,
            dlq_offset=p.offset,
        )
        for r, p in zip(rejections, placed, strict=True)
    ]


def client_of(value: bytes | None) -> str:
    """The ``client_id`` a refused record names, if it can be read (else "")."""
    if not value or value.lstrip()[:1] != b"{":
        return ""
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return ""
    client = data.get("client_id") if isinstance(data, dict) else None
    return client.strip()[:64] if isinstance(client, str) else ""


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
