"""``llmhub-demo``: a realistic month for a few clients, and live traffic through Kafka.

Talks only to the running service (admin API) and the broker, like a real user would: creates
clients with budgets, issues their API keys (printed once), loads the past month and then keeps
producing live events to Kafka so they show up in the billing endpoints within seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta

import orjson

from cli.admin import AdminClient
from cli.startup import cli_settings
from core import utc
from ingest.producer import EventProducer
from ingest.synthetic import EventFactory

DEMO_CLIENTS = {
    # client_id: (name, monthly budget USD, events in the past month)
    "acme-corp": ("Acme Corp", "900", 12_000),
    "globex": ("Globex", "150", 5_000),
    "initech": ("Initech", None, 2_000),
}


def wait_healthy(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as r:  # noqa: S310
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise SystemExit(f"the service at {url} did not become healthy in {timeout}s")


def setup_clients(api: AdminClient) -> dict[str, str]:
    existing = {c["client_id"] for c in api.call("GET", "/clients")["clients"]}
    keys = {}
    for client_id, (name, budget, _) in DEMO_CLIENTS.items():
        if client_id not in existing:
            api.create_client(client_id, name, budget)
        keys[client_id] = api.issue_key(client_id, "demo")["api_key"]
    return keys


async def load_history(bootstrap: str, topic: str, api: AdminClient, days: int) -> int:
    end = utc.now()
    counts = {c: n for c, (_, _, n) in DEMO_CLIENTS.items()}
    events = list(
        EventFactory(seed=int(end.timestamp())).month(counts, end - timedelta(days=days), end)
    )
    if bootstrap:
        async with EventProducer(bootstrap, topic) as producer:
            await producer.send_all(events)
    else:
        api.import_jsonl(b"\n".join(orjson.dumps(e) for e in events))
    return len(events)


async def live(bootstrap: str, topic: str, rate: float, duration: float) -> None:
    factory = EventFactory(seed=int(time.time()))
    weights = {c: n for c, (_, _, n) in DEMO_CLIENTS.items()}
    clients = list(weights)
    deadline = time.monotonic() + duration if duration > 0 else float("inf")
    sent = 0
    async with EventProducer(bootstrap, topic) as producer:
        while time.monotonic() < deadline:
            tick = time.monotonic()
            batch = [
                factory.event(factory.rng.choices(clients, list(weights.values()))[0], utc.now())
                for _ in range(max(1, int(rate)))
            ]
            await producer.send_all(batch)
            sent += len(batch)
            print(f"\rlive traffic: {sent} events sent to {topic}", end="", flush=True)
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    print()


def main(argv: list[str] | None = None) -> int:
    settings = cli_settings()
    parser = argparse.ArgumentParser(prog="llmhub-demo", description=__doc__)
    parser.add_argument("--url", default=settings.api.base_url)
    parser.add_argument("--token", default=settings.api.admin_token_text)
    parser.add_argument("--bootstrap", default=settings.kafka.bootstrap)
    parser.add_argument("--topic", default=settings.kafka.topic)
    parser.add_argument("--days", type=int, default=30, help="history to load")
    parser.add_argument("--rate", type=float, default=20, help="live events per second")
    parser.add_argument("--duration", type=float, default=0, help="live seconds (0: forever)")
    parser.add_argument("--no-live", action="store_true")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("admin token needed: --token or LLMHUB_API_ADMIN_TOKEN")
    wait_healthy(args.url)
    api = AdminClient(args.url, args.token)
    keys = setup_clients(api)
    loaded = asyncio.run(load_history(args.bootstrap, args.topic, api, args.days))
    via = f"Kafka topic {args.topic}" if args.bootstrap else "the import endpoint"
    print(f"\nloaded {loaded} events of the past {args.days} days through {via}\n")
    print("API keys (shown once):")
    for client_id, key in keys.items():
        print(f"  {client_id:10s} {key}")
    first = next(iter(keys.values()))
    print("\ntry:")
    for path in ("usage/summary", "usage/by-provider", "usage/current-month", "logs?limit=5"):
        print(f"  curl -s -H 'x-api-key: {first}' {args.url}/api/v1/llm/billing/{path}")
    print(f"  OpenAPI document: {args.url}/openapi.json")
    print(f"\ndashboard: {args.url}/  (sign in with a key above; admin view: the admin token)\n")
    if args.bootstrap and not args.no_live:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(live(args.bootstrap, args.topic, args.rate, args.duration))
    return 0


if __name__ == "__main__":
    sys.exit(main())
