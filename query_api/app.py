"""The aiohttp application: wiring, error mapping and JSON bodies.

Handlers raise the categories of :mod:`core.errors`; one middleware turns them into HTTP status
codes and FastAPI-shaped bodies (``{"detail": ...}``), so every route answers errors the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from core.clickhouse import ClickHousePool
from core.errors import (
    Conflict,
    Forbidden,
    LlmhubError,
    NotFound,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)
from core.pipeline import EventStore, Limits
from core.pricing import PriceCatalog
from core.settings import Settings
from core.tenants import TenantStore
from query_api.billing import BillingService
from query_api.openapi import build_openapi

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Services:
    """Everything handlers need, built once by the entry point and passed in."""

    settings: Settings
    pool: ClickHousePool
    catalog: PriceCatalog
    tenants: TenantStore = field(init=False)
    billing: BillingService = field(init=False)
    events: EventStore = field(init=False)
    # Publishes events to Kafka for the HTTP ingest endpoint (set when a broker is configured).
    publisher: Any = None
    # The in-process Kafka sink, when this process runs one (its stats show on /healthz).
    ingest: Any = None

    def __post_init__(self) -> None:
        self.tenants = TenantStore(self.pool)
        self.billing = BillingService(self.pool, self.tenants)
        self.events = EventStore(self.pool, self.catalog)

    @property
    def limits(self) -> Limits:
        w = self.settings.worker
        return Limits(w.max_event_bytes, w.max_metadata_bytes)


SERVICES = web.AppKey("services", Services)


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(body, option=orjson.OPT_NAIVE_UTC),
        status=status,
        content_type="application/json",
    )


def _error_body(exc: Exception) -> tuple[int, Any]:
    if isinstance(exc, ValidationFailed):
        return 422, exc.errors
    statuses: dict[type[Exception], int] = {
        NotFound: 404,
        Unauthorized: 401,
        Forbidden: 403,
        Conflict: 409,
        Unavailable: 503,
    }
    status = statuses.get(type(exc), 400)
    if isinstance(exc, NotFound):
        return status, "Not Found"  # one answer whether missing or someone else's
    return status, str(exc)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except LlmhubError as exc:
        status, detail = _error_body(exc)
        response = json_response({"detail": detail}, status)
        if status == 401:
            response.headers["WWW-Authenticate"] = "ApiKey"
        return response
    except web.HTTPException as exc:
        if exc.status >= 400:
            return json_response({"detail": exc.reason}, exc.status)
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_response({"detail": "Internal Server Error"}, 500)


def create_app(services: Services) -> web.Application:
    # Import bodies are streamed line by line, so the default body cap only guards JSON bodies.
    app = web.Application(middlewares=[errors_middleware], client_max_size=32 * 1024 * 1024)
    app[SERVICES] = services
    from query_api.routes import admin, billing, ingest, meta

    billing.register(app)
    admin.register(app)
    ingest.register(app)
    meta.register(app, build_openapi())
    return app
