"""Unauthenticated routes: the OpenAPI document, liveness and readiness.

- ``GET /healthz`` (liveness): 503 when the in-process sink crashed, is stuck retrying, or
  makes no progress while records wait; restarting the process is the remedy.
- ``GET /readyz`` (readiness): 503 also while the storage does not answer or the sink is
  retrying (degraded), or still starting.

Anyone gets the status and a short reason; the admin token adds the details (counters, lag per
partition, last error text).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from query_api.http import SERVICES, Services, has_bearer, json_response


def _answer(ok: bool, reason: str, details: dict[str, Any] | None, admin: bool) -> web.Response:
    body: dict[str, Any] = {"status": "ok" if ok else "unavailable", "reason": reason}
    if admin and details is not None:
        body["details"] = details
    return json_response(body, 200 if ok else 503)


def _is_admin(request: web.Request, services: Services) -> bool:
    return has_bearer(request, services.settings.api.admin_token)


def register(app: web.Application, openapi: dict[str, Any]) -> None:
    async def openapi_json(request: web.Request) -> web.Response:
        return json_response(openapi)

    async def healthz(request: web.Request) -> web.Response:
        services = request.app[SERVICES]
        admin = _is_admin(request, services)
        if services.ingest is None:
            return _answer(True, "ok", {}, admin)
        verdict = services.ingest.health()
        return _answer(verdict.live, verdict.reason, {"sink": verdict.details}, admin)

    async def readyz(request: web.Request) -> web.Response:
        services = request.app[SERVICES]
        admin = _is_admin(request, services)
        try:
            await asyncio.to_thread(services.storage.ping)
        except Exception as exc:  # readiness must answer, whatever broke
            return _answer(False, "storage unavailable", {"storage": str(exc)[:500]}, admin)
        if services.ingest is None:
            return _answer(True, "ok", {}, admin)
        verdict = services.ingest.health()
        return _answer(verdict.ready, verdict.reason, {"sink": verdict.details}, admin)

    app.router.add_get("/openapi.json", openapi_json)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
