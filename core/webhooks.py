"""Budget alert webhooks: what is sent, how it is signed, and which thresholds are due. Pure.

Signing (the receiver's recipe is in docs/webhooks.md): the header
``X-Llmhub-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``.
The timestamp is inside the signed text, so a captured request cannot be replayed later with a
fresh timestamp; receivers reject timestamps older than a tolerance (5 minutes suggested).

Delivery is at-least-once: the delivery id (``X-Llmhub-Delivery``, also ``id`` in the body) is
derived from (client, month, threshold), so every attempt and every re-send after a crash
carries the same id and the receiver can drop repeats by it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from core.budget import assess
from core.errors import ValidationFailed, problem
from core.money import money

SIGNATURE_HEADER = "X-Llmhub-Signature"
DELIVERY_HEADER = "X-Llmhub-Delivery"
EVENT_HEADER = "X-Llmhub-Event"
EVENT_TYPE = "budget.threshold_crossed"
DEFAULT_TOLERANCE = timedelta(minutes=5)
# Fixed namespace: delivery ids must stay the same across processes and versions.
_NAMESPACE = uuid.UUID("6f1d7a52-5b8e-4c61-9a0e-3f2d1c0b9a87")
_SIG_RE = re.compile(r"^t=(\d{1,12}),v1=([0-9a-f]{64})$")
MIN_SECRET_CHARS = 16


@dataclass(frozen=True)
class Webhook:
    client_id: str
    url: str
    secret: str


@dataclass(frozen=True)
class DueAlert:
    """A threshold crossed this month that has not been queued yet."""

    client_id: str
    month: str  # "YYYY-MM" (UTC)
    threshold_percent: int
    threshold_usd: Decimal
    level: str
    spend_usd: Decimal
    budget_usd: Decimal

    @property
    def delivery_id(self) -> uuid.UUID:
        return delivery_id(self.client_id, self.month, self.threshold_percent)


@dataclass(frozen=True)
class Delivery:
    """One queued alert and where its delivery stands (a row of webhook_deliveries)."""

    client_id: str
    month: str
    threshold_percent: int
    delivery_id: uuid.UUID
    revision: int
    status: str  # pending | delivered | failed
    attempts: int
    payload: bytes
    url: str
    created_at: datetime
    next_attempt_at: datetime
    last_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    last_status_code: int = 0
    last_error: str = ""


def delivery_id(client_id: str, month: str, threshold_percent: int) -> uuid.UUID:
    """The idempotency key of one alert: the same for every attempt, in every process."""
    return uuid.uuid5(_NAMESPACE, f"{client_id}\x00{month}\x00{threshold_percent}")


def month_key(when: datetime) -> str:
    return f"{when.year:04d}-{when.month:02d}"


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def check_webhook(url: str, secret: str) -> None:
    """Raise ValidationFailed naming every problem of a webhook URL and secret."""
    errors = []
    if not re.match(r"^https?://[^\s/]+(/\S*)?$", url) or len(url) > 2000:
        errors.append(problem(["url"], "must be an http:// or https:// URL", "url"))
    if len(secret) < MIN_SECRET_CHARS or len(secret) > 200:
        msg = f"between {MIN_SECRET_CHARS} and 200 characters"
        errors.append(problem(["secret"], msg, "length"))
    if errors:
        raise ValidationFailed(errors)


def due_alerts(
    client_id: str,
    spend: Decimal,
    budget: Decimal | None,
    thresholds: tuple[int, ...],
    now: datetime,
    already: set[int],
) -> list[DueAlert]:
    """Thresholds crossed by ``spend`` this month (rules of core.budget) not in ``already``."""
    state = assess(spend, budget, thresholds)
    if budget is None:
        return []
    month = month_key(now)
    return [
        DueAlert(client_id, month, a.threshold_percent, a.threshold_usd, a.level, spend, budget)
        for a in state.alerts
        if a.threshold_percent not in already
    ]


def payload(alert: DueAlert, created_at: datetime) -> dict[str, object]:
    """The JSON body (money as exact decimal strings); fixed when the alert is queued."""
    return {
        "id": str(alert.delivery_id),
        "type": EVENT_TYPE,
        "created_at": created_at.isoformat().replace("+00:00", "Z"),
        "data": {
            "client_id": alert.client_id,
            "month": alert.month,
            "threshold_percent": alert.threshold_percent,
            "threshold_usd": money(alert.threshold_usd),
            "level": alert.level,
            "month_to_date_spend_usd": money(alert.spend_usd),
            "monthly_budget_usd": money(alert.budget_usd),
        },
    }


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, now: int, tolerance: timedelta = DEFAULT_TOLERANCE
) -> bool:
    """What a receiver does: the signature matches and its timestamp is recent enough."""
    match = _SIG_RE.match(header.strip())
    if match is None:
        return False
    timestamp = int(match.group(1))
    if abs(now - timestamp) > tolerance.total_seconds():
        return False
    expected = sign(secret, timestamp, body)
    return hmac.compare_digest(expected, header.strip())


def backoff(attempts: int, initial_s: float, max_s: float) -> timedelta:
    """Wait before attempt ``attempts + 1``: initial x 2^(attempts-1), capped at max."""
    return timedelta(seconds=min(max_s, initial_s * 2 ** max(0, attempts - 1)))
