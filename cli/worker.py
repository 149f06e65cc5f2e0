"""``llmhub-worker``: the Kafka -> ClickHouse sink as its own process (ClickHouse server mode).

With the embedded engine, use ``llmhub-serve`` instead: it runs this same sink in-process,
because only one process may open the embedded data directory.
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
from core.decode import Limits
from core.pricing import load_catalog
from core.settings import Settings
from ingest.metrics import SinkCollector, SinkMetrics
from ingest.runtime import IngestRuntime
from ingest.topics import ensure_topics
from storage.clickhouse import open_storage

log = logging.getLogger("llmhub.worker")


async def run(settings: Settings) -> None:
    storage = open_storage(settings.clickhouse, load_catalog())
    runtime = IngestRuntime(settings, storage.events, Limits.from_settings(settings.worker))
    registry = CollectorRegistry()
    runtime.observers.append(SinkMetrics(registry).observe)
    registry.register(SinkCollector(runtime))
    stop = stop_event()
    await runtime.start()
    server = None
    obs = settings.observability
    if obs.metrics_port:

        def ready() -> tuple[bool, dict[str, Any]]:
            status = runtime.status()
            return bool(status) and bool(status.get("storage_ok")), {"sink": status}

        server = await start_metrics_server(obs.metrics_host, obs.metrics_port, registry, ready)
        log.info("metrics on http://%s:%s/metrics", obs.metrics_host, obs.metrics_port)
    try:
        await stop.wait()
    finally:
        if server is not None:
            await server.cleanup()
        await runtime.stop()
        storage.close()


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
