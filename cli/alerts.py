"""``llmhub-alerts``: deliver budget alert webhooks, as its own process (ClickHouse server mode).

With the embedded engine ``llmhub-serve`` does this beside the sink. With a server, run exactly
one ``llmhub-alerts`` (two would both send each alert, under one delivery id). Deliveries are
recorded in ClickHouse before and after each attempt, so a restart loses and repeats nothing
beyond the at-least-once window described in docs/webhooks.md.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

from prometheus_client import CollectorRegistry

from cli.args import EXIT_OK, EXIT_USAGE, parser, run_check
from cli.metrics_server import start_metrics_server
from cli.startup import load_settings, stop_event
from core.pricing import load_catalog
from core.settings import Settings
from notify.dispatcher import AlertDispatcher
from storage.clickhouse import open_storage

log = logging.getLogger("llmhub.alerts")

EXAMPLES = """\
  LLMHUB_CLICKHOUSE_URL=http://ch:8123/ llmhub-alerts
  LLMHUB_METRICS_PORT=9100 LLMHUB_METRICS_HOST=0.0.0.0 llmhub-alerts   # /metrics, /readyz
  llmhub-alerts --check --json          # exit 0 if settings and storage are fine"""


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
    p = parser("llmhub-alerts", __doc__, EXAMPLES)
    p.add_argument("--check", action="store_true", help="validate settings and storage")
    p.add_argument("--json", action="store_true", help="with --check: print the outcome as JSON")
    args = p.parse_args(argv)
    settings = load_settings()
    if settings is None:
        return EXIT_USAGE
    if args.check:
        dsn = settings.clickhouse.dsn
        return run_check(
            [
                (
                    f"storage {dsn}",
                    lambda: open_storage(settings.clickhouse, load_catalog(), pool_size=1).close(),
                )
            ],
            args.json,
            {"storage": dsn},
            "ok: settings valid, storage reachable",
        )
    asyncio.run(run(settings))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
