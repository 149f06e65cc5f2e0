"""Getting events in over HTTP: the admin bulk import (JSON Lines).

The import goes through the same decode/validate/price/store pipeline as the Kafka sink
(:mod:`core.pipeline`); invalid lines are reported back with every problem, valid ones stored.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from core.pipeline import SourceRecord, decode_batch
from query_api.app import json_response
from query_api.routes.admin import PREFIX, require_admin

IMPORT_BATCH = 5_000
MAX_REPORTED_REJECTIONS = 1_000


async def import_events(request: web.Request) -> web.Response:
    """POST JSON Lines; answers counts and the rejected lines with their reasons."""
    services = require_admin(request)
    counts = {"received": 0, "inserted": 0, "duplicates": 0, "unpriced": 0, "rejected": 0}
    rejected: list[dict[str, Any]] = []
    batch: list[SourceRecord] = []
    line_no = 0

    async def flush() -> None:
        decoded = decode_batch(batch, services.limits)
        for r in decoded.rejected:
            counts["rejected"] += 1
            if len(rejected) < MAX_REPORTED_REJECTIONS:
                rejected.append({"line": r.record.offset, "reason": r.reason, "errors": r.errors})
        if decoded.accepted:
            result = await asyncio.to_thread(services.events.write, decoded.accepted, "import")
            counts["inserted"] += result.inserted
            counts["duplicates"] += result.duplicates
            counts["unpriced"] += result.unpriced
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


def register(app: web.Application) -> None:
    app.router.add_post(f"{PREFIX}/events/import", import_events)
