"""``llmhub-dlq``: list dead-lettered events with their reasons, and replay them.

Replay sends the original bytes back to the generations topic (optionally only some reasons or
offsets), after the producer of the bad events was fixed or the data repaired by hand
(``--edit``-free on purpose: repair means producing a corrected event with the same event_id).
Listing reads with no consumer group, so it never moves anybody's offsets.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter

from aiokafka import AIOKafkaProducer
from tqdm import tqdm

from cli.args import EXIT_OK, emit_json, fail, parser
from cli.startup import cli_settings
from ingest.dead_letters import client_of, describe, read_all

EXAMPLES = """\
  llmhub-dlq list                                  # every dead letter, one JSON object a line
  llmhub-dlq list --reason invalid_event | jq .errors
  llmhub-dlq replay --reason invalid_json          # progress bar on stderr
  llmhub-dlq replay --offsets 3,17 --json          # {"replayed": 2, ...} on stdout"""


async def list_cmd(bootstrap: str, topic: str, reason: str | None) -> int:
    count = 0
    async for record in read_all(bootstrap, topic):
        item = describe(record)
        if reason and item["reason"] != reason:
            continue
        print(json.dumps(item))
        count += 1
    print(f"{count} dead letters", file=sys.stderr)
    return EXIT_OK


async def counts_cmd(bootstrap: str, topic: str) -> int:
    """How many records the topic holds per (reason, client): the topic's own view, which
    also works when the API is down (the admin API's counts add replayed/discarded status)."""
    counts: Counter[tuple[str, str]] = Counter()
    async for record in read_all(bootstrap, topic):
        item = describe(record)
        counts[(item["reason"] or "", client_of(record.value))] += 1
    for (reason, client), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        print(json.dumps({"reason": reason, "client_id": client, "count": n}))
    print(f"{sum(counts.values())} dead letters", file=sys.stderr)
    return EXIT_OK


async def replay_cmd(
    bootstrap: str,
    topic: str,
    target: str,
    reason: str | None,
    offsets: set[int] | None,
    as_json: bool = False,
) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    sent = []
    try:
        with tqdm(unit="msg", desc="replay", file=sys.stderr, disable=None) as bar:
            async for record in read_all(bootstrap, topic):
                item = describe(record)
                if reason and item["reason"] != reason:
                    continue
                if offsets is not None and record.offset not in offsets:
                    continue
                sent.append(await producer.send(target, value=record.value, key=record.key))
                bar.update(1)
            await asyncio.gather(*sent)
    finally:
        await producer.stop()
    if as_json:
        emit_json({"replayed": len(sent), "from": topic, "to": target})
    print(f"replayed {len(sent)} dead letters to {target}", file=sys.stderr)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    settings = cli_settings()
    p0 = parser("llmhub-dlq", __doc__, EXAMPLES)
    p0.add_argument("--bootstrap", default=settings.kafka.bootstrap)
    p0.add_argument("--topic", default=settings.kafka.dlq_topic, help="the dead-letter topic")
    sub = p0.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="print dead letters as JSON lines")
    p.add_argument("--reason", help="only this reason, e.g. invalid_event")
    sub.add_parser("counts", help="count dead letters by reason and client")
    p = sub.add_parser("replay", help="send dead letters back to the generations topic")
    p.add_argument("--reason")
    p.add_argument("--offsets", help="comma-separated DLQ offsets to replay")
    p.add_argument("--to", default=settings.kafka.topic, help="target topic")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    args = p0.parse_args(argv)
    if not args.bootstrap:
        p0.error("--bootstrap or LLMHUB_KAFKA_BOOTSTRAP is required")
    offsets = None
    if getattr(args, "offsets", None):
        try:
            offsets = {int(o) for o in args.offsets.split(",")}
        except ValueError:
            p0.error(f"--offsets: comma-separated offsets, not {args.offsets!r}")
    as_json = bool(getattr(args, "json", False))
    try:
        if args.command == "list":
            return asyncio.run(list_cmd(args.bootstrap, args.topic, args.reason))
        if args.command == "counts":
            return asyncio.run(counts_cmd(args.bootstrap, args.topic))
        return asyncio.run(
            replay_cmd(args.bootstrap, args.topic, args.to, args.reason, offsets, as_json)
        )
    except Exception as exc:  # broker unreachable, topic missing: a failure, not a traceback
        return fail(f"{type(exc).__name__}: {exc}", as_json)


if __name__ == "__main__":
    sys.exit(main())
