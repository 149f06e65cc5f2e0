"""The generation event contract: what decoding accepts, and every way it refuses."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest

from core.decode import (
    INVALID_EVENT,
    INVALID_JSON,
    NOT_AN_OBJECT,
    OVERSIZED,
    UNSUPPORTED_SCHEMA_VERSION,
    Accepted,
    Limits,
    Rejection,
    SourceRecord,
    decode_batch,
    decode_message,
)
from schemas import export
from schemas.event import event_json_schema

LIMITS = Limits()
REQUIRED = {
    "event_id",
    "client_id",
    "occurred_at",
    "provider",
    "model",
    "endpoint",
    "input_tokens",
    "output_tokens",
    "latency_ms",
    "success",
}


def valid(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "schema_version": 1,
        "event_id": "0b7c6a52-3f0e-4e0b-9a51-6c1d2e3f4a5b",
        "client_id": "acme",
        "occurred_at": "2026-10-01T12:00:00.250+02:00",
        "provider": "OpenAI",
        "model": "gpt-4o-mini",
        "endpoint": "chat",
        "input_tokens": 1200,
        "output_tokens": 300,
        "cached_input_tokens": 1000,
        "reasoning_tokens": 0,
        "latency_ms": 850,
        "success": True,
        "status_code": 200,
        "request_metadata": {"temperature": 0.2},
    }
    event.update(changes)
    return event


def decode(value: Any, limits: Limits = LIMITS) -> Accepted | Rejection:
    raw = value if isinstance(value, bytes) else orjson.dumps(value)
    [outcome] = decode_message(SourceRecord(raw, "topic", 3, 42), limits)
    return outcome


def rejected(value: Any, reason: str, limits: Limits = LIMITS) -> list[dict[str, Any]]:
    outcome = decode(value, limits)
    assert isinstance(outcome, Rejection), outcome
    assert outcome.reason == reason, outcome.errors
    assert outcome.errors, "a refusal must say why"
    return outcome.errors


def locs(errors: list[dict[str, Any]]) -> list[list[str]]:
    return [e["loc"] for e in errors]


def test_valid_event_is_accepted_and_normalised() -> None:
    outcome = decode(valid())
    assert isinstance(outcome, Accepted)
    event = outcome.event
    assert event.provider == "openai"  # grouping keys are lower-cased
    assert event.occurred_at_utc == datetime(2026, 10, 1, 10, 0, 0, 250_000, tzinfo=UTC)
    assert event.cost_usd is None
    assert outcome.record.partition == 3 and outcome.record.offset == 42


def test_minimal_event_gets_defaults() -> None:
    event = {k: v for k, v in valid().items() if k in REQUIRED}
    outcome = decode(event)
    assert isinstance(outcome, Accepted)
    e = outcome.event
    assert (e.schema_version, e.cached_input_tokens, e.reasoning_tokens) == (1, 0, 0)
    assert (e.request_metadata, e.response_metadata, e.status_code) == ({}, {}, None)


def test_invalid_json() -> None:
    errors = rejected(b'{"event_id": ', INVALID_JSON)
    assert errors[0]["type"] == "json"


# A JSON array is a batch message (tested below), not a malformed event.
@pytest.mark.parametrize("value", ["event", 42, None])
def test_not_an_object(value: Any) -> None:
    rejected(value, NOT_AN_OBJECT)


def test_oversized_is_refused_before_parsing() -> None:
    raw = orjson.dumps(valid(request_metadata={"pad": "x" * 2000}))
    limits = Limits(max_event_bytes=1024)
    errors = rejected(raw, OVERSIZED, limits)
    assert f"{len(raw)} bytes" in errors[0]["msg"]
    # Even bytes that are not JSON at all: size is checked first.
    rejected(b"{" * 2000, OVERSIZED, limits)


@pytest.mark.parametrize("version", [2, 0, "1", True, None, 1.5])
def test_unsupported_schema_version(version: Any) -> None:
    errors = rejected(valid(schema_version=version), UNSUPPORTED_SCHEMA_VERSION)
    assert locs(errors) == [["schema_version"]]


@pytest.mark.parametrize(
    "field", ["input_tokens", "output_tokens", "cached_input_tokens", "latency_ms"]
)
def test_negative_counts(field: str) -> None:
    errors = rejected(valid(**{field: -1}), INVALID_EVENT)
    assert locs(errors) == [[field]]


def test_every_missing_field_is_named_at_once() -> None:
    errors = rejected({}, INVALID_EVENT)
    assert {e["loc"][0] for e in errors} == REQUIRED
    assert all(e["type"] == "missing" for e in errors)
    assert len(errors) == len(REQUIRED)


def test_naive_occurred_at() -> None:
    errors = rejected(valid(occurred_at="2026-10-01T12:00:00"), INVALID_EVENT)
    assert locs(errors) == [["occurred_at"]]
    assert errors[0]["type"] == "timezone_aware"


def test_parts_larger_than_their_totals() -> None:
    errors = rejected(valid(cached_input_tokens=1201), INVALID_EVENT)
    assert "cached_input_tokens exceeds input_tokens" in errors[0]["msg"]
    errors = rejected(valid(output_tokens=10, reasoning_tokens=11), INVALID_EVENT)
    assert "reasoning_tokens exceeds output_tokens" in errors[0]["msg"]


# A decimal string is exact: finer than a nano-dollar it is refused, never rounded.
@pytest.mark.parametrize("cost", ["0.0000000001", "1.1234567891"])
def test_cost_string_finer_than_a_nano(cost: Any) -> None:
    errors = rejected(valid(cost_usd=cost), INVALID_EVENT)
    assert locs(errors) == [["cost_usd"]]
    assert "9 decimal places" in errors[0]["msg"]


# A JSON number is a double: rounded half-even to the nano-dollar, so a producer computing
# cost in floating point keeps its call (it used to be dead-lettered).
@pytest.mark.parametrize(
    ("cost", "expected"),
    [
        (1e-10, Decimal("0")),
        (0.0000000015, Decimal("0.000000002")),  # half: to even
        (0.0000000025, Decimal("0.000000002")),  # half: to even
        (0.0000000025000001, Decimal("0.000000003")),
        (0.1 + 0.2, Decimal("0.3")),  # 0.30000000000000004
        (1.1234567891, Decimal("1.123456789")),
        (999999999.9999999, Decimal("999999999.9999999")),
    ],
)
def test_cost_json_number_rounds_half_even_to_nano(cost: float, expected: Decimal) -> None:
    outcome = decode(valid(cost_usd=cost))
    assert isinstance(outcome, Accepted), getattr(outcome, "errors", None)
    assert outcome.event.cost_usd == expected
    assert outcome.event.cost_usd.as_tuple().exponent == -9  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("cost", "expected"),
    [
        ("0.000000001", Decimal("0.000000001")),
        (0.0123, Decimal("0.0123")),  # a JSON float is read as the number written
        ("0.1000000000", Decimal("0.1")),  # ten places, but the value is exact at nano
        ("999999999.999999999", Decimal("999999999.999999999")),
    ],
)
def test_cost_at_nano_precision_is_accepted(cost: Any, expected: Decimal) -> None:
    outcome = decode(valid(cost_usd=cost))
    assert isinstance(outcome, Accepted), getattr(outcome, "errors", None)
    assert outcome.event.cost_usd == expected


@pytest.mark.parametrize(
    "cost", ["-0.01", "1000000000", True, "NaN", 1e9, 1000000000, -1e-12, "1e-3", " 1", "+1"]
)
def test_cost_out_of_range_or_not_a_number(cost: Any) -> None:
    errors = rejected(valid(cost_usd=cost), INVALID_EVENT)
    assert [loc[0] for loc in locs(errors)] == ["cost_usd"] * len(errors)


def test_unknown_field_is_an_error_not_ignored() -> None:
    errors = rejected(valid(input_token=5), INVALID_EVENT)
    assert locs(errors) == [["input_token"]]
    assert errors[0]["type"] == "extra_forbidden"


@pytest.mark.parametrize(("field", "value"), [("success", "true"), ("input_tokens", "12")])
def test_no_type_coercion_for_counts_and_flags(field: str, value: str) -> None:
    assert locs(rejected(valid(**{field: value}), INVALID_EVENT)) == [[field]]


def test_metadata_over_the_cap() -> None:
    big = {"blob": "x" * (16 * 1024)}
    errors = rejected(valid(response_metadata=big), INVALID_EVENT)
    assert locs(errors) == [["response_metadata"]]
    assert "16384-byte limit" in errors[0]["msg"]
    # The cap comes from the limits the worker runs with.
    small = Limits(max_metadata_bytes=256)
    errors = rejected(valid(request_metadata={"blob": "x" * 300}), INVALID_EVENT, small)
    assert locs(errors) == [["request_metadata"]]
    assert isinstance(decode(valid(request_metadata={"blob": "x" * 200}), small), Accepted)


def test_several_problems_are_reported_together() -> None:
    errors = rejected(
        valid(input_tokens=-5, occurred_at="yesterday", colour="red", client_id=""),
        INVALID_EVENT,
    )
    assert sorted(loc[0] for loc in locs(errors)) == [
        "client_id",
        "colour",
        "input_tokens",
        "occurred_at",
    ]


def test_decode_batch_splits_accepted_and_rejected() -> None:
    records = [
        SourceRecord(orjson.dumps(valid())),
        SourceRecord(b"nope"),
        SourceRecord(orjson.dumps(valid(event_id="8a1d7c36-1b7b-4a43-9d44-4b1b1f0e2d11"))),
        SourceRecord(orjson.dumps(valid(schema_version=2))),
    ]
    decoded = decode_batch(records, LIMITS)
    assert [a.record for a in decoded.accepted] == [records[0], records[2]]
    assert [(r.record, r.reason) for r in decoded.rejected] == [
        (records[1], INVALID_JSON),
        (records[3], UNSUPPORTED_SCHEMA_VERSION),
    ]


def test_exported_json_schema_is_current() -> None:
    assert export.SCHEMA_FILE.is_file(), "run `python -m schemas.export`"
    on_disk = export.SCHEMA_FILE.read_text("utf-8")
    assert json.loads(on_disk) == event_json_schema(), (
        "schemas/generation_event.schema.json is stale: run `python -m schemas.export`"
    )
    assert on_disk == export.render(), "run `python -m schemas.export` (formatting differs)"
    assert set(json.loads(on_disk)["required"]) == REQUIRED


def _batch(events: list[Any]) -> list[Accepted | Rejection]:
    raw = orjson.dumps(events)
    decoded = decode_batch([SourceRecord(raw, "topic", 1, 7)], LIMITS)
    outcomes: list[Accepted | Rejection] = [*decoded.accepted, *decoded.rejected]
    return outcomes


def test_batch_of_valid_events_is_accepted_whole() -> None:
    events = [valid(event_id=f"0b7c6a52-3f0e-4e0b-9a51-6c1d2e3f4a{i:02d}") for i in range(5)]
    outcomes = _batch(events)
    assert all(isinstance(o, Accepted) for o in outcomes)
    assert [str(o.event.event_id) for o in outcomes if isinstance(o, Accepted)] == [
        e["event_id"] for e in events
    ]
    assert all(o.record.offset == 7 and o.record.partition == 1 for o in outcomes)


@pytest.mark.parametrize(
    ("bad", "reason", "loc"),
    [
        (
            valid(event_id="0b7c6a52-3f0e-4e0b-9a51-6c1d2e3f4a99", input_tokens=-1),
            INVALID_EVENT,
            ["input_tokens"],
        ),
        (
            valid(
                event_id="0b7c6a52-3f0e-4e0b-9a51-6c1d2e3f4a99",
                request_metadata={"blob": "x" * 20_000},
            ),
            INVALID_EVENT,
            ["request_metadata"],
        ),
        (valid(schema_version=7), UNSUPPORTED_SCHEMA_VERSION, ["schema_version"]),
        ("not an event", NOT_AN_OBJECT, []),
    ],
)
def test_batch_refuses_only_its_bad_event(bad: Any, reason: str, loc: list[str]) -> None:
    good = valid()
    outcomes = _batch([good, bad])
    accepted = [o for o in outcomes if isinstance(o, Accepted)]
    refused = [o for o in outcomes if isinstance(o, Rejection)]
    assert [str(a.event.event_id) for a in accepted] == [good["event_id"]]
    assert len(refused) == 1
    assert refused[0].reason == reason
    assert refused[0].record.index == 1
    assert orjson.loads(refused[0].record.value) == bad  # the event's own JSON
    assert refused[0].errors[0]["loc"] == loc
