"""The columnar fast path judges and stores exactly as the per-event path does.

Over the synthetic generator's events and ~90 odd or invalid kinds (each alone, in a batch
message beside valid events, and as a single-event message): the same rejections with the
same reasons and problems, and an Arrow table equal to ``build_table``'s row for row.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from core.columnar import ColumnarDecoded, decode_columns
from core.decode import Decoded, Limits, SourceRecord, decode_batch
from core.pricing import load_catalog
from ingest.producer import pack
from ingest.synthetic import EventFactory
from storage.clickhouse.columnar import batch_table
from storage.clickhouse.columns import build_table

CATALOG = load_catalog()
LIMITS = Limits()
BASE: dict[str, Any] = {
    "event_id": "0b7c6a52-3f0e-4e0b-9a51-6c1d2e3f4a5b",
    "client_id": "acme",
    "occurred_at": "2026-10-01T12:00:00.250+02:00",
    "provider": "openai",
    "model": "gpt-4o-mini",
    "endpoint": "chat",
    "input_tokens": 1200,
    "output_tokens": 300,
    "cached_input_tokens": 1000,
    "latency_ms": 850,
    "success": True,
}
_MISSING = object()

# (field, value): the base event with that field set (or removed, for _MISSING).
ODD: list[tuple[str, Any]] = [
    ("client_id", " acme"),
    ("client_id", "acme "),
    ("client_id", "Acme.Corp:1/x-y_z"),
    ("client_id", "-acme"),
    ("client_id", "a" * 64),
    ("client_id", "a" * 65),
    ("client_id", ""),
    ("client_id", "acmé"),
    ("client_id", 5),
    ("client_id", "acme\n"),
    ("provider", "OpenAI"),
    ("provider", " openai"),
    ("endpoint", "Chat"),
    ("endpoint", "CONTENT_GENERATION"),
    ("model", "GPT-4o-mini"),
    ("model", "gpt 4o"),
    ("model", "acme-experimental"),
    ("input_tokens", -1),
    ("input_tokens", 2**32 - 1),
    ("input_tokens", 2**32),
    ("input_tokens", 2**64),
    ("input_tokens", 1200.0),
    ("input_tokens", "1200"),
    ("input_tokens", True),
    ("input_tokens", _MISSING),
    ("output_tokens", 2**32 - 1),
    ("cached_input_tokens", 1201),
    ("cached_input_tokens", 1200),
    ("cached_input_tokens", _MISSING),
    ("reasoning_tokens", 301),
    ("reasoning_tokens", 300),
    ("cost_usd", "0.5"),
    ("cost_usd", 0.5),
    ("cost_usd", 1),
    ("cost_usd", "1e-3"),
    ("cost_usd", "0.123456789"),
    ("cost_usd", "0.1234567891"),
    ("cost_usd", "0.1000000000"),
    ("cost_usd", "999999999.999999999"),
    ("cost_usd", "1000000000"),
    ("cost_usd", "-0.1"),
    ("cost_usd", " 0.5"),
    ("cost_usd", "007.5"),
    ("cost_usd", "NaN"),
    ("cost_usd", None),
    ("occurred_at", "2026-10-01T12:00:00"),
    ("occurred_at", "2026-10-01T12:00:00Z"),
    ("occurred_at", "2026-10-01T23:59:59.999999-00:00"),
    ("occurred_at", "2026-10-01T12:00:00.1234567Z"),
    ("occurred_at", "2026-10-01T12:00:00.0009999Z"),
    ("occurred_at", "2026-02-30T12:00:00Z"),
    ("occurred_at", "2026-10-01t12:00:00z"),
    ("occurred_at", "2026-10-01 12:00:00Z"),
    ("occurred_at", "2026-10-01"),
    ("occurred_at", 1_790_000_000),
    ("occurred_at", "1899-12-31T23:00:00Z"),
    ("occurred_at", "2025-06-10T02:00:00+05:00"),
    ("occurred_at", "2025-06-09T23:00:00-05:00"),
    ("occurred_at", "1969-12-31T23:59:59.999500Z"),
    ("occurred_at", "2026-10-01T12:00:00+24:00"),
    ("occurred_at", "2026-10-01T24:00:00Z"),
    ("occurred_at", "2026-10-01T12:00:60Z"),
    ("event_id", "0B7C6A52-3F0E-4E0B-9A51-6C1D2E3F4A5B"),
    ("event_id", "0b7c6a523f0e4e0b9a516c1d2e3f4a5b"),
    ("event_id", "{0b7c6a52-3f0e-4e0b-9a51-6c1d2e3f4a5b}"),
    ("event_id", "urn:uuid:0b7c6a52-3f0e-4e0b-9a51-6c1d2e3f4a5b"),
    ("event_id", "not-a-uuid"),
    ("event_id", 12),
    ("success", "true"),
    ("success", 1),
    ("success", False),
    ("status_code", 99),
    ("status_code", 600),
    ("status_code", None),
    ("status_code", 200.0),
    ("status_code", 503),
    ("error_type", "  rate_limit  "),
    ("error_type", "rate_limit\n"),
    ("error_type", "x" * 256),
    ("error_type", "x" * 257),
    ("error_type", ""),
    ("error_type", "é"),
    ("error_message", "m" * 4096),
    ("error_message", "m" * 4097),
    ("error_message", 'quote " and \\ and \u2028'),
    ("request_id", None),
    ("end_user_id", "user\u00a0"),
    ("request_metadata", None),
    ("request_metadata", []),
    ("request_metadata", "x"),
    ("request_metadata", {"a": {"b": [1, 2.5, None, True, "é"]}}),
    ("request_metadata", {"f": 0.1, "g": 1e-7, "h": 123456789.123456789, "i": 1e300}),
    ("request_metadata", {"big": 2**63 - 1, "neg": -(2**63)}),
    ("request_metadata", {"x": "y" * 17_000}),
    ("response_metadata", {"x": "y" * 16_000}),
    ("response_metadata", {}),
    ("schema_version", 1),
    ("schema_version", 2),
    ("schema_version", "1"),
    ("schema_version", 1.0),
    ("schema_version", True),
    ("unknown_field", 1),
    ("endpoint", _MISSING),
    ("latency_ms", -5),
    ("client_id", "acme/eu"),
    ("error_type", None),
    ("error_message", None),
    ("occurred_at", "1999-12-31T23:59:59Z"),
    ("occurred_at", "2100-01-01T00:00:00Z"),
    ("occurred_at", "2024-02-29T12:00:00Z"),
    ("occurred_at", "2026-10-01T12:00:00+23:59"),
    ("request_metadata", {"d": [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}),
    ("request_metadata", {"d": [[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]}),
    ("request_metadata", {"n": -(2**63) + 1, "f": 9.3e18}),
]

RAW_ODD: list[bytes] = [
    b"[]",
    b"[5]",
    b"[null]",
    b"not json",
    b"[{]",
    b'{"a": 1}',
    b'[{"event_id": "0b7c6a52-3f0e-4e0b-9a51-6c1d2e3f4a5b", "event_id": "x"}]',
    b'{"request_metadata": {"a": 1, "b": 2, "a": 3}}',
    b'{"request_metadata": {"s": "\\u00e9\\ud83d\\ude00"}}',
    b'{"request_metadata": {"s": "\\ud800"}}',
    b'{"request_metadata": { "spaced" : [ 1 , 2 ] }}',
    b'{"client_id": "dup", "client_id": "acme"}',
    b'{"input_tokens": 1200, "input_tokens": 5}',
]


def _with(n: int, key: str, value: Any) -> dict[str, Any]:
    event = dict(BASE, event_id=f"00000000-0000-4000-8000-{n:012x}")
    if value is _MISSING:
        event.pop(key, None)
    else:
        event[key] = value
    return event


def _dumps(event: dict[str, Any]) -> bytes:
    """Compact JSON, any integer size (orjson stops at 64 bits)."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


