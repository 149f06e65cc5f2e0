"""``llmhub-loadgen``: realistic synthetic events to Kafka at a given rate or count.

Uses the producer library (validated, keyed by client, idempotent, acks=all) and shows a
progress bar; it reports the achieved rate when done.
"""

from __future__ import annotations

import asyncio
import sys
import time

from tqdm import tqdm

from cli.args import EXIT_OK, emit_json, fail, parser
from cli.startup import cli_settings
from core import utc
from ingest.producer import EventProducer
from ingest.synthetic import EventFactory

EXAMPLES = """\
  llmhub-loadgen --count 100000                 # as fast as possible, progress on stderr
  llmhub-loadgen --count 0 --rate 2000          # 2,000 events/s until Ctrl-C
  llmhub-loadgen --count 5000 --clients 3 --json"""


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
        with tqdm(
            total=count or None, unit="ev", unit_scale=True, file=sys.stderr, disable=None
        ) as bar:
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
    p = parser("llmhub-loadgen", __doc__, EXAMPLES)
    p.add_argument("--bootstrap", default=settings.kafka.bootstrap)
    p.add_argument("--topic", default=settings.kafka.topic)
    p.add_argument("--count", type=int, default=10_000, help="events to send (0: forever)")
    p.add_argument(
        "--rate", type=float, default=0, help="events per second (0: as fast as possible)"
    )
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    args = p.parse_args(argv)
    if not args.bootstrap:
        p.error("--bootstrap or LLMHUB_KAFKA_BOOTSTRAP is required")
    try:
        sent, seconds = asyncio.run(
            run(args.bootstrap, args.topic, args.count, args.rate, args.clients)
        )
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # broker unreachable: a failure, not a traceback
        return fail(f"{type(exc).__name__}: {exc}", args.json)
    rate = sent / seconds if seconds else 0.0
    if args.json:
        emit_json({"sent": sent, "seconds": round(seconds, 3), "events_per_second": round(rate)})
    print(f"sent {sent} events in {seconds:.1f}s ({rate:,.0f} events/s)", file=sys.stderr)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
