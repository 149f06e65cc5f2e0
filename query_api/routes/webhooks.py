"""Admin API for budget alert webhooks: one URL and signing secret per client, and the record
of every delivery. Delivery itself runs beside the sink (:mod:`notify.dispatcher`)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from core.webhooks import Delivery, Webhook, check_webhook, new_secret
from query_api.http import json_response, read_json
from query_api.routes.admin import PREFIX, require_admin


class WebhookBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=1, max_length=2000)
    # Omitted: a new random secret is made (and shown in this answer).
    secret: str | None = None


def delivery_body(d: Delivery) -> dict[str, Any]:
    return {
        "delivery_id": str(d.delivery_id),
        "client_id": d.client_id,
        "month": d.month,
        "threshold_percent": d.threshold_percent,
        "status": d.status,
        "attempts": d.attempts,
        "url": d.url,
        "created_at": d.created_at,
        "last_attempt_at": d.last_attempt_at,
        "next_attempt_at": d.next_attempt_at if d.status == "pending" else None,
        "delivered_at": d.delivered_at,
        "last_status_code": d.last_status_code or None,
        "last_error": d.last_error or None,
    }


async def put_webhook(request: web.Request) -> web.Response:
    services = require_admin(request)
    client_id = request.match_info["client_id"]
    body = await read_json(request, WebhookBody)
    secret = body.secret if body.secret is not None else new_secret()
    check_webhook(body.url, secret)
    await asyncio.to_thread(services.storage.tenants.require_client, client_id)
    hook = Webhook(client_id, body.url, secret)
    await asyncio.to_thread(services.storage.alerts.set_webhook, hook)
    # The secret is shown here so the receiver can be configured with it.
    return json_response({"client_id": client_id, "url": hook.url, "secret": hook.secret})


async def get_webhook(request: web.Request) -> web.Response:
    services = require_admin(request)
    client_id = request.match_info["client_id"]
    await asyncio.to_thread(services.storage.tenants.require_client, client_id)
    hook = await asyncio.to_thread(services.storage.alerts.get_webhook, client_id)
    if hook is None:
        return json_response({"detail": f"client {client_id} has no webhook"}, 404)
    return json_response(
        {"client_id": client_id, "url": hook.url, "secret_hint": "..." + hook.secret[-4:]}
    )


async def delete_webhook(request: web.Request) -> web.Response:
    services = require_admin(request)
    client_id = request.match_info["client_id"]
    await asyncio.to_thread(services.storage.alerts.delete_webhook, client_id)
    return json_response({"client_id": client_id, "deleted": True})


async def list_deliveries(request: web.Request) -> web.Response:
    services = require_admin(request)
    client_id = request.match_info["client_id"]
    await asyncio.to_thread(services.storage.tenants.require_client, client_id)
    found = await asyncio.to_thread(services.storage.alerts.deliveries, client_id)
    return json_response({"deliveries": [delivery_body(d) for d in found]})


def register(app: web.Application) -> None:
    r = app.router
    path = f"{PREFIX}/clients/{{client_id}}/webhook"
    r.add_put(path, put_webhook)
    r.add_get(path, get_webhook)
    r.add_delete(path, delete_webhook)
    r.add_get(f"{path}/deliveries", list_deliveries)
