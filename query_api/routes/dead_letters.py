"""Admin API for dead letters: list, count, replay and discard (admin token).

The sink writes each dead letter to the dead-letter topic (the source of truth, kept until
handled) and to the dead-letter table that these routes read:

- ``GET  /admin/v1/dead-letters?reason=&client_id=&status=open&limit=100&offset=0``
- ``GET  /admin/v1/dead-letters/counts?reason=&client_id=&status=open``
- ``POST /admin/v1/dead-letters/replay``  ``{"reason"?, "client_id"?, "keys"?, "limit"?}``:
  the original bytes go back to the generations topic (after the producer or the data was
  fixed); the rows become ``replayed``. A record refused again comes back as a new dead letter.
- ``POST /admin/v1/dead-letters/discard`` (same body): the rows become ``discarded``.

Replay and discard need at least one filter, so a bare call cannot act on everything.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import Unavailable, ValidationFailed, problem
from query_api.http import json_response, read_json
from query_api.routes.admin import PREFIX, require_admin
from storage import DeadLetter, DeadLetterFilter

MAX_ACTION = 10_000

Status = Literal["open", "replayed", "discarded", "any"]


class Listing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, min_length=1, max_length=200)
    client_id: str | None = Field(default=None, min_length=1, max_length=200)
    status: Status = "open"
    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=10_000_000)

    @property
    def filter(self) -> DeadLetterFilter:
        return DeadLetterFilter(
            self.reason, self.client_id, None if self.status == "any" else self.status
        )


class Action(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, min_length=1, max_length=200)
    client_id: str | None = Field(default=None, min_length=1, max_length=200)
    # Exact dead letters: [source_topic, source_partition, source_offset, source_index].
    keys: list[tuple[str, int, int, int]] | None = Field(default=None, max_length=MAX_ACTION)
    limit: int = Field(default=MAX_ACTION, ge=1, le=MAX_ACTION)


def _query(request: web.Request, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise ValidationFailed(
            [
                problem(["query", *e["loc"]], e["msg"], e["type"])
                for e in exc.errors(include_url=False, include_input=False)
            ]
        ) from exc


async def list_dead_letters(request: web.Request) -> web.Response:
    services = require_admin(request)
    q: Listing = _query(request, Listing)
    rows = await asyncio.to_thread(services.storage.dead_letters.page, q.filter, q.limit, q.offset)
    return json_response({"dead_letters": rows, "limit": q.limit, "offset": q.offset})


async def count_dead_letters(request: web.Request) -> web.Response:
    services = require_admin(request)
    q: Listing = _query(request, Listing)
    counts = await asyncio.to_thread(services.storage.dead_letters.counts, q.filter)
    return json_response({"counts": counts, "total": sum(c["count"] for c in counts)})


async def _chosen(request: web.Request) -> list[DeadLetter]:
    services = require_admin(request)
    body: Action = await read_json(request, Action)
    if body.reason is None and body.client_id is None and body.keys is None:
        msg = "name the dead letters: reason, client_id or keys"
        raise ValidationFailed([problem(["body"], msg, "missing")])
    table = services.storage.dead_letters
    chosen = await asyncio.to_thread(
        table.select, DeadLetterFilter(body.reason, body.client_id, "open"), body.limit
    )
    if body.keys is not None:
        wanted = set(body.keys)
        chosen = [d for d in chosen if d.key in wanted]
    return chosen


async def replay(request: web.Request) -> web.Response:
    services = require_admin(request)
    chosen = await _chosen(request)
    publisher = services.publisher
    if publisher is None:
        raise Unavailable("no Kafka broker configured (LLMHUB_KAFKA_BOOTSTRAP)")
    # A tombstone has nothing to replay: it can only be discarded.
    sendable = [d for d in chosen if d.value]
    try:
        await publisher.send_encoded((d.client_id.encode(), d.value) for d in sendable)
    except Exception as exc:
        raise Unavailable(f"the broker did not acknowledge the replay: {exc}") from exc
    table = services.storage.dead_letters
    marked = await asyncio.to_thread(table.mark, [d.key for d in sendable], "replayed")
    return json_response({"replayed": marked, "skipped_empty": len(chosen) - len(sendable)})


async def discard(request: web.Request) -> web.Response:
    services = require_admin(request)
    chosen = await _chosen(request)
    table = services.storage.dead_letters
    marked = await asyncio.to_thread(table.mark, [d.key for d in chosen], "discarded")
    return json_response({"discarded": marked})


def register(app: web.Application) -> None:
    r = app.router
    r.add_get(f"{PREFIX}/dead-letters", list_dead_letters)
    r.add_get(f"{PREFIX}/dead-letters/counts", count_dead_letters)
    r.add_post(f"{PREFIX}/dead-letters/replay", replay)
    r.add_post(f"{PREFIX}/dead-letters/discard", discard)
