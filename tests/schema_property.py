"""The published schema and a decoder must agree: the property, reusable for any decoder.

A decoder here is any function from a batch of Kafka record values to verdicts: for each
message, one boolean per event it holds (True: would be stored). ``core_decoder`` is the sink's
(and the import's) :func:`core.decode.decode_batch`; ``http_encoder`` is what
``POST /ingest/v1/events`` judges with; a second decoder (a columnar one, say) plugs into
:func:`assert_agrees` the same way.

The schema's verdict (:func:`reference_verdicts`) is computed from the published file alone,
with the ``jsonschema`` package, plus the wire rules the schema states in words and ``x-``
keywords (UTF-8 JSON text, no lone surrogates, no NaN/Infinity, byte limits), because JSON
Schema judges parsed values, not bytes. One dialect fix: JSON Schema patterns are ECMA-262,
where ``$`` is the end of the string; Python's ``re`` (which ``jsonschema`` uses) also lets
``$`` match before a final newline, so ``"acme\\n"`` would pass a name pattern there.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from typing import Any

import orjson
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from jsonschema import Draft202012Validator, ValidationError
from jsonschema.validators import extend

from core.decode import Accepted, Limits, SourceRecord, decode_batch, encode
from core.errors import ValidationFailed
from schemas.export import SCHEMA_FILE

Verdicts = list[list[bool]]
BatchDecoder = Callable[[Sequence[bytes | None]], Verdicts]


@cache
def published_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_FILE.read_text("utf-8"))
    return schema


def _ecma(pattern: str) -> str:
    return (
        pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith(r"\$") else pattern
    )


def _ecma_pattern(
    validator: Any, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not re.search(_ecma(pattern), instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


_EcmaValidator = extend(Draft202012Validator, {"pattern": _ecma_pattern})


@cache
def _validator() -> Any:
    schema = published_schema()
    Draft202012Validator.check_schema(schema)
    return _EcmaValidator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


class _NotIJson(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NotIJson(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotIJson(text)
    return value


def _no_lone_surrogates(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_no_lone_surrogates(k) and _no_lone_surrogates(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_no_lone_surrogates(v) for v in value)
    return True


def parse_wire(raw: bytes) -> tuple[bool, Any]:
    """(ok, value): the wire rules of the schema's description, independent of the decoder."""
    try:
        text = raw.decode("utf-8")
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False, None
    return _no_lone_surrogates(value), value


def event_is_valid(event: Any) -> bool:
    """The schema's verdict on one parsed event, metadata byte limits included."""
    schema = published_schema()
    if not _validator().is_valid(event):
        return False
    for name, rule in schema["properties"].items():
        whole = rule.get("x-partOf")
        if whole is not None and event.get(name, rule.get("default", 0)) > event[whole]:
            return False
    for name in METADATA_FIELDS:
        meta = event.get(name)
        if meta and len(orjson.dumps(meta)) > schema["properties"][name]["x-maxBytes"]:
            return False
    return True


def reference_verdicts(messages: Sequence[bytes | None]) -> Verdicts:
    schema = published_schema()
    out: Verdicts = []
    for raw in messages:
        if not raw:
            out.append([False])
            continue
        ok, value = parse_wire(raw)
        if not ok:
            out.append([False])
        elif isinstance(value, list):
            too_big = len(raw) > schema["x-maxBatchBytes"]
            out.append([False] if too_big or not value else [event_is_valid(v) for v in value])
        else:
            out.append([len(raw) <= schema["x-maxBytes"] and event_is_valid(value)])
    return out


def core_decoder(messages: Sequence[bytes | None]) -> Verdicts:
    """The Kafka sink's and the admin import's verdicts (core.decode.decode_batch)."""
    records = [SourceRecord(m, "t", 0, offset) for offset, m in enumerate(messages)]
    decoded = decode_batch(records, Limits())
    found: dict[int, list[tuple[int, bool]]] = {i: [] for i in range(len(messages))}
    # A batch message accepted whole (the fast path) reports its events in order, index -1.
    for a in decoded.accepted:
        found[a.record.offset].append((a.record.index, True))
    for r in decoded.rejected:
        found[r.record.offset].append((r.record.index, False))
    out: Verdicts = []
    for i in range(len(messages)):
        pairs = found[i]
        if len(pairs) > 1 and all(index == -1 for index, _ in pairs):
            pairs = [(n, verdict) for n, (_, verdict) in enumerate(pairs)]
        out.append([verdict for _, verdict in sorted(pairs, key=lambda p: p[0])])
    return out


