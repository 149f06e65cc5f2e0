"""Money is exact: integer nano-USD on the hot paths, ``Decimal`` with 9 places elsewhere.

JSON carries money as a decimal string (``"12.345000000"``), never a float, so a client that
parses it with a decimal type gets the exact amount.
"""

from __future__ import annotations

from decimal import Decimal

NANO_PER_USD = 10**9
_NANO = Decimal("0.000000001")


def money(value: Decimal | int) -> str:
    """The amount as a 9-place decimal string (half-even if it had more places)."""
    return format(Decimal(value).quantize(_NANO), "f")


def nanos(value: Decimal) -> int:
    """USD as integer nano-USD; the value must already have at most 9 decimal places."""
    scaled = value * NANO_PER_USD
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} USD is finer than one nano-USD")
    return int(scaled)
