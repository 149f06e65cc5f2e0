"""Unauthenticated routes: the OpenAPI document, docs pointer and health."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from query_api.http import SERVICES, json_response


def register(app: web.Application, openapi: dict[str, Any]) -> None:
    async def openapi_json(request: web.Request) -> web.Response:
        return json_response(openapi)

    async def health(request: web.Request) -> web.Response:
        services = request.app[SERVICES]
        try:
            await asyncio.to_thread(services.storage.ping)
        except Exception as exc:  # health must answer, whatever broke
            return json_response({"status": "unavailable", "clickhouse": str(exc)}, 503)
        body: dict[str, Any] = {"status": "ok", "clickhouse": "ok"}
        if services.ingest is not None:
            body["sink"] = services.ingest.status()
        return json_response(body)

    app.router.add_get("/openapi.json", openapi_json)
    app.router.add_get("/healthz", health)