def http_encoder(messages: Sequence[bytes | None]) -> Verdicts:
    """What POST /ingest/v1/events and EventProducer judge with (core.decode.encode)."""
    out: Verdicts = []
    for raw in messages:
        try:
            body = orjson.loads(raw or b"")
        except orjson.JSONDecodeError:
            out.append([False])
            continue
        events = body if isinstance(body, list) else [body]
        verdicts = []
        for event in events:
            try:
                verdicts.append(isinstance(event, dict) and bool(encode(event)))
            except ValidationFailed:
                verdicts.append(False)
        out.append(verdicts or [False])
    return out


def assert_agrees(decoder: BatchDecoder, messages: Sequence[bytes | None]) -> None:
    expected = reference_verdicts(messages)
    actual = decoder(messages)
    for raw, want, got in zip(messages, expected, actual, strict=True):
        assert got == want, f"schema says {want}, decoder says {got} for {raw!r:.2000}"


def accepted_round_trip(raw: bytes) -> None:
    """An accepted event re-encoded (as the HTTP ingest publishes it) decodes to itself."""
    decoded = decode_batch([SourceRecord(raw)], Limits())
    for item in decoded.accepted:
        assert isinstance(item, Accepted)
        _, value = encode(item.event)
        again = decode_batch([SourceRecord(value)], Limits())
        assert [a.event for a in again.accepted] == [item.event], value


METADATA_FIELDS = ("request_metadata", "response_metadata")


def generation_schema() -> dict[str, Any]:
    """The published schema without metadata, for hypothesis-jsonschema to draw events from.

    hypothesis-jsonschema is very slow on the level-by-level metadata rule (about 0.5 s an
    example), so the tests draw metadata from a JSON-value strategy of their own and add it:
    the verdict still comes from the published schema. Formats are dropped because the
    patterns already say more (a format strategy filtered by a pattern starves the generator).
    """
    schema = copy.deepcopy(published_schema())
    schema.pop("$defs")
    schema.pop("$id", None)
    for name in METADATA_FIELDS:
        schema["properties"].pop(name)
    for rule in schema["properties"].values():
        rule.pop("format", None)
    return schema


# Strategies: events drawn from the published schema, and hostile variations of them.

FIELDS = sorted(published_schema()["properties"])
# Integers on both sides of the metadata bounds, where a parser could round them into range.
_BOUNDS = [2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63) + 1, -(2**63), -(2**63) - 1, 2**70]
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**65), 2**65)
    | st.sampled_from(_BOUNDS)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=12,
)
METADATA = st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=4)


# One hypothesis-jsonschema strategy per field, composed here: drawing the whole object schema
# rebuilds its regex strategies on every example (about 0.5 s each).
_GENERATION = generation_schema()
_FIELD_STRATEGIES = {name: from_schema(rule) for name, rule in _GENERATION["properties"].items()}


@st.composite
def events(draw: st.DrawFn) -> Any:
    event: dict[str, Any] = {}
    for name, strategy in _FIELD_STRATEGIES.items():
        if name in _GENERATION["required"] or draw(st.booleans()):
            event[name] = draw(strategy)
    for name in METADATA_FIELDS:
        if draw(st.booleans()):
            event[name] = draw(METADATA)
    return event


EVENTS = events()


def _nested(depth: int, leaf: Any = 1) -> Any:
    value: Any = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


