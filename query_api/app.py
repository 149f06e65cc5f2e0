"""The aiohttp application: routes and middleware over the services the entry point built."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry

from query_api.http import SERVICES, Services, errors_middleware
from query_api.observe import METRICS, metrics, observe_middleware
from query_api.openapi import build_openapi
from query_api.routes import (
    admin,
    analytics,
    billing,
    dashboard,
    dead_letters,
    exports,
    ingest,
    meta,
    webhooks,
)

# Import bodies are streamed line by line, so the body cap only guards JSON bodies.
MAX_BODY_BYTES = 32 * 1024 * 1024


def create_app(services: Services, registry: CollectorRegistry | None = None) -> web.Application:
    """The API; ``registry`` collects its metrics (and whatever else the process registered
    there, e.g. the in-process sink's), served on ``/metrics``."""
    registry = registry if registry is not None else CollectorRegistry()
    app = web.Application(
        middlewares=[observe_middleware(registry), errors_middleware],
        client_max_size=MAX_BODY_BYTES,
    )
    app[SERVICES] = services
    app[METRICS] = registry
    billing.register(app)
    admin.register(app)
    dead_letters.register(app)
    analytics.register(app)
    exports.register(app)
    dashboard.register(app)
    webhooks.register(app)
    ingest.register(app)
    meta.register(app, build_openapi())
    app.router.add_get("/metrics", metrics)
    return app
