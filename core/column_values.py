"""Values checked and parsed a whole column at a time, for :mod:`core.columnar`.

The patterns are RE2 (pyarrow compute). Each check is narrower than the schema on purpose:
whatever it refuses is judged by the exact validator (:mod:`core.decode`) instead.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

# RE2 patterns (pyarrow compute). The name pattern is the schema's; the rest are narrow on
# purpose: whatever they refuse is judged by the exact validator instead.
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$"
CLIENT = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"  # no "/": client ids sit in admin URL paths
UUID = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
TIME = (
    r"^20\d\d-\d\d-\d\dT([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?"
    r"(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)
COST = r"^(0|[1-9]\d{0,8})(\.\d{1,9})?$"
# Nothing the validator would strip: empty, or printable ASCII at both ends.
UNSTRIPPED = r"(?s)^([!-~](.*[!-~])?)?$"
# Metadata the narrowest rules agree on: nesting and number range.
_MAX_DEPTH = 16
_MAX_NUMBER = 2**63 - 1
_HEX = np.full(256, 255, np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEX[_c] = 10 + _i
_HEX_AT = np.array([*range(8), *range(9, 13), *range(14, 18), *range(19, 23), *range(24, 36)])


class _Metadata:
    """Raw metadata JSON -> the bytes storage keeps (orjson's compact form), memoised.

    Real traffic repeats a few metadata objects endlessly; the memo is cleared when it grows.
    """

    def __init__(self, cap: int = 50_000) -> None:
        self.cap = cap
        self.memo: dict[bytes, bytes | None] = {}

    def canonical(self, raw: msgspec.Raw) -> bytes | None:
        key = bytes(raw)
        found = self.memo.get(key, b"")
        if found != b"":
            return found
        value: bytes | None = None
        try:
            data = orjson.loads(key)
            if isinstance(data, dict) and _plain(data, 1):
                value = orjson.dumps(data)
        except (orjson.JSONDecodeError, TypeError):
            value = None
        if len(self.memo) >= self.cap:
            self.memo.clear()
        self.memo[key] = value
        return value


METADATA = _Metadata()


def _plain(value: Any, depth: int) -> bool:
    """Nested at most ``_MAX_DEPTH`` deep, numbers within +-(2^63 - 1), nothing else odd."""
    if isinstance(value, dict | list):
        if depth > _MAX_DEPTH:
            return False
        items = value.values() if isinstance(value, dict) else value
        return all(_plain(item, depth + 1) for item in items)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, int | float):
        return -_MAX_NUMBER <= value <= _MAX_NUMBER
    return False


def uuid_bytes(texts: pa.Array, ok: np.ndarray[Any, Any]) -> list[bytes]:
    """16-byte ids of 36-character UUID strings (rows not ``ok`` get zeros), in numpy."""
    clean = pc.if_else(pa.array(ok), texts, "0" * 36)
    start = int(np.frombuffer(clean.buffers()[1], np.int32)[clean.offset]) if len(clean) else 0
    raw = np.frombuffer(clean.buffers()[2], np.uint8)[start : start + 36 * len(clean)]
    digits = _HEX[raw.reshape(-1, 36)[:, _HEX_AT]]
    flat = ((digits[:, 0::2] << 4) | digits[:, 1::2]).astype(np.uint8).tobytes()
    return [flat[i : i + 16] for i in range(0, len(flat), 16)]


def matches(values: pa.Array, pattern: str) -> np.ndarray[Any, np.dtype[np.bool_]]:
    result = pc.match_substring_regex(values, pattern).fill_null(True)
    return np.asarray(result.to_numpy(zero_copy_only=False), dtype=bool)


def epoch_micros(times: pa.Array) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Microseconds since the epoch (UTC) and which strings parsed as a real date and time."""
    try:
        parsed = pc.cast(times, pa.timestamp("us", tz="UTC"))
        return parsed.cast(pa.int64()).to_numpy(zero_copy_only=False), np.ones(len(times), bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    # Some string is no real date (say February 30th): find which, one by one.
    micros = np.zeros(len(times), np.int64)
    ok = np.zeros(len(times), bool)
    epoch = datetime.fromisoformat("1970-01-01T00:00:00+00:00")
    for i, text in enumerate(times.to_pylist()):
        try:
            delta = datetime.fromisoformat(text) - epoch
        except (ValueError, TypeError, OverflowError):
            continue
        micros[i] = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        ok[i] = True
    return micros, ok


def cost_nanos(texts: list[str | None]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    nanos = np.zeros(len(texts), np.int64)
    has = np.zeros(len(texts), bool)
    for i, text in enumerate(texts):
        if text is not None:
            whole, _, frac = text.partition(".")
            nanos[i] = int(whole) * 1_000_000_000 + int(frac.ljust(9, "0"))
            has[i] = True
    return nanos, has