# Values at and just past every edge the schema states, and the wrong types around them.
EDGES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1,
    1.0,
    1.5,
    -0.0,
    99,
    100,
    599,
    600,
    2**32 - 1,
    2**32,
    2**63,
    2**64,
    1e300,
    1e-10,
    0.0000000015,
    999999999.9999999,
    1e9,
    "",
    " ",
    "x" * 64,
    "x" * 65,
    "x" * 257,
    "12",
    "1",
    "acme",
    "acme\n",
    " acme",
    "a/b",
    "a:b",
    "A.b-c_d",
    "é",
    "a\x00b",
    "\ud83d\ude00",
    [],
    {},
    [1],
    {"a": 1},
    "0.000000001",
    "0.0000000001",
    "0.1000000000",
    "999999999.999999999",
    "1000000000",
    "1e-3",
    "+1",
    "-0",
    "NaN",
    "2026-10-01T12:00:00Z",
    "2026-10-01T12:00:00",
    "2026-10-01 12:00:00Z",
    "2026-10-01t12:00:00z",
    "2000-01-01T00:00:00+23:59",
    "1999-12-31T23:59:59.999Z",
    "2099-12-31T23:59:59.999999999-23:59",
    "2100-01-01T00:00:00Z",
    "1969-12-31T23:59:59Z",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "2024-02-29T00:00:00Z",
    "2100-02-29T00:00:00Z",
    "2026-02-29T00:00:00Z",
    "2026-04-31T00:00:00Z",
    "2026-10-01T24:00:00Z",
    "2026-12-31T23:59:60Z",
    "2026-10-01T12:00:00.1234567890Z",
    1_790_000_000,
    1_790_000_000_000,
    "0b7c6a52-3f0e-4e0b-9a51-6c1d2e3f4a5b",
    "0B7C6A52-3F0E-4E0B-9A51-6C1D2E3F4A5B",
    "0b7c6a523f0e4e0b9a516c1d2e3f4a5b",
    "{0b7c6a52-3f0e-4e0b-9a51-6c1d2e3f4a5b}",
    "urn:uuid:0b7c6a52-3f0e-4e0b-9a51-6c1d2e3f4a5b",
    "0b7c6a52-3f0e-4e0b-9a51-6c1d2e3f4a5g",
    {"big": 2**63 - 1},
    {"big": 2**63},
    {"big": 2**64 - 1},
    {"big": 2**64},
    {"big": 2**70},
    {"small": -(2**63) + 1},
    {"small": -(2**63)},
    {"small": -(2**63) - 1},
    {"f": 9.2e18},
    {"f": 1.8e19},
    {"f": 1.5},
    {"s": "\x00"},
    _nested(15),
    _nested(16),
    _nested(17),
    _nested(300),
    {"blob": "x" * 16_370},
    {"blob": "x" * 16_400},
    {"k": [None, True, "x", {"n": 1e300}]},
]


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    event: Any = draw(EVENTS)
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["drop", "edge", "edge", "edge", "unknown", "swap"]))
        name = draw(st.sampled_from(FIELDS))
        if kind == "drop":
            event.pop(name, None)
        elif kind == "edge":
            event[name] = draw(st.sampled_from(EDGES))
        elif kind == "unknown":
            event[draw(st.sampled_from(["colour", "input_token", "Client_id", ""]))] = 1
        else:
            other = draw(st.sampled_from(FIELDS))
            if name in event and other in event:
                event[name], event[other] = event[other], event[name]
    return event


def encode_json(value: Any, ascii_only: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


@st.composite
def messages(draw: st.DrawFn) -> list[bytes | None]:
    out: list[bytes | None] = []
    for _ in range(draw(st.integers(1, 4))):
        shape = draw(st.sampled_from(["event", "event", "batch", "bytes"]))
        ascii_only = draw(st.booleans())
        if shape == "event":
            out.append(encode_json(draw(st.one_of(EVENTS, mutated())), ascii_only))
        elif shape == "batch":
            items = draw(st.lists(st.one_of(EVENTS, mutated()), min_size=0, max_size=4))
            out.append(encode_json(items, ascii_only))
        else:
            raw = encode_json(draw(EVENTS), ascii_only)
            cut = draw(st.integers(0, len(raw)))
            damage = draw(
                st.sampled_from(
                    [b"", b"\xff", b"\xef\xbb\xbf", b"\x00", b"}", b" ", b"\\ud800", b"NaN"]
                )
            )
            if draw(st.booleans()):
                out.append(damage + raw)
            else:
                out.append(raw[:cut] + damage + raw[cut:])
    if draw(st.integers(0, 9)) == 0:
        out.append(draw(st.sampled_from([None, b""])))
    return out


def cases() -> st.SearchStrategy[list[bytes | None]]:
    """Batches of record values for :func:`assert_agrees` (``@given(batch=cases())``)."""
    return messages()


__all__ = [
    "EDGES",
    "FIELDS",
    "BatchDecoder",
    "Verdicts",
    "accepted_round_trip",
    "assert_agrees",
    "cases",
    "core_decoder",
    "encode_json",
    "generation_schema",
    "http_encoder",
    "reference_verdicts",
]
