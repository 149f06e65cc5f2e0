"""A client's exports and monthly statements (``x-api-key``), beside the six seed operations.

New capabilities are new endpoints, never new parameters on the seed's six:

- ``GET /api/v1/llm/billing/exports/logs``: every call of a period as CSV or JSON Lines, with
  the logs endpoint's filters (provider, endpoint, success), oldest first, streamed;
- ``GET /api/v1/llm/billing/exports/usage``: usage buckets (hour/day/month) of a period,
  optionally split by provider/model/endpoint, streamed;
- ``GET /api/v1/llm/billing/statements/{month}``: the month's statement, JSON or CSV.

Periods default as in the usage endpoints (the 30 days before now) and are half-open.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from core import utc
from core.calendar import GroupBy
from core.errors import Unauthorized, ValidationFailed, problem
from query_api import export_rows
from query_api.http import SERVICES, Services, json_response
from query_api.params import Param, ParamSet
from query_api.statements import CSV_FIELDS, Statements, csv_rows, parse_month
from query_api.streaming import stream_response
from storage import Dimension, ExportFilter

PREFIX = "/api/v1/llm/billing"
DEFAULT_PERIOD = timedelta(days=30)
_STR: dict[str, Any] = {"type": "string"}
_KEY = Param("x-api-key", "header", str, _STR)
_DATES = [
    Param("start_date", "query", datetime | None, _STR, None),
    Param("end_date", "query", datetime | None, _STR, None),
]
_DIMENSIONS: tuple[Dimension, ...] = ("provider", "model", "endpoint")


def _one_of(name: str, allowed: tuple[str, ...]) -> Any:
    def check(values: dict[str, Any]) -> list[tuple[str, str]]:
        if values[name] not in allowed:
            return [(name, f"must be one of: {', '.join(allowed)}")]
        return []

    return check


def _split(values: dict[str, Any]) -> list[tuple[str, str]]:
    given = [d.strip() for d in (values["by"] or "").split(",") if d.strip()]
    wrong = [d for d in given if d not in _DIMENSIONS]
    if wrong or len(set(given)) != len(given):
        return [("by", f"a comma-separated subset of: {', '.join(_DIMENSIONS)}")]
    return []


LOG_EXPORT = ParamSet(
    [
        _KEY,
        *_DATES,
        Param("format", "query", str, _STR, "csv"),
        Param("provider", "query", str | None, _STR, None),
        Param("endpoint", "query", str | None, _STR, None),
        Param("success", "query", bool | None, _STR, None),
    ],
    checks=(_one_of("format", ("csv", "jsonl")),),
)
USAGE_EXPORT = ParamSet(
    [
        _KEY,
        *_DATES,
        Param("format", "query", str, _STR, "csv"),
        Param("group_by", "query", str, _STR, "day"),
        Param("by", "query", str | None, _STR, None),
    ],
    checks=(_one_of("format", ("csv", "jsonl")), _one_of("group_by", tuple(GroupBy)), _split),
)
STATEMENT = ParamSet(
    [_KEY, Param("month", "path", str, _STR), Param("format", "query", str, _STR, "json")],
    checks=(_one_of("format", ("json", "csv")),),
)


def period(services: Services, values: dict[str, Any]) -> tuple[datetime, datetime]:
    end = utc.aware(values["end_date"]) if values["end_date"] else services.reports.clock()
    start = utc.aware(values["start_date"]) if values["start_date"] else end - DEFAULT_PERIOD
    if start >= end:
        msg = (
            "start_date must be earlier than end_date "
            "(end defaults to now, start to 30 days before end)"
        )
        raise ValidationFailed([problem(["query", "start_date"], msg, "value_error")])
    return start, end


async def authenticate(services: Services, api_key: str) -> str:
    client_id = await asyncio.to_thread(services.storage.tenants.authenticate, api_key)
    if client_id is None:
        raise Unauthorized("invalid or revoked API key")
    return client_id


def _stamp(value: datetime) -> str:
    return utc.aware(value).strftime("%Y%m%dT%H%M%SZ")


async def export_logs(request: web.Request) -> web.StreamResponse:
    v = LOG_EXPORT.parse(request.headers, request.query, request.match_info)
    services = request.app[SERVICES]
    start, end = period(services, v)
    client_id = await authenticate(services, v["x-api-key"])
    flt = ExportFilter(
        client_id,
        utc.naive(start),
        utc.naive(end),
        provider=v["provider"].lower() if v["provider"] else None,
        endpoint=v["endpoint"].lower() if v["endpoint"] else None,
        success=v["success"],
    )
    rows = await asyncio.to_thread(services.storage.exports.log_count, flt)
    encoder = export_rows.Encoder(v["format"], export_rows.LOG_FIELDS)

    @contextlib.contextmanager
    def chunks() -> Iterator[Iterator[bytes]]:
        with services.storage.exports.log_blocks(flt) as blocks:
            records = export_rows.log_records(blocks)
            yield _with_header(encoder, (encoder.encode(r) for r in records))

    name = f"{client_id}-logs-{_stamp(start)}-{_stamp(end)}.{v['format']}"
    return await stream_response(
        request,
        chunks,
        export_rows.CONTENT_TYPES[v["format"]],
        name,
        {"X-Total-Rows": str(rows)},
    )


async def export_usage(request: web.Request) -> web.StreamResponse:
    v = USAGE_EXPORT.parse(request.headers, request.query, request.match_info)
    services = request.app[SERVICES]
    start, end = period(services, v)
    client_id = await authenticate(services, v["x-api-key"])
    group_by = GroupBy(v["group_by"])
    given = [d.strip() for d in (v["by"] or "").split(",") if d.strip()]
    dims = tuple(d for d in _DIMENSIONS if d in given)  # a fixed order, whatever was asked
    encoder = export_rows.Encoder(v["format"], export_rows.usage_fields(dims))
    lo, hi = utc.naive(start), utc.naive(end)

    @contextlib.contextmanager
    def chunks() -> Iterator[Iterator[bytes]]:
        with services.storage.exports.usage_blocks(client_id, lo, hi, group_by, dims) as blocks:
            records = export_rows.usage_records(blocks, start, end, group_by, dims)
            yield _with_header(encoder, (encoder.encode(r) for r in records))

    name = f"{client_id}-usage-{group_by}-{_stamp(start)}-{_stamp(end)}.{v['format']}"
    return await stream_response(request, chunks, export_rows.CONTENT_TYPES[v["format"]], name)


def _with_header(encoder: export_rows.Encoder, body: Iterator[bytes]) -> Iterator[bytes]:
    # CSV starts with its header even when the period has no rows.
    yield encoder.header()
    yield from body


def statement_response(statement: dict[str, Any], fmt: str) -> web.Response:
    if fmt == "json":
        return json_response(statement)
    encoder = export_rows.Encoder("csv", CSV_FIELDS)
    body = encoder.header() + encoder.encode(csv_rows(statement))
    name = f"{statement['client_id']}-statement-{statement['month']}.csv"
    return web.Response(
        body=body,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def statement(request: web.Request) -> web.Response:
    v = STATEMENT.parse(request.headers, request.query, request.match_info)
    month = parse_month(v["month"], ["path", "month"])
    services = request.app[SERVICES]
    client_id = await authenticate(services, v["x-api-key"])

    def build() -> dict[str, Any]:
        client = services.storage.tenants.require_client(client_id)
        return Statements(services.storage, services.reports.clock).statement(client, month)

    return statement_response(await asyncio.to_thread(build), v["format"])


def register(app: web.Application) -> None:
    app.router.add_get(f"{PREFIX}/exports/logs", export_logs)
    app.router.add_get(f"{PREFIX}/exports/usage", export_usage)
    app.router.add_get(f"{PREFIX}/statements/{{month}}", statement)
