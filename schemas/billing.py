"""Response bodies of the billing API.

Money is a decimal string with 9 places (nano-USD), never a JSON float: a client that parses it
with a decimal type gets the exact amount. Ratios and averages are plain numbers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

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


class UsageReportResponse(BaseModel):
    """Usage of one client in a period, one entry per time bucket (empty buckets included)."""

    client_id: str
    period: Period
    group_by: Literal["hour", "day", "month"]
    currency: Literal["USD"] = "USD"
    totals: UsageMetrics
    buckets: list[UsageBucket]
    as_of: datetime | None = Field(
        description="Newest stored event of this client: the data is complete up to here."
    )
    generated_at: datetime


class ValidationError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class HTTPValidationError(BaseModel):
    detail: list[ValidationError] = Field(default_factory=list)
