"""``llmhub-alerts``: deliver budget alert webhooks, as its own process (ClickHouse server mode).

With the embedded engine ``llmhub-serve`` does this beside the sink. With a server, run exactly
one ``llmhub-alerts`` (two would both send each alert, under one delivery id). Deliveries are
recorded in ClickHouse before and after each attempt, so a restart loses and repeats nothing
beyond the at-least-once window described in docs/webhooks.md.

examples:
  LLMHUB_CLICKHOUSE_URL=http://ch:8123/ llmhub-alerts
  LLMHUB_METRICS_PORT=9100 LLMHUB_METRICS_HOST=0.0.0.0 llmhub-alerts
  llmhub-alerts --check       # settings valid and storage reachable? exit 0, else 1 (2: config)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any

from prometheus_client import CollectorRegistry

from cli.metrics_server import start_metrics_server
from cli.startup import load_settings, stop_event
from core.pricing import load_catalog
from core.settings import Settings
from notify.dispatcher import AlertDispatcher
from storage.clickhouse import open_storage

log = logging.getLogger("llmhub.alerts")


async def run(settings: Settings) -> None:
    storage = open_storage(settings.clickhouse, load_catalog(), pool_size=2)
    registry = CollectorRegistry()
    dispatcher = AlertDispatcher(storage, settings.alerts, registry=registry)
    stop = stop_event()
    await dispatcher.start()
    server = None
    obs = settings.observability
    if obs.metrics_port:

        def ready() -> tuple[bool, dict[str, Any]]:
            try:
                storage.ping()
            except Exception as exc:
                return False, {"clickhouse": str(exc)}
            return True, {"clickhouse": "ok"}

        server = await start_metrics_server(obs.metrics_host, obs.metrics_port, registry, ready)
    try:
        await stop.wait()
    finally:
        if server is not None:
            await server.cleanup()
        await dispatcher.stop()
        storage.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="llmhub-alerts",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--check", action="store_true", help="validate settings and storage")
    args = parser.parse_args(argv)
    settings = load_settings()
    if settings is None:
        return 2
    if args.check:
        try:
            open_storage(settings.clickhouse, load_catalog(), pool_size=1).close()
        except Exception as exc:
            print(f"storage unreachable: {exc}", file=sys.stderr)
            return 1
        print("ok: settings valid, storage reachable")
        return 0
    asyncio.run(run(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