def _raw_odd(n: int, raw: bytes) -> bytes:
    """Splice a raw fragment's fields into a base event (raw bytes kept as written)."""
    if not raw.startswith(b"{"):
        return raw
    base = orjson.dumps(_with(n, "schema_version", 1))
    return base[:-1] + b"," + raw[1:]


def _odd_records() -> list[SourceRecord]:
    values: list[bytes] = []
    for n, (key, value) in enumerate(ODD):
        values.append(_dumps(_with(n, key, value)))
    values += [_raw_odd(1000 + n, raw) for n, raw in enumerate(RAW_ODD)]
    fine = orjson.dumps(_with(5000, "model", "gpt-4o"))
    records: list[SourceRecord] = []
    for n, value in enumerate(values):
        alone = value
        if value.startswith(b"{"):
            beside = b"[" + fine.replace(b"5000", f"{5000 + n:04d}".encode()[-4:]) + b"," + value
            beside += b"]"
        else:
            beside = value
        records.append(SourceRecord(alone, "t", 0, len(records)))
        records.append(SourceRecord(beside, "t", 1, len(records)))
        records.append(SourceRecord(b"[" + value + b"]", "t", 2, len(records)))
    return records


def _synthetic_records(n: int) -> list[SourceRecord]:
    factory = EventFactory(seed=11, provider_cost_share=0.2)
    start = datetime(2025, 6, 9, 22, tzinfo=UTC)  # spans the o3 price change (2025-06-10)
    by_client: dict[str, list[bytes]] = {}
    for i in range(n):
        client = f"client-{i % 17}"
        event = factory.event(client, start + timedelta(seconds=i * 7))
        by_client.setdefault(client, []).append(orjson.dumps(event))
    messages = [m for values in by_client.values() for m in pack(values)]
    return [SourceRecord(m, "t", i % 4, i) for i, m in enumerate(messages)]


