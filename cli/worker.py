"""``llmhub-worker``: the Kafka -> ClickHouse sink as its own process (ClickHouse server mode).

With the embedded engine, use ``llmhub-serve`` instead: it runs this same sink in-process,
because only one process may open the embedded data directory.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from aiohttp import web

from cli.startup import load_settings, stop_event
from core.decode import Limits
from core.pricing import load_catalog
from core.settings import Settings
from ingest.runtime import IngestRuntime
from ingest.topics import ensure_topics
from query_api.http import SERVICES, Services, errors_middleware
from query_api.reports import BillingReports
from query_api.routes import meta
from storage.clickhouse import ClickHouseStorage, open_storage

log = logging.getLogger("llmhub.worker")


async def run(settings: Settings) -> None:
    storage = open_storage(settings.clickhouse, load_catalog())
    runtime = IngestRuntime(
        settings, storage.events, Limits.from_settings(settings.worker), storage.dead_letters
    )
    stop = stop_event(settings.worker.shutdown_deadline_s)
    health = await _health_site(settings, storage, runtime)
    await runtime.start()
    try:
        await stop.wait()
    finally:
        await runtime.stop()
        if health is not None:
            await health.cleanup()
        storage.close()


async def _health_site(
    settings: Settings, storage: ClickHouseStorage, runtime: IngestRuntime
) -> web.AppRunner | None:
    """/healthz and /readyz for this worker (the API's own routes), when a port is set."""
    w = settings.worker
    if not w.health_port:
        return None
    services = Services(settings, storage, BillingReports(storage), ingest=runtime)
    app = web.Application(middlewares=[errors_middleware])
    app[SERVICES] = services
    meta.register(app, {})
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, w.health_host, w.health_port).start()
    log.info("worker health on http://%s:%s/healthz", w.health_host, w.health_port)
    return runner


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llmhub-worker", description=__doc__)
    parser.add_argument("--check", action="store_true", help="validate settings, broker, storage")
    args = parser.parse_args(argv)
    settings = load_settings()
    if settings is None:
        return 2
    if not settings.kafka.bootstrap:
        print("LLMHUB_KAFKA_BOOTSTRAP is not set", file=sys.stderr)
        return 2
    if settings.clickhouse.embedded and not args.check:
        log.warning(
            "embedded engine: no other process (llmhub-serve) may use %s",
            settings.clickhouse.data_dir,
        )
    if args.check:
        asyncio.run(ensure_topics(settings))
        open_storage(settings.clickhouse, load_catalog(), pool_size=1).close()
        print("ok: settings valid, broker and storage reachable")
        return 0
    asyncio.run(run(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
