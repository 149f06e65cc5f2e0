"""The price catalog: which price applied to a provider/model on a given day, and the cost.

Prices are USD per million tokens, held as integers of nano-USD per million tokens so that the
cost of a call is integer arithmetic with one rounding (half-even) at the end: exact, and cheap
on the ingest hot path.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

NANO = 10**9
_PER = 10**6  # prices are per million tokens


def _nano(value: str) -> int:
    amount = Decimal(value) * NANO
    if amount != amount.to_integral_value():
        raise ValueError(f"price {value} is finer than one nano-USD per 1M tokens")
    return int(amount)


@dataclass(frozen=True)
class Price:
    """Prices of one model from ``effective_from`` on, in nano-USD per million tokens."""

    provider: str
    model: str
    effective_from: date
    input: int
    output: int
    cached_input: int
    reasoning: int

    @property
    def version(self) -> str:
        return f"{self.provider}/{self.model}@{self.effective_from.isoformat()}"

    def cost_nano(self, input_tokens: int, output_tokens: int, cached: int, reasoning: int) -> int:
        """Exact cost of one call in nano-USD, rounded half-even once."""
        scaled = (
            (input_tokens - cached) * self.input
            + cached * self.cached_input
            + (output_tokens - reasoning) * self.output
            + reasoning * self.reasoning
        )
        quotient, remainder = divmod(scaled, _PER)
        twice = 2 * remainder
        if twice > _PER or (twice == _PER and quotient % 2 == 1):
            quotient += 1
        return quotient


class PriceCatalog:
    """Lookup of the price in force for (provider, model) on a day."""

    def __init__(self, version: str, prices: list[Price]) -> None:
        self.version = version
        self._by_model: dict[tuple[str, str], tuple[list[date], list[Price]]] = {}
        grouped: dict[tuple[str, str], list[Price]] = {}
        for price in prices:
            grouped.setdefault((price.provider, price.model), []).append(price)
        for key, rows in grouped.items():
            rows.sort(key=lambda p: p.effective_from)
            dates = [p.effective_from for p in rows]
            if len(set(dates)) != len(dates):
                raise ValueError(f"{key[0]}/{key[1]}: two prices with the same effective_from")
            self._by_model[key] = (dates, rows)

    def lookup(self, provider: str, model: str, when: datetime | date) -> Price | None:
        """The price in force on ``when`` (UTC), or None: the call is then *unpriced*."""
        entry = self._by_model.get((provider, model))
        if entry is None:
            return None
        if isinstance(when, datetime):
            day = (when.astimezone(UTC) if when.tzinfo else when).date()
        else:
            day = when
        dates, rows = entry
        index = bisect.bisect_right(dates, day) - 1
        return rows[index] if index >= 0 else None

    def models(self) -> list[tuple[str, str]]:
        return sorted(self._by_model)


def _parse(document: dict[str, Any]) -> PriceCatalog:
    prices = []
    for i, row in enumerate(document["prices"]):
        try:
            output = _nano(row["output"])
            input_ = _nano(row["input"])
            prices.append(
                Price(
                    provider=row["provider"],
                    model=row["model"],
                    effective_from=date.fromisoformat(row["effective_from"]),
                    input=input_,
                    output=output,
                    cached_input=_nano(row["cached_input"]) if row.get("cached_input") else input_,
                    reasoning=_nano(row["reasoning"]) if row.get("reasoning") else output,
                )
            )
        except (KeyError, ValueError) as exc:
            raise ValueError(f"price catalog row {i}: {exc}") from exc
    return PriceCatalog(str(document["catalog_version"]), prices)


def load_catalog(path: Path | None = None) -> PriceCatalog:
    """Load the catalog shipped with the package, or the one at ``path``."""
    if path is None:
        text = resources.files("core.pricing").joinpath("catalog.json").read_text("utf-8")
    else:
        text = path.read_text("utf-8")
    return _parse(json.loads(text))
