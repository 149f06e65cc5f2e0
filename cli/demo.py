"""``llmhub-demo``: a realistic month for a few clients, and live traffic through Kafka.

Talks only to the running service (admin API) and the broker, like a real user would: creates
clients with budgets, issues their API keys (printed once), loads the past month and then keeps
producing live events to Kafka so they show up in the billing endpoints within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta

import orjson
from tqdm import tqdm

from cli.admin import AdminClient, AdminError
from cli.args import EXIT_FAILURE, EXIT_OK, emit_json, parser
from cli.startup import cli_settings
from core import utc
from ingest.producer import EventProducer
from ingest.synthetic import EventFactory

EXAMPLES = """\
  llmhub-demo                              # a month of history, then 20 live events/s
  llmhub-demo --days 7 --no-live           # history only, then exit
  llmhub-demo --scale 0.1 --no-live --json # 10% of the events; keys as JSON for a script
  llmhub-demo --rate 200 --duration 60     # a minute of heavier live traffic"""

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
    raise AdminError(f"the service at {url} did not become healthy in {timeout}s")


def setup_clients(api: AdminClient) -> dict[str, str]:
    existing = {c["client_id"] for c in api.call("GET", "/clients")["clients"]}
    keys = {}
    for client_id, (name, budget, _) in DEMO_CLIENTS.items():
        if client_id not in existing:
            api.create_client(client_id, name, budget)
        keys[client_id] = api.issue_key(client_id, "demo")["api_key"]
    return keys


async def load_history(
    bootstrap: str, topic: str, api: AdminClient, days: int, scale: float = 1.0
) -> int:
    end = utc.now()
    counts = {c: max(1, int(n * scale)) for c, (_, _, n) in DEMO_CLIENTS.items()}
    events = list(
        EventFactory(seed=int(end.timestamp())).month(counts, end - timedelta(days=days), end)
    )
    chunk = 2_000
    with tqdm(
        total=len(events),
        unit="ev",
        unit_scale=True,
        desc="history",
        file=sys.stderr,
        disable=None,
    ) as bar:
        if bootstrap:
            async with EventProducer(bootstrap, topic) as producer:
                for i in range(0, len(events), chunk):
                    await producer.send_all(events[i : i + chunk])
                    bar.update(len(events[i : i + chunk]))
        else:
            for i in range(0, len(events), chunk):
                part = events[i : i + chunk]
                await asyncio.to_thread(api.import_jsonl, b"\n".join(orjson.dumps(e) for e in part))
                bar.update(len(part))
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
    p = parser("llmhub-demo", __doc__, EXAMPLES)
    p.add_argument("--url", default=settings.api.base_url)
    p.add_argument("--token", default=settings.api.admin_token_text)
    p.add_argument("--bootstrap", default=settings.kafka.bootstrap)
    p.add_argument("--topic", default=settings.kafka.topic)
    p.add_argument("--days", type=int, default=30, help="history to load")
    p.add_argument("--scale", type=float, default=1.0, help="share of the demo's event counts")
    p.add_argument("--rate", type=float, default=20, help="live events per second")
    p.add_argument("--duration", type=float, default=0, help="live seconds (0: forever)")
    p.add_argument("--no-live", action="store_true")
    p.add_argument("--json", action="store_true", help="print keys and counts as JSON")
    args = p.parse_args(argv)
    if not args.token:
        p.error("admin token needed: --token or LLMHUB_API_ADMIN_TOKEN")
    if not 0 < args.scale <= 10:
        p.error("--scale must be in (0, 10]")
    try:
        wait_healthy(args.url)
        api = AdminClient(args.url, args.token)
        keys = setup_clients(api)
        loaded = asyncio.run(load_history(args.bootstrap, args.topic, api, args.days, args.scale))
    except AdminError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    via = f"Kafka topic {args.topic}" if args.bootstrap else "the import endpoint"
    if args.json:
        emit_json({"events_loaded": loaded, "days": args.days, "via": via, "api_keys": keys})
    else:
        print(f"\nloaded {loaded} events of the past {args.days} days through {via}\n")
        print("API keys (shown once):")
        for client_id, key in keys.items():
            print(f"  {client_id:10s} {key}")
        first = next(iter(keys.values()))
        print("\ntry:")
        for path in ("usage/summary", "usage/by-provider", "usage/current-month", "logs?limit=5"):
            print(f"  curl -s -H 'x-api-key: {first}' {args.url}/api/v1/llm/billing/{path}")
        print(f"  OpenAPI document: {args.url}/openapi.json")
        print(
            f"\ndashboard: {args.url}/  (sign in with a key above; admin view: the admin token)\n"
        )
    if args.bootstrap and not args.no_live:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(live(args.bootstrap, args.topic, args.rate, args.duration))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
