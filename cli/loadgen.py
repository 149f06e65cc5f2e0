"""``llmhub-loadgen``: realistic synthetic events to Kafka at a given rate or count.

Uses the producer library (validated, keyed by client, idempotent, acks=all) and shows a
progress bar; it reports the achieved rate when done.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from tqdm import tqdm

from cli.startup import cli_settings
from core import utc
from ingest.producer import EventProducer
from ingest.synthetic import EventFactory


def client_weights(n: int) -> tuple[list[str], list[float]]:
    """n clients with a skewed (Zipf-like) share of the traffic."""
    names = [f"client-{i:04d}" for i in range(n)]
    return names, [1.0 / (i + 1) for i in range(n)]


async def run(
    bootstrap: str, topic: str, count: int, rate: float, clients: int, chunk: int = 1000
) -> tuple[int, float]:
    factory = EventFactory(seed=int(time.time()))
    names, weights = client_weights(clients)
    sent = 0
    started = time.monotonic()
    async with EventProducer(bootstrap, topic, linger_ms=20) as producer:
        with tqdm(total=count or None, unit="ev", unit_scale=True, file=sys.stderr) as bar:
            while count == 0 or sent < count:
                n = chunk if count == 0 else min(chunk, count - sent)
                now = utc.now()
                picks = factory.rng.choices(names, weights, k=n)
                await producer.send_all(factory.event(c, now) for c in picks)
                sent += n
                bar.update(n)
                if rate > 0:
                    ahead = sent / rate - (time.monotonic() - started)
                    if ahead > 0:
                        await asyncio.sleep(ahead)
    return sent, time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    settings = cli_settings()
    parser = argparse.ArgumentParser(prog="llmhub-loadgen", description=__doc__)
    parser.add_argument("--bootstrap", default=settings.kafka.bootstrap)
    parser.add_argument("--topic", default=settings.kafka.topic)
    parser.add_argument("--count", type=int, default=10_000, help="events to send (0: forever)")
    parser.add_argument(
        "--rate", type=float, default=0, help="events per second (0: as fast as possible)"
    )
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args(argv)
    if not args.bootstrap:
        parser.error("--bootstrap or LLMHUB_KAFKA_BOOTSTRAP is required")
    try:
        sent, seconds = asyncio.run(
            run(args.bootstrap, args.topic, args.count, args.rate, args.clients)
        )
    except KeyboardInterrupt:
        return 130
    print(f"sent {sent} events in {seconds:.1f}s ({sent / seconds:,.0f} events/s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
