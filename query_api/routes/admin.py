"""Admin API: clients, budgets and API keys. Protected by ``LLMHUB_API_ADMIN_TOKEN``.

With the embedded engine only the running service may open the data directory, so the admin
CLI (``llmhub-admin``) calls these routes instead of touching storage itself.
"""

from __future__ import annotations

import asyncio
import hmac
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from core.errors import Forbidden, Unauthorized, ValidationFailed
from core.tenants import DEFAULT_THRESHOLDS, ApiKey, Client
from query_api.app import SERVICES, Services, json_response

PREFIX = "/admin/v1"


class NewClient(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    monthly_budget_usd: Decimal | None = Field(default=None, ge=0)
    alert_thresholds: list[int] = Field(default_factory=lambda: list(DEFAULT_THRESHOLDS))


class ClientUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    monthly_budget_usd: Decimal | None = Field(default=None, ge=0)
    alert_thresholds: list[int] | None = None


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(default="", max_length=200)


def require_admin(request: web.Request) -> Services:
    services = request.app[SERVICES]
    token = services.settings.api.admin_token
    if token is None:
        raise Forbidden("admin API disabled: set LLMHUB_API_ADMIN_TOKEN")
    given = request.headers.get("Authorization", "")
    expected = f"Bearer {token.get_secret_value()}"
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("admin token missing or wrong")
    return services


async def read_body(request: web.Request, model: type[BaseModel]) -> Any:
    raw = await request.read()
    try:
        data = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed(
            [{"loc": ["body"], "msg": f"not valid JSON: {exc}", "type": "json_invalid"}]
        ) from exc
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        raise ValidationFailed(
            [
                {"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]}
                for e in exc.errors(include_url=False, include_input=False)
            ]
        ) from exc


def client_body(client: Client) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "monthly_budget_usd": (
            str(client.monthly_budget_usd) if client.monthly_budget_usd is not None else None
        ),
        "alert_thresholds": list(client.alert_thresholds),
        "created_at": client.created_at,
    }


def key_body(key: ApiKey) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "client_id": key.client_id,
        "label": key.label,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }


async def create_client(request: web.Request) -> web.Response:
    services = require_admin(request)
    body = await read_body(request, NewClient)
    client = await asyncio.to_thread(
        services.tenants.create_client,
        body.client_id,
        body.name,
        body.monthly_budget_usd,
        tuple(body.alert_thresholds),
    )
    return json_response(client_body(client), 201)


async def list_clients(request: web.Request) -> web.Response:
    services = require_admin(request)
    clients = await asyncio.to_thread(services.tenants.list_clients)
    return json_response({"clients": [client_body(c) for c in clients]})


async def get_client(request: web.Request) -> web.Response:
    services = require_admin(request)
    client = await asyncio.to_thread(
        services.tenants.require_client, request.match_info["client_id"]
    )
    return json_response(client_body(client))


async def update_client(request: web.Request) -> web.Response:
    services = require_admin(request)
    body = await read_body(request, ClientUpdate)
    fields = body.model_fields_set
    client = await asyncio.to_thread(
        lambda: services.tenants.update_client(
            request.match_info["client_id"],
            name=body.name,
            monthly_budget_usd=body.monthly_budget_usd,
            clear_budget="monthly_budget_usd" in fields and body.monthly_budget_usd is None,
            alert_thresholds=tuple(body.alert_thresholds) if body.alert_thresholds else None,
        )
    )
    return json_response(client_body(client))


async def issue_key(request: web.Request) -> web.Response:
    services = require_admin(request)
    body = await read_body(request, NewKey)
    issued = await asyncio.to_thread(
        services.tenants.issue_key, request.match_info["client_id"], body.label
    )
    # The only time the key is ever shown.
    return json_response({"api_key": issued.key, **key_body(issued.info)}, 201)


async def list_keys(request: web.Request) -> web.Response:
    services = require_admin(request)
    keys = await asyncio.to_thread(services.tenants.list_keys, request.match_info["client_id"])
    return json_response({"keys": [key_body(k) for k in keys]})


async def revoke_key(request: web.Request) -> web.Response:
    services = require_admin(request)
    key = await asyncio.to_thread(services.tenants.revoke_key, request.match_info["key_id"])
    return json_response(key_body(key))


def register(app: web.Application) -> None:
    r = app.router
    r.add_post(f"{PREFIX}/clients", create_client)
    r.add_get(f"{PREFIX}/clients", list_clients)
    r.add_get(f"{PREFIX}/clients/{{client_id}}", get_client)
    r.add_patch(f"{PREFIX}/clients/{{client_id}}", update_client)
    r.add_post(f"{PREFIX}/clients/{{client_id}}/keys", issue_key)
    r.add_get(f"{PREFIX}/clients/{{client_id}}/keys", list_keys)
    r.add_delete(f"{PREFIX}/keys/{{key_id}}", revoke_key)
