"""The aiohttp application: routes and middleware over the services the entry point built."""

from __future__ import annotations

from aiohttp import web

from query_api.http import SERVICES, Services, errors_middleware
from query_api.openapi import build_openapi
from query_api.routes import admin, billing, ingest, meta, webhooks

# Import bodies are streamed line by line, so the body cap only guards JSON bodies.
MAX_BODY_BYTES = 32 * 1024 * 1024


def create_app(services: Services) -> web.Application:
    app = web.Application(middlewares=[errors_middleware], client_max_size=MAX_BODY_BYTES)
    app[SERVICES] = services
    billing.register(app)
    admin.register(app)
    webhooks.register(app)
    ingest.register(app)
    meta.register(app, build_openapi())
    return app
