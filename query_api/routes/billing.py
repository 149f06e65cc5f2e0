"""The six seed endpoints. Each validates all its parameters, then resolves the API key."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from core import utc
from core.calendar import GroupBy
from core.errors import NotFound, ValidationFailed, problem
from query_api import contract
from query_api.http import SERVICES, Services, json_response
from storage import LogFilter

DEFAULT_PERIOD = timedelta(days=30)

Answer = Callable[[Services, str, dict[str, Any]], BaseModel]


def _period(s: Services, values: dict[str, Any]) -> tuple[datetime, datetime]:
    end = utc.aware(values["end_date"]) if values.get("end_date") else s.reports.clock()
    # The default start never reaches before the earliest time storage can hold.
    start = (
        utc.aware(values["start_date"])
        if values.get("start_date")
        else max(end - DEFAULT_PERIOD, utc.EARLIEST)
    )
    if start > end:
        # Only start_date given, and it is in the future (end defaults to now).
        msg = "start_date must not be later than end_date (end_date defaults to now)"
        raise ValidationFailed([problem(["query", "start_date"], msg, "value_error")])
    return start, end


def _summary(s: Services, client_id: str, v: dict[str, Any]) -> BaseModel:
    start, end = _period(s, v)
    group_by = GroupBy(v["group_by"])
    if group_by.bucket_count(start, end) > contract.MAX_BUCKETS:
        msg = (
            f"the period needs more than {contract.MAX_BUCKETS} {group_by} buckets: "
            "shorten it or group by a longer unit"
        )
        raise ValidationFailed([problem(["query", "group_by"], msg, "value_error")])
    return s.reports.summary(client_id, start, end, group_by)


def _by_provider(s: Services, client_id: str, v: dict[str, Any]) -> BaseModel:
    return s.reports.by_provider(client_id, *_period(s, v))


def _by_endpoint(s: Services, client_id: str, v: dict[str, Any]) -> BaseModel:
    return s.reports.by_endpoint(client_id, *_period(s, v))


def _current_month(s: Services, client_id: str, v: dict[str, Any]) -> BaseModel:
    return s.reports.current_month(client_id)


def _logs(s: Services, client_id: str, v: dict[str, Any]) -> BaseModel:
    flt = LogFilter(
        client_id,
        provider=v["provider"].lower() if v["provider"] else None,
        endpoint=v["endpoint"].lower() if v["endpoint"] else None,
        success=v["success"],
    )
    return s.reports.logs(flt, v["limit"], v["offset"])


def _log_details(s: Services, client_id: str, v: dict[str, Any]) -> BaseModel:
    try:
        log_id = uuid.UUID(v["log_id"])
    except ValueError:
        # No call has such an id: the same answer as an unknown or another client's id.
        raise NotFound("log not found") from None
    return s.reports.log_detail(client_id, log_id)


ANSWERS: dict[str, Answer] = {
    contract.SUMMARY.operation_id: _summary,
    contract.BY_PROVIDER.operation_id: _by_provider,
    contract.BY_ENDPOINT.operation_id: _by_endpoint,
    contract.CURRENT_MONTH.operation_id: _current_month,
    contract.LOGS.operation_id: _logs,
    contract.LOG_DETAILS.operation_id: _log_details,
}


def _handler(op: contract.Operation) -> Callable[[web.Request], Any]:
    answer = ANSWERS[op.operation_id]

    async def handle(request: web.Request) -> web.Response:
        values = op.params.parse(request.headers, request.query, request.match_info)
        services = request.app[SERVICES]
        body = await services.guard.with_api_key(
            values["x-api-key"],
            request.remote,
            lambda client_id: answer(services, client_id, values),
        )
        return json_response(body)

    handle.__name__ = op.operation_id
    return handle


def register(app: web.Application) -> None:
    for op in contract.OPERATIONS:
        app.router.add_route(op.method, op.path, _handler(op), name=op.operation_id)
