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
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from schemas.wire import (
    CLIENT_ID_PATTERN,
    COST,
    EVENT_ID,
    FIRST_YEAR,
    LAST_YEAR,
    MAX_METADATA_DEPTH,
    METADATA,
    METADATA_NUMBER_MAX,
    METADATA_NUMBER_MIN,
    NAME_MAX_LENGTH,
    NAME_PATTERN,
    OCCURRED_AT,
    UINT32_MAX,
    metadata_json_schema,
    whole_number,
)

SCHEMA_VERSION = 1
# Published size limits (the defaults of LLMHUB_WORKER_MAX_EVENT_BYTES / _MAX_METADATA_BYTES).
DEFAULT_MAX_EVENT_BYTES = 64 * 1024
DEFAULT_MAX_METADATA_BYTES = 16 * 1024
# A batch message (JSON array of events) may be as large as Kafka's default message size.
DEFAULT_MAX_BATCH_BYTES = 1024 * 1024

Name = Annotated[
    str, StringConstraints(min_length=1, max_length=NAME_MAX_LENGTH, pattern=NAME_PATTERN)
]
ClientId = Annotated[
    str, StringConstraints(min_length=1, max_length=NAME_MAX_LENGTH, pattern=CLIENT_ID_PATTERN)
]
# Grouping keys: "OpenAI" and "openai" must not become two providers on an invoice.
LowerName = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=NAME_MAX_LENGTH, pattern=NAME_PATTERN, to_lower=True
    ),
]
Tokens = Annotated[int, *whole_number(0, UINT32_MAX)]
OptionalText = Annotated[str | None, Field(default=None, max_length=256)]
_METADATA_RULE = (
    f"JSON object, at most {DEFAULT_MAX_METADATA_BYTES // 1024} KiB as compact UTF-8 JSON "
    f"(x-maxBytes), at most {MAX_METADATA_DEPTH} levels of arrays/objects deep (itself "
    f"included), numbers within [{METADATA_NUMBER_MIN}, {METADATA_NUMBER_MAX}] (send larger "
    "ones as strings). Stored as JSON text and shown in log details only."
)
_EXACT = "; a decimal string is exact (at most 9 decimal places, else refused)"


class GenerationEvent(BaseModel):
    """One LLM call. Unknown fields are rejected so a typo is an error, not a silent zero."""

    # No whitespace stripping: a value is stored as sent, so the schema's patterns decide.
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Annotated[int, *whole_number(1, 1)] = Field(
        default=1,
        description="Version of this schema; only 1. Any other value is refused with the "
        "reason unsupported_schema_version.",
        json_schema_extra={"const": 1},
    )
    event_id: Annotated[uuid.UUID, *EVENT_ID] = Field(
        description="Idempotency key: the same id is counted once. 36-character UUID form."
    )
    client_id: ClientId = Field(
        description="Tenant (client application) the call is billed to: letters, digits and "
        "_.:- (no '/': client ids appear in URL paths), starting with a letter or digit."
    )
    occurred_at: Annotated[datetime, *OCCURRED_AT] = Field(
        description=f"When the call was made: RFC 3339 with an offset (Z or +hh:mm), dated "
        f"{FIRST_YEAR}-01-01 to {LAST_YEAR}-12-31 as written (so every accepted instant is "
        "counted in the hourly usage rollup); fractions beyond milliseconds are truncated; "
        "epoch numbers are refused."
    )
    provider: LowerName = Field(description="LLM provider, e.g. openai, anthropic, groq.")
    model: Name = Field(description="Provider's model name, e.g. gpt-4o-mini.")
    endpoint: LowerName = Field(
        description="Hub feature that made the call: content_generation, translation, ..."
    )
    input_tokens: Tokens = Field(description="All prompt tokens, cached ones included.")
    output_tokens: Tokens = Field(description="All completion tokens, reasoning ones included.")
    cached_input_tokens: Tokens = Field(
        default=0,
        description="Part of input_tokens served from the prompt cache: at most input_tokens "
        "(x-partOf; JSON Schema cannot compare two fields).",
        json_schema_extra={"x-partOf": "input_tokens"},
    )
    reasoning_tokens: Tokens = Field(
        default=0,
        description="Part of output_tokens spent on reasoning: at most output_tokens "
        "(x-partOf; JSON Schema cannot compare two fields).",
        json_schema_extra={"x-partOf": "output_tokens"},
    )
    cost_usd: Annotated[Decimal | None, *COST] = Field(
        default=None,
        description="Provider-reported cost in USD (wins over the catalog); omit or null to "
        "price it from the catalog. 0 <= cost < 1e9. A JSON number is read as a double and "
        "rounded half-even to 9 decimal places (nano-USD)" + _EXACT + ".",
    )
    latency_ms: Annotated[int, *whole_number(0, UINT32_MAX)]
    success: bool = Field(strict=True)
    status_code: Annotated[int, *whole_number(100, 599)] | None = None
    error_type: OptionalText = None
    error_message: Annotated[str | None, Field(default=None, max_length=4096)] = None
    request_id: OptionalText = None
    end_user_id: OptionalText = None
    request_metadata: Annotated[dict[str, Any], *METADATA] = Field(
        default_factory=dict, description=_METADATA_RULE
    )
    response_metadata: Annotated[dict[str, Any], *METADATA] = Field(
        default_factory=dict, description=_METADATA_RULE
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

    Kept out of the model: the limit is a setting, and the caller skips it for events too small
    to hold oversized metadata.
    """
    problems = []
    for name in ("request_metadata", "response_metadata"):
        value = data.get(name)
        if isinstance(value, dict):
            try:
                size = len(orjson.dumps(value))
            except (orjson.JSONEncodeError, TypeError):  # too deep or not JSON: the model says
                continue
            if size > limit:
                problems.append(
                    {
                        "loc": [name],
                        "msg": f"is {size} bytes of JSON, more than the {limit}-byte limit",
                        "type": "too_large",
                    }
                )
    return problems


# What JSON Schema cannot say (bytes, encoding), published beside it for producers.
WIRE_RULES = (
    "Each Kafka record value (or HTTP body item, or import line) is UTF-8 JSON text (RFC 8259): "
    "an event object, or an array of them (a batch message, each event judged on its own; an "
    "empty array is refused). Refused before this schema applies: a null record value (Kafka "
    "tombstone) or an empty one, text that is not UTF-8 or not JSON, lone surrogates (even "
    "escaped), NaN/Infinity and numbers too large for a double, a single-event message over "
    "x-maxBytes, a batch message over x-maxBatchBytes. A repeated name in an object: the last "
    "one wins (as JSON.parse does)."
)


def event_json_schema() -> dict[str, Any]:
    """The JSON Schema exported to ``schemas/generation_event.schema.json``."""
    schema = GenerationEvent.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://llmhub.dev/schemas/generation_event.v1.json"
    schema["description"] = f"{schema['description']} {WIRE_RULES}"
    schema["$defs"] = {**schema.get("$defs", {}), **metadata_json_schema()}
    schema["x-maxBytes"] = DEFAULT_MAX_EVENT_BYTES
    schema["x-maxBatchBytes"] = DEFAULT_MAX_BATCH_BYTES
    for name in ("request_metadata", "response_metadata"):
        field = schema["properties"][name]
        field["additionalProperties"] = {"$ref": "#/$defs/MetadataLevel2"}
        field["x-maxBytes"] = DEFAULT_MAX_METADATA_BYTES
    return schema
