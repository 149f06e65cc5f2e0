"""The pure rules of budget alert webhooks: signature, delivery ids, due thresholds, backoff."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from core.errors import ValidationFailed
from core.webhooks import backoff, check_webhook, delivery_id, due_alerts, payload, sign, verify

SECRET = "whsec_0123456789abcdef"
BODY = b'{"id": "x", "data": {"spend": "1.000000000"}}'


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), b"1769902200." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1769902200, BODY) == f"t=1769902200,v1={expected}"


def test_verify_refuses_tampering_other_secrets_and_stale_timestamps() -> None:
    header = sign(SECRET, 1_000_000, BODY)
    assert verify(SECRET, header, BODY, 1_000_000)
    assert verify(SECRET, header, BODY, 1_000_300)  # 5 minutes: still accepted
    assert not verify(SECRET, header, BODY, 1_000_301)
    assert not verify(SECRET, header, BODY, 999_699)  # from the future, too far
    assert not verify(SECRET + "x", header, BODY, 1_000_000)
    assert not verify(SECRET, header, BODY[:-1], 1_000_000)
    # The timestamp is signed: moving it breaks the signature.
    moved = header.replace("t=1000000", "t=1000100")
    assert not verify(SECRET, moved, BODY, 1_000_100)
    assert not verify(SECRET, "garbage", BODY, 1_000_000)


def test_delivery_id_is_stable_and_distinct_per_client_month_threshold() -> None:
    first = delivery_id("acme", "2026-01", 80)
    assert first == delivery_id("acme", "2026-01", 80)
    others = {
        delivery_id("acme", "2026-02", 80),
        delivery_id("acme", "2026-01", 100),
        delivery_id("acme2", "2026-01", 80),
    }
    assert first not in others and len(others) == 3


NOW = datetime(2026, 3, 31, 23, 59, 59, 999999, tzinfo=UTC)


def test_due_alerts_cross_at_equality_and_skip_already_queued() -> None:
    budget = Decimal("200")
    below = due_alerts("c", Decimal("99.999999999"), budget, (50, 100), NOW, set())
    assert below == []
    at = due_alerts("c", Decimal("100"), budget, (50, 100), NOW, set())
    assert [(a.threshold_percent, a.level, a.month) for a in at] == [(50, "warning", "2026-03")]
    both = due_alerts("c", Decimal("200"), budget, (50, 100), NOW, {50})
    assert [(a.threshold_percent, a.level) for a in both] == [(100, "exceeded")]
    assert due_alerts("c", Decimal("500"), None, (50, 100), NOW, set()) == []
    # A zero budget: any spend crosses every threshold, no spend crosses none.
    assert due_alerts("c", Decimal(0), Decimal(0), (50,), NOW, set()) == []
    assert len(due_alerts("c", Decimal("0.000000001"), Decimal(0), (50, 100), NOW, set())) == 2


def test_payload_carries_exact_decimal_strings() -> None:
    (alert,) = due_alerts("c", Decimal("0.3"), Decimal("0.333333333"), (90,), NOW, set())
    body = payload(alert, NOW)
    assert body["data"] == {
        "client_id": "c",
        "month": "2026-03",
        "threshold_percent": 90,
        "threshold_usd": "0.300000000",  # 0.2999999997 rounded half-even to 9 places
        "level": "warning",
        "month_to_date_spend_usd": "0.300000000",
        "monthly_budget_usd": "0.333333333",
    }
    assert body["created_at"] == "2026-03-31T23:59:59.999999Z"


def test_backoff_doubles_from_initial_and_is_capped() -> None:
    waits = [backoff(n, 2, 600) for n in range(1, 12)]
    assert waits[:4] == [timedelta(seconds=s) for s in (2, 4, 8, 16)]
    assert max(waits) == timedelta(seconds=600)


def test_webhook_url_and_secret_problems_are_all_named() -> None:
    check_webhook("https://hooks.example/x?y=1", "s" * 16)
    with pytest.raises(ValidationFailed) as caught:
        check_webhook("javascript:alert(1)", "s" * 15)
    assert {tuple(p["loc"]) for p in caught.value.errors} == {("url",), ("secret",)}
