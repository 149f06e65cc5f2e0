"""Clients (tenants), their budgets and their API keys: the rules, without storage.

An API key is ``llmh_<key_id>_<secret>``: the key id finds the stored row, the SHA-256 of the
whole key is compared in constant time. Keys are 256-bit random, so a fast hash is enough (a
slow password hash protects guessable secrets; these are not guessable). The key is returned
once, when issued, and never stored.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from core.errors import Problem, ValidationFailed, problem
from schemas.wire import CLIENT_ID_PATTERN, NAME_MAX_LENGTH

DEFAULT_THRESHOLDS = (50, 80, 100)
MAX_BUDGET_USD = Decimal(10**9)
# Alert thresholds: percentages of the budget, at most this many (an empty list: no alerts).
MIN_THRESHOLD, MAX_THRESHOLD, MAX_THRESHOLDS = 1, 1000, 20
# Client ids appear in URL paths of the admin API (one path segment each, used verbatim by
# the admin CLI) and in storage keys: the very rule events are judged by (schemas.wire), so
# every client can receive events, and no "/".
CLIENT_ID_RE = re.compile(CLIENT_ID_PATTERN.removeprefix("^").removesuffix("$"))
CLIENT_ID_RULE = "1 to 64 characters: letters, digits and _.:- (starting with a letter or digit)"
_KEY_PREFIX = "llmh"
_KEY_RE = re.compile(r"^llmh_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    monthly_budget_usd: Decimal | None
    alert_thresholds: tuple[int, ...]
    created_at: datetime


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    client_id: str
    label: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class IssuedKey:
    key: str  # shown once
    info: ApiKey


def new_key() -> tuple[str, str]:
    """A fresh (key_id, key)."""
    key_id = secrets.token_hex(8)
    return key_id, f"{_KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


def key_id_of(key: str) -> str | None:
    """The key id inside a well-formed key, or None."""
    match = _KEY_RE.fullmatch(key)
    return match.group(1) if match else None


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def client_id_problems(client_id: str) -> list[Problem]:
    if len(client_id) <= NAME_MAX_LENGTH and CLIENT_ID_RE.fullmatch(client_id):
        return []
    return [problem(["client_id"], CLIENT_ID_RULE, "pattern")]


def check_budget(budget: Decimal | None, thresholds: tuple[int, ...] | list[int]) -> None:
    """Raise ValidationFailed naming every problem of a budget and its thresholds."""
    errors = []
    if budget is not None and (not budget.is_finite() or not 0 <= budget <= MAX_BUDGET_USD):
        errors.append(problem(["monthly_budget_usd"], "must be between 0 and 1e9", "range"))
    elif budget is not None and budget.as_tuple().exponent < -9:  # type: ignore[operator]
        errors.append(problem(["monthly_budget_usd"], "at most 9 decimal places", "precision"))
    if len(thresholds) > MAX_THRESHOLDS or any(
        not MIN_THRESHOLD <= t <= MAX_THRESHOLD for t in thresholds
    ):
        msg = (
            f"at most {MAX_THRESHOLDS} percentages, each between {MIN_THRESHOLD} and "
            f"{MAX_THRESHOLD} (an empty list: no alerts)"
        )
        errors.append(problem(["alert_thresholds"], msg, "range"))
    if errors:
        raise ValidationFailed(errors)
