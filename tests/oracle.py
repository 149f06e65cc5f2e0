"""An independent oracle: what the billing numbers must be, computed with Decimal from the raw
event dicts and catalog.json, sharing no code with the pipeline or the queries."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

CATALOG = json.loads(
    (Path(__file__).resolve().parents[1] / "core" / "pricing" / "catalog.json").read_text()
)
NANO = Decimal("0.000000001")


def price_of(provider: str, model: str, day: date) -> dict[str, Any] | None:
    rows = [
        r
        for r in CATALOG["prices"]
        if r["provider"] == provider
        and r["model"] == model
        and date.fromisoformat(r["effective_from"]) <= day
    ]
    return max(rows, key=lambda r: r["effective_from"]) if rows else None


def _counts(event: dict[str, Any]) -> dict[str, Any]:
    """The event with whole-number counts as ints: JSON's 1200.0 is the integer 1200."""
    names = ("input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens")
    return {**event, **{k: int(event[k]) for k in (*names, "latency_ms") if k in event}}


def cost(event: dict[str, Any]) -> Decimal | None:
    """Cost in USD, None when unpriced."""
    event = _counts(event)
    reported = event.get("cost_usd")
    if isinstance(reported, float):  # a JSON number: its shortest form, half-even to the nano
        return Decimal(repr(reported)).quantize(NANO, rounding=ROUND_HALF_EVEN)
    if reported is not None:
        return Decimal(str(reported))
    when = parse_time(event["occurred_at"])
    # Provider names are case-insensitive (the schema lowercases them): "OpenAI" is openai.
    price = price_of(event["provider"].lower(), event["model"], when.date())
    if price is None:
        return None
    p_in = Decimal(price["input"])
    p_out = Decimal(price["output"])
    p_cached = Decimal(price["cached_input"]) if price["cached_input"] else p_in
    p_reason = Decimal(price["reasoning"]) if price["reasoning"] else p_out
    cached = event.get("cached_input_tokens", 0)
    reasoning = event.get("reasoning_tokens", 0)
    usd = (
        (event["input_tokens"] - cached) * p_in
        + cached * p_cached
        + (event["output_tokens"] - reasoning) * p_out
        + reasoning * p_reason
    ) / Decimal(1_000_000)
    return usd.quantize(NANO, rounding=ROUND_HALF_EVEN)


def fmt(amount: Decimal) -> str:
    """Money as the API writes it: 9 places, never an exponent."""
    return format(amount.quantize(NANO), "f")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def totals(events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "cost_usd": Decimal(0),
        "input_tokens": 0,
        "output_tokens": 0,
        "cached_input_tokens": 0,
        "reasoning_tokens": 0,
        "calls": 0,
        "successes": 0,
        "unpriced_calls": 0,
        "latency_sum": 0,
    }
    for e in map(_counts, events):
        c = cost(e)
        out["cost_usd"] += c or Decimal(0)
        out["unpriced_calls"] += c is None
        out["input_tokens"] += e["input_tokens"]
        out["output_tokens"] += e["output_tokens"]
        out["cached_input_tokens"] += e.get("cached_input_tokens", 0)
        out["reasoning_tokens"] += e.get("reasoning_tokens", 0)
        out["calls"] += 1
        out["successes"] += bool(e["success"])
        out["latency_sum"] += e["latency_ms"]
    out["failures"] = out["calls"] - out["successes"]
    out["total_tokens"] = out["input_tokens"] + out["output_tokens"]
    out["cost_usd"] = fmt(out["cost_usd"])
    return out


def group(
    events: Iterable[dict[str, Any]], key: Callable[[dict[str, Any]], Any]
) -> dict[Any, dict[str, Any]]:
    buckets: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        buckets[key(e)].append(e)
    return {k: totals(v) for k, v in buckets.items()}


def assert_metrics(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    """Exact equality of every additive metric (money compared as exact strings)."""
    for name in (
        "cost_usd",
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "reasoning_tokens",
        "total_tokens",
        "calls",
        "successes",
        "failures",
        "unpriced_calls",
    ):
        assert actual[name] == expected[name], (name, actual[name], expected[name])
    if expected["calls"]:
        avg = round(expected["latency_sum"] / expected["calls"], 1)
        assert actual["avg_latency_ms"] == avg
        assert actual["success_rate"] == round(expected["successes"] / expected["calls"], 4)
