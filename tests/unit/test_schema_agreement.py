"""Property: the published JSON Schema and the decoders give the same verdict on every event.

Events are drawn from the schema itself (hypothesis-jsonschema), then mutated: fields dropped,
replaced by boundary and wrong-typed values, unknown fields added, events wrapped in batch
messages, bytes corrupted (tests/schema_property.py). Bounded and deterministic for
``make test``; ``make property`` (``LLMHUB_PROPERTY_EXAMPLES=2000``) runs longer. A new decoder
joins by being added to ``DECODERS``.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from tests import schema_property as prop

EXAMPLES = int(os.environ.get("LLMHUB_PROPERTY_EXAMPLES", "40"))
PROPERTY = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
DECODERS: dict[str, prop.BatchDecoder] = {
    "core.decode_batch (Kafka sink, admin import)": prop.core_decoder,
    "core.encode (HTTP ingest, producer library)": prop.http_encoder,
}


@PROPERTY
@given(batch=prop.cases())
def test_decoders_agree_with_the_published_schema(batch: list[bytes | None]) -> None:
    # One drawn batch judged by every decoder: drawing is the slow part.
    for name, decoder in DECODERS.items():
        try:
            prop.assert_agrees(decoder, batch)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None
    for raw in batch:
        if raw:
            prop.accepted_round_trip(raw)


BASE = {
    "event_id": "0b7c6a52-3f0e-4e0b-9a51-6c1d2e3f4a5b",
    "client_id": "acme",
    "occurred_at": "2026-10-01T12:00:00Z",
    "provider": "openai",
    "model": "gpt-4o-mini",
    "endpoint": "chat",
    "input_tokens": 10,
    "output_tokens": 5,
    "latency_ms": 100,
    "success": True,
}


@pytest.mark.parametrize("value", prop.EDGES, ids=lambda v: repr(v)[:40])
def test_every_edge_value_in_every_field(value: Any) -> None:
    # Not random: each edge value in each field of one valid event, every decoder.
    batch: list[bytes | None] = [
        prop.encode_json({**BASE, name: value}, True) for name in prop.FIELDS
    ]
    for decoder in DECODERS.values():
        prop.assert_agrees(decoder, batch)
