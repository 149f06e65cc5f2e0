"""Admin API: clients, budgets and API keys. Protected by ``LLMHUB_API_ADMIN_TOKEN``.

With the embedded engine only the running service may open the data directory, so the admin
CLI (``llmhub-admin``) calls these routes instead of touching storage itself.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Annotated, Any

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, field_validator

from core.money import money
from core.tenancy import (
    CLIENT_ID_RULE,
    DEFAULT_THRESHOLDS,
    MAX_BUDGET_USD,
    MAX_THRESHOLD,
    MAX_THRESHOLDS,
    MIN_THRESHOLD,
    ApiKey,
    Client,
    client_id_problems,
)
from query_api.http import SERVICES, Services, json_response, read_json, require_bearer

PREFIX = "/admin/v1"

# The rules of core.tenancy, declared so one 422 names every problem of a body at once
# (the store checks them again). A JSON number or a decimal string both give a Decimal.
Budget = Annotated[
    Decimal,
    Field(ge=0, le=MAX_BUDGET_USD, decimal_places=9, allow_inf_nan=False),
]
Thresholds = Annotated[
    list[Annotated[StrictInt, Field(ge=MIN_THRESHOLD, le=MAX_THRESHOLD)]],
    Field(max_length=MAX_THRESHOLDS),
]
Name = Annotated[str, Field(min_length=1, max_length=200)]


def _client_id(value: str) -> str:
    if client_id_problems(value):
        raise ValueError(CLIENT_ID_RULE)
    return value


ClientId = Annotated[str, AfterValidator(_client_id)]


class NewClient(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: ClientId
    name: Name
    monthly_budget_usd: Budget | None = None
    alert_thresholds: Thresholds = Field(default_factory=lambda: list(DEFAULT_THRESHOLDS))


class ClientUpdate(BaseModel):
    """Fields left out stay as they are; ``monthly_budget_usd: null`` removes the budget.

    0 and [] are values (a zero budget, no alerts), never "unchanged".
    """

    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    monthly_budget_usd: Budget | None = None
    alert_thresholds: Thresholds | None = None

    @field_validator("name", "alert_thresholds", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Runs only on fields that were sent: null here is a mistake, not "unchanged".
        if value is None:
            raise ValueError("cannot be null (leave the field out to keep it)")
        return value


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(default="", max_length=200)


def require_admin(request: web.Request) -> Services:
    services = request.app[SERVICES]
    require_bearer(
        request, services.settings.api.admin_token, "admin API", "LLMHUB_API_ADMIN_TOKEN"
    )
    return services


def client_body(client: Client) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "name": client.name,
        # Money as everywhere: a 9-place decimal string ("0E-9" is what str() made of zero).
        "monthly_budget_usd": (
            money(client.monthly_budget_usd) if client.monthly_budget_usd is not None else None
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
    body = await read_json(request, NewClient)
    client = await asyncio.to_thread(
        services.storage.tenants.create_client,
        body.client_id,
        body.name,
        body.monthly_budget_usd,
        tuple(body.alert_thresholds),
    )
    return json_response(client_body(client), 201)


async def list_clients(request: web.Request) -> web.Response:
    services = require_admin(request)
    clients = await asyncio.to_thread(services.storage.tenants.list_clients)
    return json_response({"clients": [client_body(c) for c in clients]})


async def get_client(request: web.Request) -> web.Response:
    services = require_admin(request)
    client = await asyncio.to_thread(
        services.storage.tenants.require_client, request.match_info["client_id"]
    )
    return json_response(client_body(client))


async def update_client(request: web.Request) -> web.Response:
    services = require_admin(request)
    body = await read_json(request, ClientUpdate)
    fields = body.model_fields_set
    client = await asyncio.to_thread(
        lambda: services.storage.tenants.update_client(
            request.match_info["client_id"],
            name=body.name,
            monthly_budget_usd=body.monthly_budget_usd,
            clear_budget="monthly_budget_usd" in fields and body.monthly_budget_usd is None,
            alert_thresholds=(
                tuple(body.alert_thresholds) if body.alert_thresholds is not None else None
            ),
        )
    )
    return json_response(client_body(client))


async def issue_key(request: web.Request) -> web.Response:
    services = require_admin(request)
    body = await read_json(request, NewKey)
    issued = await asyncio.to_thread(
        services.storage.tenants.issue_key, request.match_info["client_id"], body.label
    )
    # The only time the key is ever shown.
    return json_response({"api_key": issued.key, **key_body(issued.info)}, 201)


async def list_keys(request: web.Request) -> web.Response:
    services = require_admin(request)
    keys = await asyncio.to_thread(
        services.storage.tenants.list_keys, request.match_info["client_id"]
    )
    return json_response({"keys": [key_body(k) for k in keys]})


async def revoke_key(request: web.Request) -> web.Response:
    services = require_admin(request)
    key = await asyncio.to_thread(services.storage.tenants.revoke_key, request.match_info["key_id"])
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
