"""``llmhub-worker``: the Kafka -> ClickHouse sink as its own process (ClickHouse server mode).

With the embedded engine, use ``llmhub-serve`` instead: it runs this same sink in-process,
because only one process may open the embedded data directory.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from aiohttp import web
from prometheus_client import CollectorRegistry

from cli.args import EXIT_OK, EXIT_USAGE, parser, run_check
from cli.startup import load_settings, stop_event
from core.decode import Limits
from core.pricing import load_catalog
from core.settings import Settings
from ingest.metrics import SinkCollector, SinkMetrics
from ingest.runtime import IngestRuntime
from ingest.topics import ensure_topics
from query_api.http import SERVICES, Services, errors_middleware
from query_api.observe import METRICS, metrics
from query_api.reports import BillingReports
from query_api.routes import meta
from storage.clickhouse import ClickHouseStorage, open_storage

log = logging.getLogger("llmhub.worker")


async def run(settings: Settings) -> None:
    storage = open_storage(settings.clickhouse, load_catalog())
    runtime = IngestRuntime(
        settings, storage.events, Limits.from_settings(settings.worker), storage.dead_letters
    )
    registry = CollectorRegistry()
    runtime.observers.append(SinkMetrics(registry).observe)
    registry.register(SinkCollector(runtime))
    stop = stop_event(settings.worker.shutdown_deadline_s)
    health = await _health_site(settings, storage, runtime, registry)
    await runtime.start()
    try:
        await stop.wait()
    finally:
        await runtime.stop()
        if health is not None:
            await health.cleanup()
        storage.close()


async def _health_site(
    settings: Settings,
    storage: ClickHouseStorage,
    runtime: IngestRuntime,
    registry: CollectorRegistry,
) -> web.AppRunner | None:
    """/healthz and /readyz (the API's own routes) and /metrics of this worker.

    One server, listening on ``LLMHUB_WORKER_HEALTH_PORT`` and on ``LLMHUB_METRICS_PORT``
    (either may be off; the same port twice is bound once).
    """
    w, obs = settings.worker, settings.observability
    binds = {
        (host, port)
        for host, port in ((w.health_host, w.health_port), (obs.metrics_host, obs.metrics_port))
        if port
    }
    if not binds:
        return None
    services = Services(settings, storage, BillingReports(storage), ingest=runtime)
    app = web.Application(middlewares=[errors_middleware])
    app[SERVICES] = services
    app[METRICS] = registry
    meta.register(app, {})
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    for host, port in sorted(binds):
        await web.TCPSite(runner, host, port).start()
        log.info("worker health and metrics on http://%s:%s/", host, port)
    return runner


EXAMPLES = """\
  LLMHUB_CLICKHOUSE_URL=http://ch:8123/ LLMHUB_KAFKA_BOOTSTRAP=kafka:9092 llmhub-worker
  LLMHUB_METRICS_PORT=9100 LLMHUB_METRICS_HOST=0.0.0.0 llmhub-worker   # /metrics, /readyz
  llmhub-worker --check --json                # exit 0 if settings, broker, storage are fine"""


def main(argv: list[str] | None = None) -> int:
    p = parser("llmhub-worker", __doc__, EXAMPLES)
    p.add_argument("--check", action="store_true", help="validate settings, broker, storage")
    p.add_argument("--json", action="store_true", help="with --check: print the outcome as JSON")
    args = p.parse_args(argv)
    settings = load_settings()
    if settings is None:
        return EXIT_USAGE
    if not settings.kafka.bootstrap:
        print("LLMHUB_KAFKA_BOOTSTRAP is not set", file=sys.stderr)
        return EXIT_USAGE
    if settings.clickhouse.embedded and not args.check:
        log.warning(
            "embedded engine: no other process (llmhub-serve) may use %s",
            settings.clickhouse.data_dir,
        )
    if args.check:
        kafka, dsn = settings.kafka, settings.clickhouse.dsn
        return run_check(
            [
                (f"broker {kafka.bootstrap}", lambda: asyncio.run(ensure_topics(settings))),
                (
                    f"storage {dsn}",
                    lambda: open_storage(settings.clickhouse, load_catalog(), pool_size=1).close(),
                ),
            ],
            args.json,
            {"broker": kafka.bootstrap, "topics": [kafka.topic, kafka.dlq_topic], "storage": dsn},
            "ok: settings valid, broker and storage reachable",
        )
    asyncio.run(run(settings))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
