"""``llmhub-serve``: the billing API, and with the embedded engine the Kafka sink beside it.

chdb allows one process per data directory, so in the embedded default this one process owns
storage: the API, the admin routes and (when a broker is configured) the Faust sink. With a
ClickHouse server, run ``llmhub-serve`` and ``llmhub-worker`` as separate processes instead.
This module is where the two sides meet: it wires the ingest runtime into the API's services;
neither package imports the other.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from aiohttp import web
from prometheus_client import CollectorRegistry

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
            runtime = IngestRuntime(settings, services.storage.events, services.limits)
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
    stop = stop_event()
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llmhub-serve", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="validate settings and storage, then exit"
    )
    args = parser.parse_args(argv)
    settings = load_settings()
    if settings is None:
        return 2
    if args.check:
        services = build_services(settings)
        services.storage.ping()
        print(f"ok: settings valid, storage {settings.clickhouse.dsn} reachable and migrated")
        return 0
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
