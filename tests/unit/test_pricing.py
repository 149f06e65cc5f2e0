"""Catalog prices and the cost of a call: exact integer nano-USD, one half-even rounding."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pytest

from core.pricing import load_catalog
from core.pricing.catalog import NANO, Price, PriceCatalog

USD = 10**9  # nano-USD per USD


def price(
    input_: int, output: int, cached: int | None = None, reasoning: int | None = None
) -> Price:
    return Price(
        "p",
        "m",
        date(2025, 1, 1),
        input=input_,
        output=output,
        cached_input=input_ if cached is None else cached,
        reasoning=output if reasoning is None else reasoning,
    )


@pytest.fixture(scope="module")
def catalog() -> PriceCatalog:
    return load_catalog()


def test_cost_splits_cached_and_reasoning_tokens() -> None:
    # 2.50 in / 10.00 out / 1.25 cached / 20.00 reasoning USD per 1M tokens.
    p = price(2_500_000_000, 10 * USD, cached=1_250_000_000, reasoning=20 * USD)
    # 800 uncached in, 200 cached in, 400 plain out, 100 reasoning out:
    # 800*2.5 + 200*1.25 + 400*10 + 100*20 = 2000 + 250 + 4000 + 2000 = 8250 USD per 1M.
    assert p.cost_nano(1000, 500, cached=200, reasoning=100) == 8_250_000
    assert p.cost_nano(0, 0, 0, 0) == 0


@pytest.mark.parametrize(
    ("tokens", "per_million", "expected"),
    [
        (1, 500_000, 0),  # 0.5 nano -> 0 (even)
        (3, 500_000, 2),  # 1.5 -> 2 (even)
        (5, 500_000, 2),  # 2.5 -> 2 (even)
        (7, 500_000, 4),  # 3.5 -> 4 (even)
        (1, 500_001, 1),  # just above half: up
        (1, 499_999, 0),  # just below half: down
        (3, 499_999, 1),  # 1.499997 -> 1
        (1, 1_500_000, 2),  # 1.5 -> 2
    ],
)
def test_cost_rounds_half_even_once(tokens: int, per_million: int, expected: int) -> None:
    assert price(per_million, 0).cost_nano(tokens, 0, 0, 0) == expected


def test_cost_rounds_the_sum_not_each_part() -> None:
    # Two parts of 0.5 nano each are exactly 1 nano; rounding each part first would give 0.
    p = price(500_000, 500_000)
    assert p.cost_nano(1, 1, 0, 0) == 1


def test_cost_matches_decimal_arithmetic(catalog: PriceCatalog) -> None:
    rng = random.Random(5)
    for provider, model in catalog.models():
        p = catalog.lookup(provider, model, date(2026, 1, 1))
        assert p is not None
        for _ in range(200):
            inp = rng.randrange(0, 2_000_000)
            out = rng.randrange(0, 200_000)
            cached = rng.randrange(0, inp + 1)
            reasoning = rng.randrange(0, out + 1)
            usd = (
                (inp - cached) * Decimal(p.input)
                + cached * Decimal(p.cached_input)
                + (out - reasoning) * Decimal(p.output)
                + reasoning * Decimal(p.reasoning)
            ) / Decimal(10**6)
            expected = int(usd.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
            assert p.cost_nano(inp, out, cached, reasoning) == expected, (p, inp, out)


def test_missing_cached_and_reasoning_prices_default_to_input_and_output(
    catalog: PriceCatalog,
) -> None:
    groq = catalog.lookup("groq", "llama-3.3-70b-versatile", date(2026, 1, 1))
    assert groq is not None
    assert (groq.input, groq.output) == (590_000_000, 790_000_000)
    assert (groq.cached_input, groq.reasoning) == (groq.input, groq.output)
    # So for groq a cached or reasoning token costs what any other token costs.
    assert groq.cost_nano(1000, 500, 400, 300) == groq.cost_nano(1000, 500, 0, 0)
    # A catalog row that gives them keeps its own.
    gpt4o = catalog.lookup("openai", "gpt-4o", date(2026, 1, 1))
    assert gpt4o is not None
    assert (gpt4o.input, gpt4o.cached_input, gpt4o.reasoning) == (
        2_500_000_000,
        1_250_000_000,
        gpt4o.output,
    )


def test_price_in_force_follows_effective_from(catalog: PriceCatalog) -> None:
    # o3: 10/40 USD from 2025-04-16, 2/8 USD from 2025-06-10.
    assert catalog.lookup("openai", "o3", date(2025, 4, 15)) is None
    first = catalog.lookup("openai", "o3", date(2025, 4, 16))
    last_day = catalog.lookup("openai", "o3", datetime(2025, 6, 9, 23, 59, 59, tzinfo=UTC))
    cut = catalog.lookup("openai", "o3", datetime(2025, 6, 10, 0, 0))
    later = catalog.lookup("openai", "o3", date(2030, 1, 1))
    assert first is not None and last_day is not None and cut is not None and later is not None
    assert first == last_day
    assert (first.input, first.output, first.version) == (
        10 * USD,
        40 * USD,
        "openai/o3@2025-04-16",
    )
    assert cut == later
    assert (cut.input, cut.output, cut.version) == (2 * USD, 8 * USD, "openai/o3@2025-06-10")


def test_unknown_model_or_provider_is_unpriced(catalog: PriceCatalog) -> None:
    assert catalog.lookup("openai", "gpt-99", date(2026, 1, 1)) is None
    assert catalog.lookup("acme", "acme-experimental", date(2026, 1, 1)) is None
    assert catalog.lookup("anthropic", "gpt-4o", date(2026, 1, 1)) is None


def test_shipped_catalog_covers_the_main_providers(catalog: PriceCatalog) -> None:
    per_provider: dict[str, int] = {}
    for provider, _model in catalog.models():
        per_provider[provider] = per_provider.get(provider, 0) + 1
    for provider in ("openai", "anthropic", "groq", "google", "mistral"):
        assert per_provider.get(provider, 0) >= 3, (provider, per_provider)
    assert catalog.version == "2026-11-01"
    assert NANO == 10**9


def _write(tmp_path: Path, rows: list[dict[str, str | None]]) -> Path:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"catalog_version": "t", "prices": rows}))
    return path


def _row(**changes: str | None) -> dict[str, str | None]:
    row: dict[str, str | None] = {
        "provider": "p",
        "model": "m",
        "effective_from": "2025-01-01",
        "input": "1.00",
        "output": "2.00",
        "cached_input": None,
        "reasoning": None,
    }
    row.update(changes)
    return row


def test_catalog_refuses_prices_finer_than_a_nano(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="row 0"):
        load_catalog(_write(tmp_path, [_row(input="0.0000000001")]))


def test_catalog_refuses_two_prices_on_one_day(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="same effective_from"):
        load_catalog(_write(tmp_path, [_row(), _row(input="3.00")]))


def test_catalog_from_a_file_with_out_of_order_rows(tmp_path: Path) -> None:
    catalog = load_catalog(
        _write(tmp_path, [_row(effective_from="2025-03-01", input="5.00"), _row()])
    )
    feb = catalog.lookup("p", "m", date(2025, 2, 1))
    march = catalog.lookup("p", "m", date(2025, 3, 1))
    assert feb is not None and march is not None
    assert (feb.input, march.input) == (USD, 5 * USD)
