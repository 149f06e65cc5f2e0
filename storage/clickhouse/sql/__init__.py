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


def equalities(*columns: tuple[str, str, object]) -> tuple[list[str], dict[str, Any]]:
    """``column = {column:Type}`` for each (column, type, value) whose value is not None.

    The optional filters of logs, exports and dead letters: a None value means "any".
    """
    clauses: list[str] = []
    params: dict[str, Any] = {}
    for column, sql_type, value in columns:
        if value is not None:
            clauses.append(f"{column} = {{{column}:{sql_type}}}")
            params[column] = value
    return clauses, params
