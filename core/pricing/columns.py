"""Catalog prices for whole columns: one lookup per distinct (provider, model, day).

The arithmetic is :meth:`Price.cost_nano`'s, on int64 arrays: integer nano-USD, one half-even
rounding. Rows whose products could leave int64 (token counts in the billions times a large
price) are computed with Python integers instead, so the result is exact for every row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.pricing.catalog import Price, PriceCatalog

_PER = 10**6
_DAY_MS = 86_400_000
_SAFE = float(2**61)  # a bound on each product, far inside int64 (with float slack)

Int64s = np.ndarray[Any, np.dtype[np.int64]]


@dataclass
class PricedColumns:
    """Per row: cost in nano-USD, how it was set, the catalog price's version."""

    cost_nano: Int64s
    cost_source: pa.Array
    price_version: pa.Array
    unpriced: int


def _codes(values: pa.Array) -> tuple[Int64s, list[str]]:
    encoded = pc.dictionary_encode(values)
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), [
        str(v) for v in encoded.dictionary.to_pylist()
    ]


def price_columns(
    catalog: PriceCatalog,
    provider: pa.Array,
    model: pa.Array,
    occurred_ms: Int64s,
    tokens: dict[str, Int64s],
    reported: Int64s,
    has_reported: np.ndarray[Any, np.dtype[np.bool_]],
) -> PricedColumns:
    """Cost of every row; a provider-reported cost (``has_reported``) wins over the catalog."""
    n = len(occurred_ms)
    p_codes, p_names = _codes(provider)
    m_codes, m_names = _codes(model)
    days = np.floor_divide(occurred_ms, _DAY_MS)
    day0 = int(days.min()) if n else 0
    span = int(days.max()) - day0 + 1 if n else 1
    keys = (p_codes * len(m_names) + m_codes) * span + (days - day0)
    unique, inverse = np.unique(keys, return_inverse=True)
    prices: list[Price | None] = []
    for key in unique.tolist():
        day, pm = key % span + day0, key // span
        prov, mod = p_names[pm // len(m_names)], m_names[pm % len(m_names)]
        when = np.datetime64(day, "D").astype(object)
        prices.append(catalog.lookup(prov, mod, when))
    rates = np.array(
        [(p.input, p.cached_input, p.output, p.reasoning) if p else (0, 0, 0, 0) for p in prices],
        np.int64,
    ).reshape(len(prices), 4)[inverse]
    known = np.array([p is not None for p in prices], bool)[inverse]

    inp, out = tokens["input_tokens"], tokens["output_tokens"]
    cached, reasoning = tokens["cached_input_tokens"], tokens["reasoning_tokens"]
    parts = (inp - cached, cached, out - reasoning, reasoning)
    big = (inp + out).astype(np.float64) * rates.max(axis=1).astype(np.float64) >= _SAFE
    scaled = sum(part * rates[:, i] for i, part in enumerate(parts))
    assert isinstance(scaled, np.ndarray)
    quotient, remainder = np.divmod(np.where(big, 0, scaled), _PER)
    twice = 2 * remainder
    quotient += (twice > _PER) | ((twice == _PER) & (quotient % 2 == 1))
    cost = np.where(has_reported, reported, np.where(known, quotient, 0)).astype(np.int64)
    for i in np.flatnonzero(big & known & ~has_reported).tolist():
        price = prices[int(inverse[i])]
        assert price is not None
        cost[i] = price.cost_nano(int(inp[i]), int(out[i]), int(cached[i]), int(reasoning[i]))

    source_codes = np.where(has_reported, 0, np.where(known, 1, 2))
    sources = pa.DictionaryArray.from_arrays(
        pa.array(source_codes, pa.int8()), pa.array(["provider", "catalog", "unpriced"])
    ).cast(pa.string())
    version_names = [p.version if p else "" for p in prices] + [""]
    version_codes = np.where(has_reported, len(prices), inverse)
    versions = pa.DictionaryArray.from_arrays(
        pa.array(version_codes, pa.int32()), pa.array(version_names, pa.string())
    ).cast(pa.string())
    unpriced = int(np.count_nonzero(~known & ~has_reported))
    return PricedColumns(cost, sources, versions, unpriced)
