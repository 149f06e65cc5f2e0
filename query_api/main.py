"""``llmhub-serve``: the billing API, and with the embedded engine the Kafka sink beside it.

chdb allows one process per data directory, so in the embedded default this one process owns
storage: the API, the admin routes and (when a broker is configured) the Faust sink. With a
ClickHouse server, run ``llmhub-serve`` and ``llmhub-worker`` as separate processes instead.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from aiohttp import web

from core.clickhouse import ClickHousePool
from core.entrypoint import load_settings, stop_event
from core.migrations import migrate
from core.pricing import load_catalog
from core.settings import Settings
from query_api.app import Services, create_app

log = logging.getLogger("llmhub.serve")


def build_services(settings: Settings) -> Services:
    pool = ClickHousePool(settings.clickhouse)
    applied = migrate(pool)
    if applied:
        log.info("migrations applied: %s", ", ".join(applied))
    return Services(settings=settings, pool=pool, catalog=load_catalog())


async def serve(settings: Settings, ready: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT: API, plus the sink when configured to run in-process."""
    services = build_services(settings)
    app = create_app(services)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.api.host, settings.api.port)
    await site.start()
    sink = None
    if settings.kafka.bootstrap:
        from ingest.producer import EventProducer

        services.publisher = EventProducer(
            settings.kafka.bootstrap,
            settings.kafka.topic,
            linger_ms=settings.kafka.producer_linger_ms,
        )
        await services.publisher.start()
    if settings.kafka.bootstrap and settings.api.with_worker:
        from ingest.runtime import start_embedded_ingest

        sink = await start_embedded_ingest(services)
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
        if sink is not None:
            await sink.stop()
        if services.publisher is not None:
            await services.publisher.stop()
        await runner.cleanup()
        services.pool.close()


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
        services.pool.query_rows("SELECT 1")
        print(f"ok: settings valid, storage {settings.clickhouse.dsn} reachable and migrated")
        return 0
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
