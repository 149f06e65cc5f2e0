"""The small HTTP server of processes without the API (``llmhub-worker``, ``llmhub-alerts``):
``/metrics`` for Prometheus, ``/healthz`` (the process answers) and ``/readyz`` (it is doing
its work: e.g. the sink consumes and storage accepts writes), for Kubernetes probes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.exposition import generate_latest

# Returns (ready, details shown in the answer).
Readiness = Callable[[], tuple[bool, dict[str, Any]]]


async def start_metrics_server(
    host: str, port: int, registry: CollectorRegistry, ready: Readiness
) -> web.AppRunner:
    async def metrics(request: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        ok, details = ready()
        body = orjson.dumps({"status": "ready" if ok else "not ready", **details}, default=str)
        return web.Response(body=body, status=200 if ok else 503, content_type="application/json")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
