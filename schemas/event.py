"""The generation event: one LLM call made by the hub, as producers send it.

``event_id`` is the idempotency key: sending the same event twice is harmless. Token fields are
defined so nothing is counted twice: ``cached_input_tokens`` is the part of ``input_tokens`` that
was served from the prompt cache, ``reasoning_tokens`` the part of ``output_tokens`` spent on
reasoning. ``cost_usd`` is optional: when absent the pipeline prices the call from the catalog.

Validation runs on the ingest hot path, so constraints are declared (checked inside
pydantic-core) rather than written as Python validators wherever the two say the same.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

SCHEMA_VERSION = 1
# Published size limits (the defaults of LLMHUB_WORKER_MAX_EVENT_BYTES / _MAX_METADATA_BYTES).
DEFAULT_MAX_EVENT_BYTES = 64 * 1024
DEFAULT_MAX_METADATA_BYTES = 16 * 1024
# Largest value a UInt32 column holds; a token count above it is an error, not a wrap-around.
_UINT32_MAX = 2**32 - 1
# Largest cost a Decimal64(9) column holds for one call.
_MAX_COST = Decimal("999999999.999999999")
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$"

Name = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_NAME)]
# Grouping keys: "OpenAI" and "openai" must not become two providers on an invoice.
LowerName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=_NAME, to_lower=True)
]
Tokens = Annotated[int, Field(ge=0, le=_UINT32_MAX, strict=True)]
OptionalText = Annotated[str | None, Field(default=None, max_length=256)]
# At most nano-USD precision: that is what storage keeps, so finer input would be rounded.
Cost = Annotated[Decimal, Field(ge=0, le=_MAX_COST, decimal_places=9, allow_inf_nan=False)]


class GenerationEvent(BaseModel):
    """One LLM call. Unknown fields are rejected so a typo is an error, not a silent zero."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    schema_version: Literal[1] = Field(default=1, description="Version of this schema; only 1.")
    event_id: uuid.UUID = Field(description="Idempotency key: the same id is counted once.")
    client_id: Name = Field(description="Tenant (client application) the call is billed to.")
    occurred_at: AwareDatetime = Field(description="When the call was made; timezone required.")
    provider: LowerName = Field(description="LLM provider, e.g. openai, anthropic, groq.")
    model: Name = Field(description="Provider's model name, e.g. gpt-4o-mini.")
    endpoint: LowerName = Field(
        description="Hub feature that made the call: content_generation, translation, ..."
    )
    input_tokens: Tokens = Field(description="All prompt tokens, cached ones included.")
    output_tokens: Tokens = Field(description="All completion tokens, reasoning ones included.")
    cached_input_tokens: Tokens = Field(default=0, description="Part of input_tokens cached.")
    reasoning_tokens: Tokens = Field(default=0, description="Part of output_tokens reasoning.")
    cost_usd: Cost | None = Field(
        default=None,
        description="Provider-reported cost in USD (wins over the catalog); omit to price it. "
        "A decimal string keeps it exact.",
    )
    latency_ms: Annotated[int, Field(ge=0, le=_UINT32_MAX, strict=True)]
    success: bool = Field(strict=True)
    status_code: Annotated[int, Field(ge=100, le=599, strict=True)] | None = None
    error_type: OptionalText = None
    error_message: Annotated[str | None, Field(default=None, max_length=4096)] = None
    request_id: OptionalText = None
    end_user_id: OptionalText = None
    request_metadata: dict[str, Any] = Field(
        default_factory=dict, description="JSON object, at most 16 KiB serialised."
    )
    response_metadata: dict[str, Any] = Field(
        default_factory=dict, description="JSON object, at most 16 KiB serialised."
    )

    @model_validator(mode="after")
    def _parts_within_totals(self) -> GenerationEvent:
        problems = []
        if self.cached_input_tokens > self.input_tokens:
            problems.append("cached_input_tokens exceeds input_tokens (it is a part of them)")
        if self.reasoning_tokens > self.output_tokens:
            problems.append("reasoning_tokens exceeds output_tokens (it is a part of them)")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def occurred_at_utc(self) -> datetime:
        return self.occurred_at.astimezone(UTC)


def metadata_problems(data: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    """Metadata objects whose JSON is over ``limit`` bytes, as validation errors.

    Kept out of the model: the caller runs it only when the raw event is larger than the limit,
    since metadata can never be larger than the event that carries it.
    """
    problems = []
    for name in ("request_metadata", "response_metadata"):
        value = data.get(name)
        if isinstance(value, dict):
            size = len(orjson.dumps(value, default=str))
            if size > limit:
                problems.append(
                    {
                        "loc": [name],
                        "msg": f"is {size} bytes of JSON, more than the {limit}-byte limit",
                        "type": "too_large",
                    }
                )
    return problems


def event_json_schema() -> dict[str, Any]:
    """The JSON Schema exported to ``schemas/generation_event.schema.json``."""
    schema = GenerationEvent.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://llmhub.dev/schemas/generation_event.v1.json"
    return schema
