"""``llmhub-dlq``: list dead-lettered events with their reasons, and replay them.

Replay sends the original bytes back to the generations topic (optionally only some reasons or
offsets), after the producer of the bad events was fixed or the data repaired by hand
(``--edit``-free on purpose: repair means producing a corrected event with the same event_id).
Listing reads with no consumer group, so it never moves anybody's offsets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition


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


async def dead_letters(bootstrap: str, topic: str) -> AsyncIterator[Any]:
    """Every record currently in the dead-letter topic, partition by partition."""
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
    headers = {k: v.decode(errors="replace") for k, v in record.headers or ()}
    return {
        "dlq_partition": record.partition,
        "dlq_offset": record.offset,
        "reason": headers.get("llmhub.reason"),
        "errors": json.loads(headers.get("llmhub.errors", "[]")),
        "source": {
            "topic": headers.get("llmhub.source.topic"),
            "partition": headers.get("llmhub.source.partition"),
            "offset": headers.get("llmhub.source.offset"),
        },
        "failed_at": headers.get("llmhub.failed_at"),
        "value": record.value.decode(errors="replace")[:2000],
    }


async def list_cmd(bootstrap: str, topic: str, reason: str | None) -> int:
    count = 0
    async for record in dead_letters(bootstrap, topic):
        item = describe(record)
        if reason and item["reason"] != reason:
            continue
        print(json.dumps(item))
        count += 1
    print(f"{count} dead letters", file=sys.stderr)
    return 0


async def replay_cmd(
    bootstrap: str, topic: str, target: str, reason: str | None, offsets: set[int] | None
) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    sent = []
    try:
        async for record in dead_letters(bootstrap, topic):
            item = describe(record)
            if reason and item["reason"] != reason:
                continue
            if offsets is not None and record.offset not in offsets:
                continue
            sent.append(await producer.send(target, value=record.value, key=record.key))
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    print(f"replayed {len(sent)} dead letters to {target}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llmhub-dlq", description=__doc__)
    parser.add_argument("--bootstrap", default=os.environ.get("LLMHUB_KAFKA_BOOTSTRAP", ""))
    parser.add_argument(
        "--topic", default=os.environ.get("LLMHUB_KAFKA_DLQ_TOPIC", "llmhub.generations.dlq")
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="print dead letters as JSON lines")
    p.add_argument("--reason", help="only this reason, e.g. invalid_event")
    p = sub.add_parser("replay", help="send dead letters back to the generations topic")
    p.add_argument("--reason")
    p.add_argument("--offsets", help="comma-separated DLQ offsets to replay")
    p.add_argument(
        "--to",
        default=os.environ.get("LLMHUB_KAFKA_TOPIC", "llmhub.generations"),
        help="target topic",
    )
    args = parser.parse_args(argv)
    if not args.bootstrap:
        parser.error("--bootstrap or LLMHUB_KAFKA_BOOTSTRAP is required")
    if args.command == "list":
        return asyncio.run(list_cmd(args.bootstrap, args.topic, args.reason))
    offsets = {int(o) for o in args.offsets.split(",")} if args.offsets else None
    return asyncio.run(replay_cmd(args.bootstrap, args.topic, args.to, args.reason, offsets))


if __name__ == "__main__":
    sys.exit(main())
