"""Admin routes for the people who read the numbers (``Authorization: Bearer`` admin token):

- ``POST /admin/v1/sql``: read-only SQL on the typed tables, bounded in time and result size,
  answered as CSV, TSV, JSON or a pretty table (``llmhub-admin sql``);
- ``GET /admin/v1/overview``: every client's month to date with its budget status (the
  dashboard's admin view);
- ``GET /admin/v1/clients/{client_id}/statements/{month}``: one client's monthly statement;
- ``GET /admin/v1/statements/{month}``: every client's statement, streamed as JSON Lines (one
  statement a line) or CSV (the statement rows of every client).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from core.errors import ValidationFailed, problem
from query_api import export_rows
from query_api.http import json_response, read_json
from query_api.routes.admin import PREFIX, require_admin
from query_api.routes.exports import statement_response
from query_api.statements import CSV_FIELDS, Statements, csv_rows, parse_month
from query_api.streaming import stream_response
from storage import SqlLimits

SQL_CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "tsv": "text/tab-separated-values; charset=utf-8",
    "json": "application/json",
    "pretty": "text/plain; charset=utf-8",
}


class SqlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sql: str = Field(min_length=1, max_length=100_000)
    format: Literal["csv", "tsv", "json", "pretty"] = "pretty"


async def run_sql(request: web.Request) -> web.Response:
    services = require_admin(request)
    body = await read_json(request, SqlRequest)
    api = services.settings.api
    limits = SqlLimits(api.sql_max_execution_s, api.sql_max_result_rows, api.sql_max_result_bytes)
    result = await asyncio.to_thread(services.storage.sql.run, body.sql, body.format, limits)
    return web.Response(body=result, headers={"Content-Type": SQL_CONTENT_TYPES[body.format]})


async def overview(request: web.Request) -> web.Response:
    services = require_admin(request)
    statements = Statements(services.storage, services.reports.clock)
    return json_response(await asyncio.to_thread(statements.overview))


def _format(request: web.Request, allowed: tuple[str, ...]) -> str:
    fmt = request.query.get("format", allowed[0])
    if fmt not in allowed:
        msg = f"must be one of: {', '.join(allowed)}"
        raise ValidationFailed([problem(["query", "format"], msg, "value_error")])
    return fmt


async def client_statement(request: web.Request) -> web.Response:
    services = require_admin(request)
    fmt = _format(request, ("json", "csv"))
    month = parse_month(request.match_info["month"], ["path", "month"])

    def build() -> dict[str, Any]:
        client = services.storage.tenants.require_client(request.match_info["client_id"])
        return Statements(services.storage, services.reports.clock).statement(client, month)

    return statement_response(await asyncio.to_thread(build), fmt)


async def all_statements(request: web.Request) -> web.StreamResponse:
    services = require_admin(request)
    fmt = _format(request, ("jsonl", "csv"))
    month = parse_month(request.match_info["month"], ["path", "month"])
    statements = Statements(services.storage, services.reports.clock)
    encoder = export_rows.Encoder("csv" if fmt == "csv" else "jsonl", CSV_FIELDS)

    def chunks() -> Iterator[bytes]:
        yield encoder.header()
        for s in statements.all_statements(month):
            yield encoder.encode(csv_rows(s) if fmt == "csv" else [s])

    name = f"statements-{month.strftime('%Y-%m')}.{fmt}"
    return await stream_response(
        request,
        lambda: contextlib.nullcontext(chunks()),
        export_rows.CONTENT_TYPES[fmt],
        name,
    )


def register(app: web.Application) -> None:
    r = app.router
    r.add_post(f"{PREFIX}/sql", run_sql)
    r.add_get(f"{PREFIX}/overview", overview)
    r.add_get(f"{PREFIX}/clients/{{client_id}}/statements/{{month}}", client_statement)
    r.add_get(f"{PREFIX}/statements/{{month}}", all_statements)
