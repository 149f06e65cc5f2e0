"""The field rules of the generation event, each stated once for the validator and the schema.

Every rule here is written so that the published JSON Schema says exactly what the validator
does: whatever ``schemas/generation_event.schema.json`` accepts is stored, whatever it refuses
is dead-lettered (``tests/unit/test_schema_agreement.py`` checks it as a property). Where JSON
Schema and pydantic's defaults differ, the rule here decides, and both sides follow it:

- Integers: JSON has one number type, so ``1200.0`` *is* the integer 1200 for JSON Schema; it is
  accepted as such. Strings (``"12"``) and booleans are refused, as are fractions.
- ``occurred_at``: an RFC 3339 string with an offset (``Z`` or ``±hh:mm``), dated (as written)
  2000-01-01 to 2099-12-31. Whatever the offset, the instant is then inside
  1999-12-31T00:01Z .. 2100-01-01T23:59Z, which the raw table (``DateTime64(3)``), the hourly
  rollup (``DateTime``, 1970-2106) and the calendar code all hold: logs and usage totals count
  the same events. Epoch numbers are refused (seconds or milliseconds? the number cannot say).
- ``cost_usd``: a JSON number is read as a double (what every JSON library does) at its
  shortest decimal form and rounded half-even to the nano-dollar (9 places): a producer that
  computes cost in floating point keeps its call. A decimal string is exact: more than 9
  significant decimal places is refused, not rounded. Range 0 <= cost < 1e9 USD.
- Metadata: any JSON object, nested at most :data:`MAX_METADATA_DEPTH` levels of arrays and
  objects (the metadata object included), numbers below 2^63 in magnitude (beyond it an
  integer could not be stored exactly), at most 16 KiB once serialised (compact UTF-8 JSON).
- Names (client, provider, model, endpoint): 1-64 characters from a safe alphabet; a client id
  leaves out ``/`` so it can sit in an admin URL path.

Patterns are ECMA-262 (the JSON Schema dialect), matched against the whole string.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from pydantic import GetPydanticSchema, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError
from pydantic_core import core_schema as cs

UINT32_MAX = 2**32 - 1
# Metadata numbers must be less than 2^63 in magnitude (a signed 64-bit integer, -2^63 left out):
# beyond that an integer cannot round-trip exactly through the stored JSON (orjson reads it as
# a double), so it is refused rather than changed. -2^63 itself is out because a parser may
# round a larger negative integer to exactly that double.
METADATA_NUMBER_MIN = -(2**63) + 1
METADATA_NUMBER_MAX = 2**63 - 1
# Nesting levels of arrays/objects, counting the metadata object itself. The JSON encoder
# gives up at 255; a limit far below keeps every accepted value storable.
MAX_METADATA_DEPTH = 16

NAME_MAX_LENGTH = 64
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$"
# Client ids appear in admin URL paths (/admin/v1/clients/{client_id}/keys): no "/".
CLIENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
UUID_PATTERN = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"

FIRST_YEAR, LAST_YEAR = 2000, 2099
# Day 29 of February only in leap years: in 2000-2099 those are the years divisible by 4.
_DATE = (
    r"(?:20[0-9]{2}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
    r"|20(?:[02468][048]|[13579][26])-02-29)"
)
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?"
_OFFSET = r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
OCCURRED_AT_PATTERN = f"^{_DATE}T{_TIME}{_OFFSET}$"

MAX_COST = Decimal(10**9)  # exclusive
NANO = Decimal("0.000000001")
# Up to 9 integer digits; up to 9 decimals, trailing zeros beyond them allowed (still exact).
COST_STRING_PATTERN = r"^(?:0|[1-9][0-9]{0,8})(?:\.[0-9]{1,9}0*)?$"


def _full(pattern: str) -> re.Pattern[str]:
    # ECMA "$" is the end of the string; Python's also matches before a final newline.
    return re.compile(pattern.removeprefix("^").removesuffix("$"))


_OCCURRED_AT = _full(OCCURRED_AT_PATTERN)
_COST_STRING = _full(COST_STRING_PATTERN)
_RFC3339_ANY_YEAR = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T" + _TIME + _OFFSET)


def whole_number(ge: int, le: int) -> tuple[GetPydanticSchema, WithJsonSchema]:
    """An integer in [ge, le]; a whole-valued JSON number (``3.0``) is that integer."""

    def build(_source: Any, _handler: Any) -> cs.CoreSchema:
        either = cs.union_schema(
            [
                cs.int_schema(strict=True),
                cs.chain_schema([cs.float_schema(strict=True), cs.int_schema()]),
            ],
            custom_error_type="whole_number_type",
            custom_error_message="Input should be a whole number (not a string, boolean or "
            "fraction)",
        )
        return cs.chain_schema([either, cs.int_schema(ge=ge, le=le)])

    return GetPydanticSchema(build), WithJsonSchema(
        {"type": "integer", "minimum": ge, "maximum": le}
    )


def _event_id_schema(_source: Any, _handler: Any) -> cs.CoreSchema:
    # In pydantic-core (no Python call per event): the pattern first, since the UUID parser
    # alone also takes 32 bare hex digits, braces and "urn:uuid:" forms.
    text = cs.chain_schema([cs.str_schema(strict=True, pattern=UUID_PATTERN), cs.uuid_schema()])
    either = cs.json_or_python_schema(
        json_schema=text,
        python_schema=cs.union_schema([cs.is_instance_schema(uuid.UUID), text]),
    )
    return cs.custom_error_schema(
        either,
        custom_error_type="uuid_format",
        custom_error_message="must be a UUID in its 36-character form (8-4-4-4-12 hex digits)",
    )


EVENT_ID = (
    GetPydanticSchema(_event_id_schema),
    WithJsonSchema({"type": "string", "format": "uuid", "pattern": UUID_PATTERN}),
)


def _occurred_at(value: Any) -> datetime:
    if isinstance(value, datetime):
        value = value.isoformat()
    if not isinstance(value, str):
        raise PydanticCustomError(
            "datetime_type",
            "must be an RFC 3339 date-time string such as 2026-10-01T12:00:00Z "
            "(epoch numbers are not accepted)",
        )
    if _OCCURRED_AT.fullmatch(value):
        return datetime.fromisoformat(value)
    if _RFC3339_ANY_YEAR.fullmatch(value):
        raise PydanticCustomError(
            "datetime_range",
            "is dated {date} as written; accepted dates are {first}-01-01 to {last}-12-31",
            {"date": value[:10], "first": FIRST_YEAR, "last": LAST_YEAR},
        )
    try:
        naive = datetime.fromisoformat(value).tzinfo is None
    except ValueError:
        naive = False
    if naive:
        raise PydanticCustomError(
            "timezone_aware", "needs a UTC offset (Z or +hh:mm): a local time is ambiguous"
        )
    raise PydanticCustomError(
        "datetime_format",
        "must be an RFC 3339 date-time with an offset, e.g. 2026-10-01T12:00:00.250+02:00",
    )


OCCURRED_AT = (
    GetPydanticSchema(lambda _s, _h: cs.no_info_plain_validator_function(_occurred_at)),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": OCCURRED_AT_PATTERN}),
)


def _cost_range_error(value: object) -> PydanticCustomError:
    return PydanticCustomError(
        "cost_range", "{value} is outside 0 <= cost_usd < 1000000000", {"value": str(value)}
    )


def _cost(value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise PydanticCustomError("cost_type", "must be a JSON number or a decimal string")
    if isinstance(value, int | float):
        if not (math.isfinite(value) and 0 <= value < MAX_COST):
            raise _cost_range_error(value)
        # repr: a float's shortest decimal form, the number the producer wrote.
        exact = Decimal(value) if isinstance(value, int) else Decimal(repr(value))
        return abs(exact.quantize(NANO, rounding=ROUND_HALF_EVEN))
    if isinstance(value, Decimal):  # Python producers: judged like the string it prints as
        value = format(value, "f") if value.is_finite() else str(value)
    if not isinstance(value, str):
        raise PydanticCustomError("cost_type", "must be a JSON number or a decimal string")
    if _COST_STRING.fullmatch(value):
        return Decimal(value)
    try:
        parsed = Decimal(value)
    except InvalidOperation:
        parsed = None
    if parsed is not None and parsed.is_finite() and 0 <= parsed < MAX_COST:
        raise PydanticCustomError(
            "cost_precision",
            "a decimal string is exact, so at most 9 decimal places (nano-USD) and digits "
            "only, like 12.345678901; send a JSON number to have it rounded",
        )
    if parsed is not None and parsed.is_finite():
        raise _cost_range_error(value)
    raise PydanticCustomError(
        "cost_format", "must be a JSON number or a decimal string such as 0.001234"
    )


def _cost_text(value: Decimal | None) -> str | None:
    # Plain digits: str() would write a rounded zero as "0E-9", which no decimal string matches.
    return None if value is None else format(value, "f")


COST = (
    GetPydanticSchema(lambda _s, _h: cs.no_info_plain_validator_function(_cost)),
    PlainSerializer(_cost_text, when_used="json"),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "exclusiveMaximum": 10**9},
                {"type": "string", "pattern": COST_STRING_PATTERN},
                {"type": "null"},
            ]
        }
    ),
)


def metadata_value_problem(value: object, depth: int = 1) -> str | None:
    """Why ``value`` (a metadata object, nested ``depth`` levels deep) cannot be stored, or None."""
    if isinstance(value, dict | list):
        if depth > MAX_METADATA_DEPTH:
            return f"is nested more than {MAX_METADATA_DEPTH} levels of arrays/objects deep"
        for item in value.values() if isinstance(value, dict) else value:
            if isinstance(item, str | bool) or item is None:
                continue
            found = metadata_value_problem(item, depth + 1)
            if found is not None:
                return found
        return None
    if isinstance(value, int | float):
        if not METADATA_NUMBER_MIN <= value <= METADATA_NUMBER_MAX:  # NaN fails this too
            return (
                f"holds the number {value!r}, outside the accepted range "
                f"[{METADATA_NUMBER_MIN}, {METADATA_NUMBER_MAX}]: send it as a string"
            )
        return None
    return f"holds a {type(value).__name__}, which is not a JSON value"


def _metadata(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PydanticCustomError("dict_type", "must be a JSON object")
    if value:
        found = metadata_value_problem(value)
        if found is not None:
            raise PydanticCustomError("metadata", found)
    return value


def metadata_json_schema() -> dict[str, Any]:
    """``$defs`` spelling out the metadata rule level by level (JSON Schema has no depth limit)."""
    defs: dict[str, Any] = {}
    scalars: list[dict[str, Any]] = [
        {"type": ["string", "boolean", "null"]},
        {"type": "number", "minimum": METADATA_NUMBER_MIN, "maximum": METADATA_NUMBER_MAX},
    ]
    for level in range(2, MAX_METADATA_DEPTH + 2):
        if level > MAX_METADATA_DEPTH:
            defs[f"MetadataLevel{level}"] = {"anyOf": scalars}
            continue
        inner = {"$ref": f"#/$defs/MetadataLevel{level + 1}"}
        defs[f"MetadataLevel{level}"] = {
            "anyOf": [
                *scalars,
                {"type": "array", "items": inner},
                {"type": "object", "additionalProperties": inner},
            ]
        }
    return defs


METADATA = (
    GetPydanticSchema(lambda _s, _h: cs.no_info_plain_validator_function(_metadata)),
    # The values' rule ($defs/MetadataLevel2) is added by schemas.event.event_json_schema.
    WithJsonSchema({"type": "object"}),
)
