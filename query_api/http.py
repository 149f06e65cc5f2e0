"""What every route shares: the typed services, JSON bodies, error mapping, bearer tokens.

Handlers raise the categories of :mod:`core.errors`; one middleware turns them into HTTP status
codes and FastAPI-shaped bodies (``{"detail": ...}``), so every route answers errors the same
way. Routes import this module; nothing here imports a route.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from aiohttp import web
from pydantic import BaseModel, SecretStr
from pydantic import ValidationError as PydanticValidationError

from core.decode import Limits
from core.errors import (
    Conflict,
    Forbidden,
    LlmhubError,
    NotFound,
    TooManyRequests,
    Unauthorized,
    Unavailable,
    ValidationFailed,
    problem,
)
from core.settings import Settings
from query_api.auth import AuthGuard
from query_api.reports import BillingReports
from storage import Storage

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Publisher(Protocol):
    """Sends validated events to the broker (the HTTP ingest route's way in)."""

    async def send_encoded(self, encoded: Iterable[tuple[bytes, bytes]]) -> int:
        """Send (key, value) pairs; return once the broker acknowledged every one."""
        ...


class HealthVerdict(Protocol):
    """Whether a component is alive and ready; ``details`` only for the admin."""

    @property
    def live(self) -> bool: ...

    @property
    def ready(self) -> bool: ...

    @property
    def reason(self) -> str: ...

    @property
    def details(self) -> dict[str, Any]: ...


class IngestStatus(Protocol):
    """The in-process sink, as the health routes see it."""

    def status(self) -> dict[str, Any]: ...

    def health(self) -> HealthVerdict: ...


@dataclass
class Services:
    """Everything handlers need, built once by the entry point and passed in."""

    settings: Settings
    storage: Storage
    reports: BillingReports
    # Set by the entry point when a broker is configured / a sink runs in this process.
    publisher: Publisher | None = None
    ingest: IngestStatus | None = None
    guard: AuthGuard = field(init=False)

    def __post_init__(self) -> None:
        self.guard = AuthGuard(self.storage.tenants, self.settings.api)

    @property
    def limits(self) -> Limits:
        return Limits.from_settings(self.settings.worker)


SERVICES = web.AppKey("services", Services)


def json_response(body: BaseModel | dict[str, Any], status: int = 200) -> web.Response:
    data = body.model_dump() if isinstance(body, BaseModel) else body
    return web.Response(
        body=orjson.dumps(data, option=orjson.OPT_NAIVE_UTC),
        status=status,
        content_type="application/json",
    )


def require_bearer(request: web.Request, token: SecretStr | None, what: str, env: str) -> None:
    """Check ``Authorization: Bearer <token>``: 401/429 when wrong, 403 when ``what`` is off."""
    request.app[SERVICES].guard.bearer(
        request.headers.get("Authorization"), token, request.remote, what, env
    )


def has_bearer(request: web.Request, token: SecretStr | None) -> bool:
    """True when the request carries ``Authorization: Bearer <token>`` (constant time).

    For optional details (health): a wrong or missing token is not a failure to count.
    """
    if token is None:
        return False
    scheme, _, given = request.headers.get("Authorization", "").strip().partition(" ")
    # Headers may hold undecodable bytes: compare bytes, never raise.
    expected = token.get_secret_value().encode("utf-8", "replace")
    matches = hmac.compare_digest(given.strip().encode("utf-8", "replace"), expected)
    return scheme.lower() == "bearer" and matches


# Bodies up to this size are parsed and validated on the event loop; larger ones in a thread,
# so one large body does not stall every other request.
INLINE_BODY_BYTES = 64 * 1024


def parse_json(raw: bytes, model: type[BaseModel]) -> Any:
    """``raw`` validated by ``model``; 422 naming every problem otherwise."""
    try:
        data = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed(
            [problem(["body"], f"not valid JSON: {exc}", "json_invalid")]
        ) from exc
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        raise ValidationFailed(
            [
                problem(["body", *e["loc"]], e["msg"], e["type"])
                for e in exc.errors(include_url=False, include_input=False)
            ]
        ) from exc


async def read_json(request: web.Request, model: type[BaseModel]) -> Any:
    """The request body validated by ``model``; 422 naming every problem otherwise."""
    raw = await request.read()
    if len(raw) <= INLINE_BODY_BYTES:
        return parse_json(raw, model)
    return await asyncio.to_thread(parse_json, raw, model)


_STATUS: dict[type[LlmhubError], int] = {
    NotFound: 404,
    Unauthorized: 401,
    Forbidden: 403,
    Conflict: 409,
    TooManyRequests: 429,
    Unavailable: 503,
}


def error_response(exc: LlmhubError) -> web.Response:
    if isinstance(exc, ValidationFailed):
        return json_response({"detail": exc.errors}, 422)
    status = _STATUS.get(type(exc), 400)
    # One answer for a log that is missing or someone else's: never say which.
    detail = "Not Found" if isinstance(exc, NotFound) else str(exc)
    response = json_response({"detail": detail}, status)
    if status == 401:
        response.headers["WWW-Authenticate"] = "ApiKey"
    if isinstance(exc, TooManyRequests):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except LlmhubError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status >= 400:
            return json_response({"detail": exc.reason}, exc.status)
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_response({"detail": "Internal Server Error"}, 500)
