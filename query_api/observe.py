"""Per-request observability: a request id (``X-Request-Id``, echoed or generated) in every log
line of the request and in the answer, one structured access log line, and Prometheus metrics
per operation (latency histogram, count by status) served on ``/metrics``."""

from __future__ import annotations

import logging
import re
import time
import uuid

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from core.logctx import request_id
from query_api.http import Handler

log = logging.getLogger("llmhub.access")

REQUEST_ID_HEADER = "X-Request-Id"
# A caller's id is kept only if it is short and plain (it lands in logs and headers).
_GOOD_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")
METRICS = web.AppKey("metrics", CollectorRegistry)


def operation_of(request: web.Request) -> str:
    """The route's path template (bounded label values), or "unmatched" for a 404."""
    route = request.match_info.route
    resource = route.resource if route is not None else None
    return resource.canonical if resource is not None else "unmatched"


def observe_middleware(registry: CollectorRegistry) -> Middleware:
    requests = Counter(
        "llmhub_http_requests",
        "HTTP requests answered, by operation (route template), method and status",
        ["operation", "method", "status"],
        registry=registry,
    )
    latency = Histogram(
        "llmhub_http_request_duration_seconds",
        "Time to answer an HTTP request, by operation",
        ["operation"],
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        registry=registry,
    )

    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        rid = given if _GOOD_ID.match(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            response.headers[REQUEST_ID_HEADER] = rid
            return response
        except web.HTTPException as exc:  # redirects and the like, raised past the errors layer
            status = exc.status
            exc.headers[REQUEST_ID_HEADER] = rid
            raise
        finally:
            elapsed = time.perf_counter() - started
            operation = operation_of(request)
            requests.labels(operation, request.method, str(status)).inc()
            latency.labels(operation).observe(elapsed)
            log.info(
                "%s %s %s",
                request.method,
                request.path,
                status,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "operation": operation,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
            request_id.reset(token)

    return observe


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS])
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
