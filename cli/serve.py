"""``llmhub-serve``: the billing API, and with the embedded engine the Kafka sink beside it.

chdb allows one process per data directory, so in the embedded default this one process owns
storage: the API, the admin routes and (when a broker is configured) the Faust sink. With a
ClickHouse server, run ``llmhub-serve`` and ``llmhub-worker`` as separate processes instead.
This module is where the two sides meet: it wires the ingest runtime into the API's services;
neither package imports the other.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from functools import partial

from aiohttp import web
from prometheus_client import CollectorRegistry

from cli.args import EXIT_OK, EXIT_USAGE, parser, run_check
from cli.startup import load_settings, stop_event
from core.pricing import load_catalog
from core.settings import Settings
from ingest.metrics import SinkCollector, SinkMetrics
from ingest.producer import EventProducer
from ingest.runtime import IngestRuntime
from notify.dispatcher import AlertDispatcher
from query_api.app import create_app
from query_api.http import Services
from query_api.reports import BillingReports
from storage.clickhouse import open_storage

log = logging.getLogger("llmhub.serve")


def _check_storage(settings: Settings) -> None:
    services = build_services(settings)  # migrates
    services.storage.ping()
    services.storage.close()


def build_services(settings: Settings) -> Services:
    storage = open_storage(settings.clickhouse, load_catalog())
    return Services(settings=settings, storage=storage, reports=BillingReports(storage))


async def serve(settings: Settings, ready: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT: API, plus the sink when configured to run in-process."""
    services = build_services(settings)
    registry = CollectorRegistry()
    runner = web.AppRunner(create_app(services, registry), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.api.host, settings.api.port)
    await site.start()
    publisher = None
    runtime = None
    if settings.kafka.bootstrap:
        publisher = EventProducer(
            settings.kafka.bootstrap,
            settings.kafka.topic,
            linger_ms=settings.kafka.producer_linger_ms,
            limits=services.limits,
        )
        await publisher.start()
        services.publisher = publisher
        if settings.api.with_worker:
            runtime = IngestRuntime(
                settings,
                services.storage.events,
                services.limits,
                services.storage.dead_letters,
            )
            runtime.observers.append(SinkMetrics(registry).observe)
            registry.register(SinkCollector(runtime))
            await runtime.start()
            services.ingest = runtime
    dispatcher = None
    if settings.api.with_worker and settings.alerts.enabled:
        # The process that owns the sink also delivers budget alerts (one per deployment).
        dispatcher = AlertDispatcher(services.storage, settings.alerts, registry=registry)
        await dispatcher.start()
    log.info(
        "llmhub API on http://%s:%s (storage %s%s)",
        settings.api.host,
        settings.api.port,
        "embedded " if settings.clickhouse.embedded else "",
        settings.clickhouse.dsn,
    )
    stop = stop_event(settings.worker.shutdown_deadline_s)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        if dispatcher is not None:
            await dispatcher.stop()
        if runtime is not None:
            await runtime.stop()
        if publisher is not None:
            await publisher.stop()
        await runner.cleanup()
        services.storage.close()


EXAMPLES = """\
  llmhub-serve                                   # embedded engine in .data/chdb, API on :8080
  LLMHUB_KAFKA_BOOTSTRAP=127.0.0.1:19092 llmhub-serve     # + the Kafka sink and budget alerts
  LLMHUB_CLICKHOUSE_URL=http://ch:8123/ LLMHUB_API_WITH_WORKER=false llmhub-serve
  llmhub-serve --check --json                    # exit 0 if settings and storage are fine"""


def main(argv: list[str] | None = None) -> int:
    p = parser("llmhub-serve", __doc__, EXAMPLES)
    p.add_argument("--check", action="store_true", help="validate settings and storage, then exit")
    p.add_argument("--json", action="store_true", help="with --check: print the outcome as JSON")
    args = p.parse_args(argv)
    settings = load_settings()
    if settings is None:
        return EXIT_USAGE
    if args.check:
        dsn = settings.clickhouse.dsn
        return run_check(
            [(f"storage {dsn}", partial(_check_storage, settings))],
            args.json,
            {"storage": dsn, "migrated": True},
            f"ok: settings valid, storage {dsn} reachable and migrated",
        )
    asyncio.run(serve(settings))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
