"""The seed contract: the six billing operations exactly as ``llmhub_generated`` calls them.

Paths, methods, operationIds, parameter names and places, types and defaults are copied from
the seed, ``docs/contract/BillingApi.md``; the OpenAPI document and request validation are
both built from this table, so they cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

from core import utc
from core.calendar import GroupBy
from query_api.params import Check, Param, ParamSet

MAX_LOG_LIMIT = 1000
MAX_LOG_OFFSET = 10_000_000
MAX_BUCKETS = 10_000

API_KEY = Param("x-api-key", "header", str, {"type": "string"})


# A bare number would be read as Unix seconds (or milliseconds): "20260101" as 1970-08-23.
_NUMBER = re.compile(r"\s*[-+]?[0-9._]+\s*")


def _not_a_number(value: Any) -> Any:
    if isinstance(value, str | int | float) and _NUMBER.fullmatch(str(value)):
        raise ValueError(
            "must be an ISO 8601 date-time such as 2026-01-31T00:00:00Z (numbers are not read "
            "as Unix times)"
        )
    return value


def _within_supported_range(value: datetime) -> datetime:
    if not utc.supported(value):
        raise ValueError(f"must be from {utc.SUPPORTED_RANGE} (inclusive, UTC)")
    return value


# A period bound: an ISO 8601 date-time (naive = UTC) within what storage and the calendar hold.
PeriodBound = Annotated[
    datetime, BeforeValidator(_not_a_number), AfterValidator(_within_supported_range)
]


def _dates(start_desc: str = "", end_desc: str = "") -> list[Param]:
    return [
        Param(
            "start_date",
            "query",
            PeriodBound,  # absent: None (defaults are not validated)
            {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
            default=None,
            description=start_desc,
        ),
        Param(
            "end_date",
            "query",
            PeriodBound,  # absent: None (defaults are not validated)
            {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
            default=None,
            description=end_desc,
        ),
    ]


def _period_order(values: dict[str, Any]) -> list[tuple[str, str]]:
    # Equal bounds are an empty period (half-open [start, end)): a valid question, zero answer.
    start, end = values.get("start_date"), values.get("end_date")
    if start is not None and end is not None and utc.aware(start) > utc.aware(end):
        return [("end_date", "end_date must not be earlier than start_date")]
    return []


def _group_by(values: dict[str, Any]) -> list[tuple[str, str]]:
    if values["group_by"] not in set(GroupBy):
        return [("group_by", f"must be one of: {', '.join(GroupBy)}")]
    return []


def _log_page(values: dict[str, Any]) -> list[tuple[str, str]]:
    problems = []
    if "limit" in values and not 1 <= values["limit"] <= MAX_LOG_LIMIT:
        problems.append(("limit", f"must be between 1 and {MAX_LOG_LIMIT}"))
    if "offset" in values and not 0 <= values["offset"] <= MAX_LOG_OFFSET:
        problems.append(("offset", f"must be between 0 and {MAX_LOG_OFFSET}"))
    return problems


@dataclass(frozen=True)
class Operation:
    operation_id: str
    path: str
    summary: str
    description: str
    params: ParamSet
    response_ref: str | None = None  # components schema of the 200 body; None = plain object
    method: str = "GET"
    tag: str = "billing"


_OPTIONAL_STR = {"anyOf": [{"type": "string"}, {"type": "null"}]}

SUMMARY = Operation(
    "get_usage_summary_api_v1_llm_billing_usage_summary_get",
    "/api/v1/llm/billing/usage/summary",
    "Get Usage Summary",
    "Get usage summary for the current client\n\n"
    "Returns aggregated usage data grouped by time period.\n"
    "Includes cost, token usage, call counts, and success rates.",
    ParamSet(
        [
            API_KEY,
            *_dates("Start date (defaults to 30 days ago)", "End date (defaults to now)"),
            Param(
                "group_by",
                "query",
                str,
                {"type": "string", "enum": list(GroupBy)},
                default="day",
                description="Group by: hour, day, month",
            ),
        ],
        checks=(_period_order, _group_by),
    ),
    response_ref="UsageReportResponse",
)

BY_PROVIDER = Operation(
    "get_usage_by_provider_api_v1_llm_billing_usage_by_provider_get",
    "/api/v1/llm/billing/usage/by-provider",
    "Get Usage By Provider",
    "Get usage breakdown by LLM provider\n\n"
    "Shows cost and usage distribution across Claude, OpenAI, Groq, etc.",
    ParamSet([API_KEY, *_dates()], checks=(_period_order,)),
)

BY_ENDPOINT = Operation(
    "get_usage_by_endpoint_api_v1_llm_billing_usage_by_endpoint_get",
    "/api/v1/llm/billing/usage/by-endpoint",
    "Get Usage By Endpoint",
    "Get usage breakdown by API endpoint\n\n"
    "Shows which features are used most (content generation, images, translation, etc.)",
    ParamSet([API_KEY, *_dates()], checks=(_period_order,)),
)

CURRENT_MONTH = Operation(
    "get_current_month_usage_api_v1_llm_billing_usage_current_month_get",
    "/api/v1/llm/billing/usage/current-month",
    "Get Current Month Usage",
    "Get current month usage summary with budget status\n\n"
    "Shows spending for current month and budget alerts if applicable.",
    ParamSet([API_KEY]),
)

LOGS = Operation(
    "get_generation_logs_api_v1_llm_billing_logs_get",
    "/api/v1/llm/billing/logs",
    "Get Generation Logs",
    "Get detailed generation logs\n\n"
    "Returns individual LLM API calls with full details.\n"
    "Useful for debugging and detailed analysis.",
    ParamSet(
        [
            API_KEY,
            Param(
                "limit",
                "query",
                int,
                {"type": "integer", "minimum": 1, "maximum": MAX_LOG_LIMIT},
                100,
                "Number of logs to return",
            ),
            Param(
                "offset",
                "query",
                int,
                {"type": "integer", "minimum": 0, "maximum": MAX_LOG_OFFSET},
                0,
                "Offset for pagination",
            ),
            Param("provider", "query", str | None, _OPTIONAL_STR, None, "Filter by provider"),
            Param("endpoint", "query", str | None, _OPTIONAL_STR, None, "Filter by endpoint"),
            Param(
                "success",
                "query",
                bool | None,
                {"anyOf": [{"type": "boolean"}, {"type": "null"}]},
                None,
                "Filter by success status",
            ),
        ],
        checks=(_log_page,),
    ),
)

LOG_DETAILS = Operation(
    "get_log_details_api_v1_llm_billing_logs_log_id_get",
    "/api/v1/llm/billing/logs/{log_id}",
    "Get Log Details",
    "Get detailed information for a specific log entry\n\nIncludes request/response metadata.",
    ParamSet([Param("log_id", "path", str, {"type": "string"}), API_KEY]),
)

OPERATIONS: tuple[Operation, ...] = (
    SUMMARY,
    BY_PROVIDER,
    BY_ENDPOINT,
    CURRENT_MONTH,
    LOGS,
    LOG_DETAILS,
)

__all__ = ["OPERATIONS", "Check", "Operation"]
