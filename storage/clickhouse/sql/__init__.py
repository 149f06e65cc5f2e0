"""Billing queries as pure functions: each returns SQL text plus bound parameters.

No value from a request is ever spliced into SQL text: values are bound parameters, and the
few identifiers (database, bucket function) come from settings or fixed whitelists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Query:
    sql: str
    params: dict[str, Any]
