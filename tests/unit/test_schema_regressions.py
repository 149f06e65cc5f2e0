"""Regression tests for the schema bugs of issue 8; each failed on the main of that day.

- An event dated 1969 or 9999 was accepted: stored and listed in the logs, but counted in the
  wrong period (1970-01-01) or in none (the rollup's DateTime stops in 2106). Now refused.
- An integer beyond 64 bits in metadata was accepted: read back as a float, or (through the
  batch fast path, which keeps exact integers) it made the column builder raise, failing the
  whole batch. Now refused; up to 2^63-1 it is stored exactly.
- Metadata nested deeper than the JSON encoder handles was accepted and exploded when the
  batch was prepared. Now refused at validation.
- A Kafka tombstone (null value) made the decoder raise. Now a rejection with its reason.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from core.decode import Accepted, Limits, Rejection, SourceRecord, decode_batch, decode_message
from core.pricing import load_catalog
from storage.clickhouse.columns import build_table

GOOD = {
    "event_id": "0b7c6a52-3f0e-4e0b-9a51-6c1d2e3f4a5b",
    "client_id": "acme",
    "occurred_at": "2026-10-01T12:00:00Z",
    "provider": "openai",
    "model": "gpt-4o-mini",
    "endpoint": "chat",
    "input_tokens": 100,
    "output_tokens": 20,
    "latency_ms": 300,
    "success": True,
}
OTHER_ID = "8a1d7c36-1b7b-4a43-9d44-4b1b1f0e2d11"


def _nested(depth: int) -> dict[str, Any]:
    value: Any = 1
    for _ in range(depth - 1):
        value = {"k": value}
    return {"k": value}


def _batch(bad: dict[str, Any]) -> tuple[list[Accepted], list[Rejection]]:
    """A batch message holding a good event and ``bad``; the accepted ones must be storable."""
    # json, not orjson: orjson cannot even write these values (that is the bug).
    raw = json.dumps([GOOD, {**GOOD, "event_id": OTHER_ID, **bad}]).encode()
    decoded = decode_batch([SourceRecord(raw, "t", 0, 1)], Limits())
    build_table(decoded.accepted, load_catalog(), "kafka")  # raised on main: batch lost
    return decoded.accepted, decoded.rejected


@pytest.mark.parametrize(
    "when",
    [
        "1969-12-31T23:59:59Z",
        "1970-01-01T00:00:00+01:00",  # 1969 in UTC
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "2106-02-07T06:28:16Z",  # the first second a DateTime cannot hold
        "2100-01-01T00:00:00Z",
    ],
)
def test_dates_the_rollup_cannot_count_are_refused(when: str) -> None:
    [outcome] = decode_message(SourceRecord(orjson.dumps({**GOOD, "occurred_at": when})), Limits())
    assert isinstance(outcome, Rejection)
    assert outcome.errors[0]["loc"] == ["occurred_at"]
    assert "2000-01-01 to 2099-12-31" in outcome.errors[0]["msg"] or "2000" in outcome.describe()


@pytest.mark.parametrize("value", [2**64, 2**70, -(2**63) - 1, 10**30])
def test_integers_beyond_64_bits_in_metadata_are_refused(value: int) -> None:
    accepted, rejected = _batch({"request_metadata": {"seed": value}})
    assert [str(a.event.event_id) for a in accepted] == [GOOD["event_id"]]
    assert [r.errors[0]["loc"] for r in rejected] == [["request_metadata"]]
    # The single-message path (orjson reads them as floats) says the same.
    raw = json.dumps({**GOOD, "request_metadata": {"seed": value}}).encode()
    [outcome] = decode_message(SourceRecord(raw), Limits())
    assert isinstance(outcome, Rejection)


def test_a_64_bit_integer_in_metadata_is_stored_exactly() -> None:
    accepted, rejected = _batch({"request_metadata": {"seed": 2**63 - 1, "neg": -(2**63) + 1}})
    assert not rejected
    table, _ = build_table(accepted, load_catalog(), "kafka")
    stored = orjson.loads(table.column("request_metadata")[1].as_py())
    assert stored == {"seed": 2**63 - 1, "neg": -(2**63) + 1}
    assert isinstance(stored["seed"], int)


@pytest.mark.parametrize("depth", [17, 254, 300, 900])
def test_metadata_nested_too_deep_is_refused_at_validation(depth: int) -> None:
    accepted, rejected = _batch({"response_metadata": _nested(depth)})
    assert len(accepted) == 1
    assert len(rejected) == 1 and rejected[0].reason == "invalid_event"
    assert "levels" in rejected[0].describe()


def test_sixteen_levels_of_metadata_are_stored() -> None:
    accepted, rejected = _batch({"response_metadata": _nested(16)})
    assert len(accepted) == 2 and not rejected


@pytest.mark.parametrize(("value", "reason"), [(None, "tombstone"), (b"", "empty_value")])
def test_null_and_empty_record_values_are_rejections(value: bytes | None, reason: str) -> None:
    decoded = decode_batch(
        [SourceRecord(value, "t", 0, 5), SourceRecord(orjson.dumps(GOOD), "t", 0, 6)], Limits()
    )
    assert [a.record.offset for a in decoded.accepted] == [6]
    [rejection] = decoded.rejected
    assert (rejection.reason, rejection.record.offset) == (reason, 5)
    assert rejection.errors[0]["msg"]
