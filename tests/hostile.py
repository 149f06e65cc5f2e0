"""A corpus of hostile (and edge-but-valid) Kafka record values, each with its expected fate.

``corpus(client_id)`` returns records of distinct kinds: encoding, nulls and empties, types,
ranges, sizes, nesting, time extremes, backfills, schema versions, batch messages mixing good
and bad, duplicate keys, huge numbers, malformed JSON. Each record says, per event it holds,
either ``STORED`` or the reason it must be dead-lettered with (core.decode's reason codes).
Used by tests/unit/test_hostile_corpus.py (decoder level) and
tests/integration/test_hostile_ingest.py (real broker, real worker, real engine).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

STORED = "stored"
TOMBSTONE = "tombstone"
EMPTY = "empty_value"
BAD_JSON = "invalid_json"
NOT_OBJECT = "not_an_object"
OVERSIZED = "oversized"
VERSION = "unsupported_schema_version"
INVALID = "invalid_event"

# Backfill: one event per month over this many months, in one batch message. ClickHouse refuses
# an insert block touching more than 100 partitions (monthly), so the sink must split it.
BACKFILL_MONTHS = 130


@dataclass(frozen=True)
class Hostile:
    name: str
    kind: str
    value: bytes | None
    expected: tuple[str, ...]  # per event in the message: STORED or a rejection reason
    # The events that must be stored, as the oracle reads them (the JSON text's values).
    stored: tuple[dict[str, Any], ...] = ()
    loc: tuple[str, ...] | None = None  # the field a single rejection must name

    @property
    def needs_split_inserts(self) -> bool:
        """Stalls a sink that inserts a batch as one block (more than 100 partitions)."""
        return self.kind == "backfill" and len(self.stored) > 100


def _id(client_id: str, name: str, n: int = 0) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"llmhub-hostile/{client_id}/{name}/{n}"))


class _Builder:
    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
        self.records: list[Hostile] = []
        self.names: set[str] = set()

    def event(self, name: str, n: int = 0, **changes: Any) -> dict[str, Any]:
        event: dict[str, Any] = {
            "event_id": _id(self.client_id, name, n),
            "client_id": self.client_id,
            "occurred_at": "2026-06-15T10:30:00.250Z",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "endpoint": "chat",
            "input_tokens": 1200,
            "output_tokens": 300,
            "cached_input_tokens": 200,
            "latency_ms": 850,
            "success": True,
            "status_code": 200,
        }
        event.update(changes)
        return event

    def add(
        self,
        name: str,
        kind: str,
        value: bytes | None,
        expected: str | tuple[str, ...],
        stored: tuple[dict[str, Any], ...] = (),
        loc: tuple[str, ...] | None = None,
    ) -> None:
        assert name not in self.names, name
        self.names.add(name)
        verdicts = (expected,) if isinstance(expected, str) else expected
        self.records.append(Hostile(name, kind, value, verdicts, stored, loc))

    def bad(self, name: str, kind: str, reason: str, loc: str | None, **changes: Any) -> None:
        """An event that differs from a valid one by ``changes`` and must be refused."""
        event = self.event(name, **changes)
        self.add(name, kind, _dumps(event), reason, loc=(loc,) if loc else None)

    def good(
        self,
        name: str,
        kind: str,
        raw: Callable[[dict[str, Any]], bytes] | None = None,
        **changes: Any,
    ) -> None:
        """An edge event that must be stored (``raw`` writes it when json.dumps would not)."""
        event = self.event(name, **changes)
        value = raw(event) if raw else _dumps(event)
        self.add(name, kind, value, STORED, stored=(json.loads(value),))


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _nested(depth: int) -> dict[str, Any]:
    """A metadata object nested ``depth`` levels deep, itself included."""
    value: Any = 1
    for _ in range(depth - 1):
        value = {"k": value}
    return {"k": value} if depth else {}


def _replace(raw: bytes, old: bytes, new: bytes) -> bytes:
    assert old in raw, (old, raw)
    return raw.replace(old, new, 1)


def corpus(client_id: str) -> list[Hostile]:
    b = _Builder(client_id)
    _encoding(b)
    _nulls(b)
    _types(b)
    _ranges(b)
    _sizes_and_nesting(b)
    _times(b)
    _batches_and_backfills(b)
    _json_syntax(b)
    return b.records


def _encoding(b: _Builder) -> None:
    base = _dumps(b.event("invalid-utf8"))
    b.add("invalid-utf8", "encoding", _replace(base, b'"chat"', b'"ch\xffat"'), BAD_JSON)
    raw = json.dumps(b.event("utf16")).encode("utf-16")
    b.add("utf16", "encoding", raw, BAD_JSON)
    b.add("utf8-bom", "encoding", b"\xef\xbb\xbf" + _dumps(b.event("utf8-bom")), BAD_JSON)
    raw = _replace(_dumps(b.event("lone-surrogate")), b'"chat"', b'"chat\\ud800"')
    b.add("lone-surrogate-escaped", "encoding", raw, BAD_JSON)
    raw = _replace(_dumps(b.event("cesu")), b'"chat"', b'"chat\xed\xa0\x80"')
    b.add("surrogate-bytes-cesu8", "encoding", raw, BAD_JSON)
    raw = _replace(_dumps(b.event("overlong")), b'"chat"', b'"chat\xc0\xaf"')
    b.add("overlong-utf8", "encoding", raw, BAD_JSON)
    raw = _replace(_dumps(b.event("raw-control")), b'"chat"', b'"ch\x01at"')
    b.add("unescaped-control-char", "encoding", raw, BAD_JSON)
    b.good("nul-in-free-text", "encoding", success=False, error_message="bad\u0000byte")
    b.good("emoji-in-free-text", "encoding", end_user_id="user-\U0001f600-\u202e")
    b.bad("nul-in-client-id", "encoding", INVALID, "client_id", client_id="ac\u0000me")
    b.bad("rtl-override-in-model", "encoding", INVALID, "model", model="gpt\u202e4o")
    b.bad("zero-width-in-provider", "encoding", INVALID, "provider", provider="open\u200bai")
    b.bad(
        "arabic-digits-in-uuid",
        "encoding",
        INVALID,
        "event_id",
        event_id="\u0660" * 8 + "-0000-0000-0000-000000000000",
    )


def _nulls(b: _Builder) -> None:
    b.add("kafka-tombstone", "nulls", None, TOMBSTONE)
    b.add("empty-value", "nulls", b"", EMPTY)
    b.add("whitespace-only", "nulls", b"  \n\t ", BAD_JSON)
    b.add("json-null", "nulls", b"null", NOT_OBJECT)
    b.add("empty-object", "nulls", b"{}", INVALID)
    b.bad("null-required-field", "nulls", INVALID, "input_tokens", input_tokens=None)
    b.bad("empty-client-id", "nulls", INVALID, "client_id", client_id="")
    b.bad("null-metadata", "nulls", INVALID, "request_metadata", request_metadata=None)
    b.good("null-cost-is-priced", "nulls", cost_usd=None, error_type=None)


def _types(b: _Builder) -> None:
    b.bad("tokens-as-string", "types", INVALID, "input_tokens", input_tokens="1200")
    b.bad("success-as-string", "types", INVALID, "success", success="true")
    b.bad("success-as-number", "types", INVALID, "success", success=1)
    b.bad("tokens-as-bool", "types", INVALID, "output_tokens", output_tokens=True)
    b.bad("tokens-fraction", "types", INVALID, "output_tokens", output_tokens=1.5)
    b.good("tokens-whole-float", "types", input_tokens=1200.0, latency_ms=1e3)
    b.bad("epoch-seconds", "types", INVALID, "occurred_at", occurred_at=1_781_000_000)
    b.bad("epoch-millis", "types", INVALID, "occurred_at", occurred_at=1_781_000_000_000)
    b.bad("event-id-number", "types", INVALID, "event_id", event_id=12345)
    b.bad(
        "event-id-no-hyphens",
        "types",
        INVALID,
        "event_id",
        event_id=_id(b.client_id, "x").replace("-", ""),
    )
    b.bad(
        "event-id-urn", "types", INVALID, "event_id", event_id="urn:uuid:" + _id(b.client_id, "urn")
    )
    b.bad("cost-as-bool", "types", INVALID, "cost_usd", cost_usd=True)
    b.bad("metadata-as-array", "types", INVALID, "response_metadata", response_metadata=[1])
    b.bad("unknown-field", "types", INVALID, "colour", colour="red")
    b.add("event-is-a-string", "types", b'"an event"', NOT_OBJECT)
    b.add("event-is-a-number", "types", b"42", NOT_OBJECT)
    b.bad("schema-version-2", "versions", VERSION, "schema_version", schema_version=2)
    b.bad("schema-version-string", "versions", VERSION, "schema_version", schema_version="1")
    b.bad("schema-version-true", "versions", VERSION, "schema_version", schema_version=True)
    b.bad("schema-version-null", "versions", VERSION, "schema_version", schema_version=None)
    b.good("schema-version-1.0", "versions", schema_version=1.0)


def _ranges(b: _Builder) -> None:
    b.bad("negative-tokens", "ranges", INVALID, "input_tokens", input_tokens=-1)
    b.bad("tokens-2^32", "ranges", INVALID, "output_tokens", output_tokens=2**32)
    b.good("tokens-2^32-1", "ranges", input_tokens=2**32 - 1, output_tokens=2**32 - 1)
    b.bad("cached-over-input", "ranges", INVALID, None, cached_input_tokens=1201)
    b.bad("reasoning-over-output", "ranges", INVALID, None, reasoning_tokens=301)
    b.bad("status-600", "ranges", INVALID, "status_code", status_code=600)
    b.bad("status-99", "ranges", INVALID, "status_code", status_code=99)
    b.bad("negative-latency", "ranges", INVALID, "latency_ms", latency_ms=-5)
    b.bad("negative-cost", "ranges", INVALID, "cost_usd", cost_usd=-0.01)
    b.bad("cost-1e9", "ranges", INVALID, "cost_usd", cost_usd=1e9)
    b.bad("cost-nan-string", "ranges", INVALID, "cost_usd", cost_usd="NaN")
    b.bad("cost-string-10-places", "ranges", INVALID, "cost_usd", cost_usd="0.1234567891")
    b.bad("cost-exponent-string", "ranges", INVALID, "cost_usd", cost_usd="1e-3")
    b.bad("cost-400-digits", "ranges", INVALID, "cost_usd", cost_usd="1" * 400)
    b.good("cost-float-rounded", "ranges", cost_usd=0.1 + 0.2)
    b.good("cost-below-a-nano", "ranges", cost_usd=1e-10)
    b.good("cost-half-even", "ranges", cost_usd=0.0000000025)
    b.good("cost-max-string", "ranges", cost_usd="999999999.999999999")
    b.good("provider-upper-case", "ranges", provider="OpenAI")
    b.bad("client-id-with-slash", "ranges", INVALID, "client_id", client_id="acme/../x")
    b.bad("client-id-padded", "ranges", INVALID, "client_id", client_id=" " + b.client_id)
    b.bad("client-id-65-chars", "ranges", INVALID, "client_id", client_id="c" * 65)


def _sizes_and_nesting(b: _Builder) -> None:
    b.bad("oversized-event", "sizes", OVERSIZED, None, request_metadata={"x": "y" * 70_000})
    b.bad(
        "metadata-over-16k",
        "sizes",
        INVALID,
        "response_metadata",
        response_metadata={"x": "y" * 17_000},
    )
    b.bad("error-message-4097", "sizes", INVALID, "error_message", error_message="e" * 4097)
    b.good("metadata-16-levels", "nesting", request_metadata=_nested(16))
    b.bad(
        "metadata-17-levels", "nesting", INVALID, "request_metadata", request_metadata=_nested(17)
    )
    b.bad(
        "metadata-300-levels", "nesting", INVALID, "request_metadata", request_metadata=_nested(300)
    )
    deep = _replace(
        _dumps(b.event("metadata-2000-levels")),
        b'"chat"',
        b'"chat","request_metadata":' + b'{"k":' * 2000 + b"1" + b"}" * 2000,
    )
    b.add("metadata-2000-levels", "nesting", deep, BAD_JSON)
    b.good("metadata-int-2^63-1", "numbers", request_metadata={"seed": 2**63 - 1})
    b.bad(
        "metadata-int-2^64",
        "numbers",
        INVALID,
        "request_metadata",
        request_metadata={"seed": 2**64},
    )
    b.bad(
        "metadata-int-2^70",
        "numbers",
        INVALID,
        "request_metadata",
        request_metadata={"seed": 2**70},
    )
    b.bad(
        "metadata-int-below-min",
        "numbers",
        INVALID,
        "response_metadata",
        response_metadata={"n": -(2**63) - 1},
    )
    b.bad(
        "metadata-float-1e300",
        "numbers",
        INVALID,
        "request_metadata",
        request_metadata={"n": 1e300},
    )
    raw = _replace(_dumps(b.event("tokens-1e400")), b"1200", b"1e400")
    b.add("tokens-1e400", "numbers", raw, BAD_JSON)
    raw = _replace(_dumps(b.event("tokens-500-digits")), b"1200", b"1" + b"0" * 500)
    b.add("tokens-500-digits", "numbers", raw, BAD_JSON)


def _times(b: _Builder) -> None:
    for name, when in [
        ("year-0001", "0001-01-01T00:00:00Z"),
        ("year-1969", "1969-12-31T23:59:59Z"),
        ("year-1970", "1970-01-01T00:00:00Z"),
        ("year-1999", "1999-12-31T23:59:59.999Z"),
        ("year-2100", "2100-01-01T00:00:00Z"),
        ("year-2106-past-datetime", "2106-02-07T06:28:16Z"),
        ("year-9999", "9999-12-31T23:59:59Z"),
        ("naive-time", "2026-06-15T10:30:00"),
        ("feb-29-non-leap", "2026-02-29T00:00:00Z"),
        ("leap-second", "2026-06-30T23:59:60Z"),
        ("hour-24", "2026-06-15T24:00:00Z"),
        ("lowercase-t-z", "2026-06-15t10:30:00z"),
        ("space-separator", "2026-06-15 10:30:00Z"),
        ("offset-24h", "2026-06-15T10:30:00+24:00"),
        ("ten-fraction-digits", "2026-06-15T10:30:00.1234567891Z"),
        ("date-only", "2026-06-15"),
        ("week-date", "2026-W24-1T10:30:00Z"),
    ]:
        b.bad(f"time-{name}", "time", INVALID, "occurred_at", occurred_at=when)
    b.good("time-first-day-east", "time", occurred_at="2000-01-01T00:00:00+14:00")
    b.good("time-last-day-west", "time", occurred_at="2099-12-31T23:59:59.999-12:00")
    b.good("time-feb-29-leap", "time", occurred_at="2028-02-29T12:00:00Z")
    b.good("time-nine-fraction-digits", "time", occurred_at="2026-06-15T10:30:00.123456789Z")


def _batches_and_backfills(b: _Builder) -> None:
    good1 = b.event("mixed-batch", 1)
    good2 = b.event("mixed-batch", 2, provider="anthropic", model="claude-3-5-haiku")
    bad = b.event("mixed-batch", 3, input_tokens=-7)
    raw = _dumps([good1, bad, "not an event", None, good2, b.event("mixed-batch", 4, x=1)])
    b.add(
        "batch-mixing-good-and-bad",
        "batch",
        raw,
        (STORED, INVALID, NOT_OBJECT, NOT_OBJECT, STORED, INVALID),
        stored=(good1, good2),
    )
    b.add("batch-empty", "batch", b"[]", NOT_OBJECT)
    b.add("batch-of-batches", "batch", _dumps([[b.event("nested-batch")]]), NOT_OBJECT)
    twice = b.event("repeat-in-batch")
    b.add(
        "batch-repeats-an-event", "batch", _dumps([twice, twice]), (STORED, STORED), stored=(twice,)
    )
    big = b.event("batch-oversized-element", request_metadata={"x": "y" * 70_000})
    ok = b.event("batch-next-to-oversized")
    b.add(
        "batch-with-oversized-element",
        "batch",
        _dumps([ok, big]),
        (STORED, OVERSIZED),
        stored=(ok,),
    )
    huge = [b.event("batch-over-1mib", i, error_message="e" * 4000) for i in range(300)]
    b.add("batch-over-1mib", "batch", _dumps(huge), OVERSIZED)
    old = b.event("backfill-one-old-event", occurred_at="2001-03-01T00:00:00Z")
    b.add("backfill-one-old-event", "backfill", _dumps(old), STORED, stored=(old,))
    months = [
        b.event("backfill-decade", i, occurred_at=f"{2010 + i // 12}-{i % 12 + 1:02d}-15T08:00:00Z")
        for i in range(BACKFILL_MONTHS)
    ]
    b.add(
        "backfill-130-months",
        "backfill",
        _dumps(months),
        (STORED,) * len(months),
        stored=tuple(months),
    )
    # Duplicate names: the last one wins, as in JSON.parse, Python's json and orjson.
    raw = _replace(
        _dumps(b.event("duplicate-key-valid")),
        b'"input_tokens":1200',
        b'"input_tokens":999999,"input_tokens":1200',
    )
    b.add("duplicate-key-last-wins", "duplicates", raw, STORED, stored=(json.loads(raw),))
    raw = _replace(
        _dumps(b.event("duplicate-key-invalid")),
        b'"success":true',
        b'"success":true,"success":"yes"',
    )
    b.add("duplicate-key-last-invalid", "duplicates", raw, INVALID, loc=("success",))


def _json_syntax(b: _Builder) -> None:
    event = _dumps(b.event("syntax"))
    b.add("trailing-garbage", "syntax", event + b"xyz", BAD_JSON)
    b.add("two-objects", "syntax", event + event, BAD_JSON)
    b.add("truncated", "syntax", event[: len(event) // 2], BAD_JSON)
    b.add("comment", "syntax", b"/* hi */" + event, BAD_JSON)
    b.add("single-quotes", "syntax", event.replace(b'"', b"'"), BAD_JSON)
    b.add("nan-literal", "syntax", _replace(event, b"1200", b"NaN"), BAD_JSON)
    b.add("trailing-comma", "syntax", event[:-1] + b",}", BAD_JSON)


def stored_events(records: list[Hostile]) -> list[dict[str, Any]]:
    """Every event the corpus expects stored, once each (by event_id)."""
    seen: dict[str, dict[str, Any]] = {}
    for record in records:
        for event in record.stored:
            seen.setdefault(str(event["event_id"]).lower(), event)
    return list(seen.values())


__all__ = ["STORED", "Hostile", "corpus", "stored_events"]