def _verdicts(decoded: Decoded | ColumnarDecoded) -> list[tuple[Any, ...]]:
    rejected = decoded.rejected if isinstance(decoded, Decoded) else decoded.exact.rejected
    return [(r.record, r.reason, r.errors) for r in rejected]


def _assert_same(records: list[SourceRecord], limits: Limits = LIMITS) -> int:
    old = decode_batch(records, limits)
    new = decode_columns(records, limits)
    assert _verdicts(new) == _verdicts(old)
    expected, unpriced = build_table(old.accepted, CATALOG, "kafka")
    table, ids, new_unpriced = batch_table(new, CATALOG, "kafka")
    assert table.schema == expected.schema
    for name in expected.column_names:
        assert table.column(name).to_pylist() == expected.column(name).to_pylist(), name
    assert ids == [a.event.event_id.bytes for a in old.accepted]
    assert new_unpriced == unpriced
    assert new.accepted_count == len(old.accepted)
    return len(old.accepted)


def test_synthetic_events_give_the_same_table() -> None:
    records = _synthetic_records(6_000)
    assert _assert_same(records) == 6_000
    batch = decode_columns(records, LIMITS)
    assert not batch.exact.accepted  # all proven on the fast path


def test_odd_and_invalid_kinds_get_the_same_verdicts_and_rows() -> None:
    records = _odd_records()
    accepted = _assert_same(records)
    assert 0 < accepted < len(records) * 2


@pytest.mark.parametrize("chunk", [1, 7, 50])
def test_odd_kinds_in_small_batches(chunk: int) -> None:
    records = _odd_records()
    for first in range(0, len(records), chunk):
        _assert_same(records[first : first + chunk])


def test_odd_kinds_mixed_into_synthetic_batches() -> None:
    synthetic = _synthetic_records(1_500)
    odd = _odd_records()
    mixed = [r for pair in zip(synthetic, odd, strict=False) for r in pair]
    _assert_same(mixed)


def test_custom_limits() -> None:
    limits = Limits(max_event_bytes=2048, max_metadata_bytes=256, max_message_bytes=64 * 1024)
    records = _odd_records() + _synthetic_records(500)
    _assert_same(records, limits)


def test_huge_token_counts_are_priced_exactly() -> None:
    values = [
        orjson.dumps(
            _with(
                n,
                "model",
                model,
            )
            | {"input_tokens": 2**32 - 1, "output_tokens": 2**32 - 1, "cached_input_tokens": 0}
            | ({"provider": "anthropic"} if model.startswith("claude") else {})
        )
        for n, model in enumerate(["claude-opus-4-1", "gpt-4o", "gpt-4o-mini"])
    ]
    _assert_same([SourceRecord(b"[" + b",".join(values) + b"]", "t", 0, 0)])


def test_verdicts_per_message_match_the_exact_path() -> None:
    from tests.columnar_verdicts import columnar_decoder

    messages: list[bytes | None] = [r.value for r in _odd_records()]
    records = [SourceRecord(m or b"", "t", 0, i) for i, m in enumerate(messages)]
    old = decode_batch(records, LIMITS)
    expected: dict[int, list[tuple[int, bool]]] = {i: [] for i in range(len(messages))}
    for a in old.accepted:
        expected[a.record.offset].append((a.record.index & 0xFFFFF, True))
    for r in old.rejected:
        expected[r.record.offset].append((r.record.index & 0xFFFFF, False))
    want = [[v for _, v in sorted(p)] for _, p in sorted(expected.items())]
    assert columnar_decoder(messages) == want
