"""The OpenAPI 3.1 document served at ``/openapi.json``.

Built from :mod:`query_api.contract` (operations, parameters) and the pydantic response models,
in the shape FastAPI produces, so openapi-generator makes the same ``BillingApi`` the seed has:
same method names (operationIds), parameters, and ``object`` / ``UsageReportResponse`` returns.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from core import utc
from query_api import bodies
from query_api.contract import OPERATIONS, Operation

_REF = "#/components/schemas/{model}"
# Every body the API serves is documented; only UsageReportResponse is referenced by an
# operation, because the seed's generated client returns a plain object for the other five.
_COMPONENTS = (
    bodies.UsageReportResponse,
    bodies.ProviderBreakdownResponse,
    bodies.EndpointBreakdownResponse,
    bodies.CurrentMonthResponse,
    bodies.LogsResponse,
    bodies.LogDetailResponse,
    bodies.HTTPValidationError,
)


# Declared here rather than on each operation: a security requirement or a 401/404/429 entry
# in an operation's responses changes the generated client's docs, which must stay the
# seed's BillingApi byte for byte (tests/integration/test_generated_client.py). Every seed
# operation can answer 401 and 429; log details also 404.
SECURITY_SCHEMES = {
    "APIKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": "A client's API key, llmh_<key_id>_<secret>.",
    }
}
_DETAIL = {
    "application/json": {
        "schema": {
            "type": "object",
            "properties": {"detail": {"type": "string"}},
            "required": ["detail"],
        }
    }
}
ERROR_RESPONSES: dict[str, dict[str, Any]] = {
    "401": {"description": "Missing, unknown or revoked API key", "content": _DETAIL},
    "404": {
        "description": "No such log for this client (unknown, or another client's)",
        "content": _DETAIL,
    },
    "429": {
        "description": "Too many failed authentications from this address or for this key",
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before trying again",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
        "content": _DETAIL,
    },
}
_RESPONSE_NAMES = {"401": "Unauthorized", "404": "NotFound", "429": "TooManyRequests"}


def _operation(op: Operation) -> dict[str, Any]:
    # An untyped body ({}) makes generated clients return a plain ``object``, as in the seed.
    body_schema: dict[str, Any] = (
        {"$ref": _REF.format(model=op.response_ref)} if op.response_ref else {}
    )
    return {
        "tags": [op.tag],
        "summary": op.summary,
        "description": op.description,
        "operationId": op.operation_id,
        "parameters": [p.openapi() for p in op.params.params],
        "responses": {
            "200": {
                "description": "Successful Response",
                "content": {"application/json": {"schema": body_schema}},
            },
            "422": {
                "description": "Validation Error",
                "content": {
                    "application/json": {
                        "schema": {"$ref": _REF.format(model="HTTPValidationError")}
                    }
                },
            },
        },
    }


def build_openapi(server_url: str | None = None) -> dict[str, Any]:
    _, schemas = models_json_schema(
        [(model, "serialization") for model in _COMPONENTS],
        ref_template=_REF,
    )
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "llmhub billing API",
            "version": "1.0.0",
            "description": "Usage and cost of LLM calls per client. Authenticate with the "
            "`x-api-key` header (security scheme `APIKeyHeader`). Money is a decimal string in "
            "USD with 9 places. Besides 200 and 422 every operation can answer 401 and 429 "
            "(with `Retry-After`), log details also 404: see `components.responses`. Period "
            f"bounds must lie from {utc.SUPPORTED_RANGE}.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "responses": {_RESPONSE_NAMES[code]: r for code, r in ERROR_RESPONSES.items()},
            "securitySchemes": SECURITY_SCHEMES,
        },
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc
