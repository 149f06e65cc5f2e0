"""Getting events in over HTTP.

- ``POST /ingest/v1/events`` (service ingest token): for producers that cannot speak Kafka.
  One event or a JSON array; all are validated first (any problem: 422, nothing published),
  then published to Kafka, and the answer comes only after the broker acknowledged them all.
- ``POST /admin/v1/events/import`` (admin token): bulk JSON Lines straight through the same
  decode/validate/price/store path as the Kafka sink (:mod:`core.decode`, then storage);
  invalid lines
  are reported back with every problem, valid ones stored.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from core.decode import Accepted, Limits, SourceRecord, decode_batch, encode
from core.errors import Unavailable, ValidationFailed, problem
from query_api.http import SERVICES, json_response, require_bearer
from query_api.routes.admin import PREFIX, require_admin
from storage import Storage, WriteResult

IMPORT_BATCH = 5_000
MAX_INGEST_EVENTS = 10_000
MAX_REPORTED_REJECTIONS = 1_000


def store_isolating(
    storage: Storage, accepted: list[Accepted]
) -> tuple[list[WriteResult], list[tuple[Accepted, str]]]:
    """Write ``accepted``; if storage refuses the chunk, find the events it refuses.

    The chunk is split in halves until each refused event is alone, and the others are stored.
    Storage that cannot answer at all is not the events' fault: that is a 503 (nothing is
    stored twice on a retry: writes drop event ids already stored).
    """
    try:
        return [storage.events.write(accepted, "import")], []
    except Exception as exc:
        try:
            storage.ping()
        except Exception as down:
            raise Unavailable(f"storage unavailable: {down}") from exc
        if len(accepted) == 1:
            return [], [(accepted[0], f"storage refused this event: {exc}")]
    middle = len(accepted) // 2
    left = store_isolating(storage, accepted[:middle])
    right = store_isolating(storage, accepted[middle:])
    return left[0] + right[0], left[1] + right[1]


async def import_events(request: web.Request) -> web.Response:
    """POST JSON Lines; answers counts and the rejected lines with their reasons."""
    services = require_admin(request)
    counts = {"received": 0, "inserted": 0, "duplicates": 0, "unpriced": 0, "rejected": 0}
    rejected: list[dict[str, Any]] = []
    batch: list[SourceRecord] = []
    line_no = 0

    async def flush() -> None:
        # Decoding 5,000 lines takes tens of milliseconds: off the event loop.
        decoded = await asyncio.to_thread(decode_batch, list(batch), services.limits)
        for r in decoded.rejected:
            counts["rejected"] += 1
            if len(rejected) < MAX_REPORTED_REJECTIONS:
                rejected.append({"line": r.record.offset, "reason": r.reason, "errors": r.errors})
        if decoded.accepted:
            results, refused = await asyncio.to_thread(
                store_isolating, services.storage, decoded.accepted
            )
            for result in results:
                counts["inserted"] += result.inserted
                counts["duplicates"] += result.duplicates
                counts["unpriced"] += result.unpriced
            for accepted, reason in refused:
                counts["rejected"] += 1
                if len(rejected) < MAX_REPORTED_REJECTIONS:
                    problems = [problem([], reason, "not_storable")]
                    line = accepted.record.offset
                    rejected.append({"line": line, "reason": "not_storable", "errors": problems})
        batch.clear()

    while True:
        line = await request.content.readline()
        if not line:
            break
        line_no += 1
        if not line.strip():
            continue
        counts["received"] += 1
        # The line number rides in the offset field: it is this source's position.
        batch.append(SourceRecord(line.rstrip(b"\r\n"), "import", -1, line_no))
        if len(batch) >= IMPORT_BATCH:
            await flush()
    if batch:
        await flush()
    return json_response({**counts, "rejections": rejected})


def validate_events(raw: bytes, limits: Limits) -> tuple[list[tuple[bytes, bytes]], list[str]]:
    """One event or a JSON array of them, encoded for Kafka, and their event ids.

    Raises ValidationFailed naming every problem of every event.
    """
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed(
            [problem(["body"], f"not valid JSON: {exc}", "json_invalid")]
        ) from exc
    events = body if isinstance(body, list) else [body]
    if not 1 <= len(events) <= MAX_INGEST_EVENTS:
        msg = f"send 1 to {MAX_INGEST_EVENTS} events"
        raise ValidationFailed([problem(["body"], msg, "length")])
    encoded, errors = [], []
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            errors.append(problem(["body", index], "must be an object", "type"))
            continue
        try:
            encoded.append(encode(event, limits))
        except ValidationFailed as exc:
            errors.extend({**e, "loc": ["body", index, *e["loc"]]} for e in exc.errors)
        except Exception as exc:
            # e.g. metadata nested deeper than the JSON encoder allows: the event's fault.
            msg = f"cannot be encoded: {exc}"
            errors.append(problem(["body", index], msg, "unencodable"))
    if errors:
        raise ValidationFailed(errors)
    return encoded, [str(orjson.loads(value)["event_id"]) for _, value in encoded]


async def ingest_events(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    require_bearer(
        request, services.settings.api.ingest_token, "HTTP ingest", "LLMHUB_API_INGEST_TOKEN"
    )
    # Up to MAX_INGEST_EVENTS events are parsed and validated in a worker thread: a large
    # body must not stall the event loop that serves every other request.
    raw = await request.read()
    encoded, ids = await asyncio.to_thread(validate_events, raw, services.limits)
    publisher = services.publisher
    if publisher is None:
        raise Unavailable("no Kafka broker configured (LLMHUB_KAFKA_BOOTSTRAP)")
    try:
        await publisher.send_encoded(encoded)
    except Exception as exc:
        raise Unavailable(f"the broker did not acknowledge the events: {exc}") from exc
    return json_response({"accepted": len(ids), "event_ids": ids}, 202)


def register(app: web.Application) -> None:
    app.router.add_post(f"{PREFIX}/events/import", import_events)
    app.router.add_post("/ingest/v1/events", ingest_events)
