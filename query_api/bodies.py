"""Response bodies of the billing API: every answer is built from these models.

Money is a decimal string with 9 places (nano-USD), never a JSON float: a client that parses it
with a decimal type gets the exact amount. Ratios and averages are plain numbers. Only
``UsageReportResponse`` is referenced by the OpenAPI document's operations (the seed's client
returns a plain ``object`` for the other five); the others are published as components.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from core.calendar import GroupBy

Money = str


class Period(BaseModel):
    start: datetime = Field(description="Inclusive start (UTC).")
    end: datetime = Field(description="Exclusive end (UTC).")


class UsageMetrics(BaseModel):
    cost_usd: Money = Field(description="Exact cost in USD, 9 decimal places.")
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = Field(description="Part of input_tokens served from cache.")
    reasoning_tokens: int = Field(description="Part of output_tokens spent reasoning.")
    total_tokens: int = Field(description="input_tokens + output_tokens.")
    calls: int
    successes: int
    failures: int
    success_rate: float = Field(description="successes / calls, 0 when there were no calls.")
    avg_latency_ms: float
    unpriced_calls: int = Field(
        description="Calls whose model had no price: counted, not costed (cost 0 in cost_usd)."
    )


class UsageBucket(UsageMetrics):
    start: datetime
    end: datetime


# Every answer ends with these two (declared last in each model: the field order is the
# documented order, and the generated client's repr follows it).
AsOf = Annotated[
    datetime | None,
    Field(description="Newest stored event of this client: the data is complete up to here."),
]


class UsageReportResponse(BaseModel):
    """Usage of one client in a period, one entry per time bucket (empty buckets included)."""

    client_id: str
    period: Period
    group_by: GroupBy
    currency: Literal["USD"] = "USD"
    totals: UsageMetrics
    buckets: list[UsageBucket]
    as_of: AsOf
    generated_at: datetime


class ShareOfCost(UsageMetrics):
    cost_share: float = Field(description="This item's cost / the period's total cost.")


class ModelUsage(ShareOfCost):
    model: str


class ProviderUsage(ShareOfCost):
    provider: str
    models: list[ModelUsage]


class EndpointProviderUsage(ShareOfCost):
    provider: str


class EndpointUsage(ShareOfCost):
    endpoint: str
    providers: list[EndpointProviderUsage]


class _Breakdown(BaseModel):
    client_id: str
    period: Period
    currency: Literal["USD"] = "USD"
    totals: UsageMetrics


class ProviderBreakdownResponse(_Breakdown):
    providers: list[ProviderUsage]
    as_of: AsOf
    generated_at: datetime


class EndpointBreakdownResponse(_Breakdown):
    endpoints: list[EndpointUsage]
    as_of: AsOf
    generated_at: datetime


class BudgetAlert(BaseModel):
    threshold_percent: int
    threshold_usd: Money
    level: Literal["warning", "exceeded"]
    message: str


class CurrentMonthResponse(BaseModel):
    client_id: str
    month: str = Field(description="YYYY-MM (UTC).")
    period: Period
    currency: Literal["USD"] = "USD"
    spend_usd: Money
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    reasoning_tokens: int
    total_tokens: int
    calls: int
    successes: int
    failures: int
    success_rate: float
    avg_latency_ms: float
    unpriced_calls: int
    projected_month_end_usd: Money
    monthly_budget_usd: Money | None
    alert_thresholds: list[int]
    remaining_usd: Money | None
    percent_used: float | None
    status: Literal["ok", "warning", "exceeded"]
    alerts: list[BudgetAlert]
    as_of: AsOf
    generated_at: datetime


class LogItem(BaseModel):
    log_id: str
    occurred_at: datetime
    provider: str
    model: str
    endpoint: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    reasoning_tokens: int
    total_tokens: int
    cost_usd: Money | None = Field(description="None when the model had no price (unpriced).")
    cost_source: Literal["provider", "catalog", "unpriced"]
    latency_ms: int
    success: bool
    status_code: int | None
    error_type: str | None
    request_id: str | None
    end_user_id: str | None


class LogFilters(BaseModel):
    provider: str | None
    endpoint: str | None
    success: bool | None


class LogsResponse(BaseModel):
    client_id: str
    items: list[LogItem]
    total: int
    limit: int
    offset: int
    has_more: bool
    filters: LogFilters
    as_of: AsOf
    generated_at: datetime


class LogSource(BaseModel):
    kind: str
    partition: int | None
    offset: int | None


class LogDetailResponse(LogItem):
    client_id: str
    ingested_at: datetime
    price_version: str | None
    error_message: str | None
    request_metadata: dict[str, Any]
    response_metadata: dict[str, Any]
    schema_version: int
    source: LogSource


class ValidationError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class HTTPValidationError(BaseModel):
    detail: list[ValidationError] = Field(default_factory=list)
