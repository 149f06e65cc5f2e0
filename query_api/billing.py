"""Answers to the six billing questions: runs the queries and shapes the bodies."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from core.clickhouse import ClickHousePool
from core.errors import NotFound
from core.tenants import TenantStore
from core.ttlcache import TTLCache
from query_api.queries import Query
from query_api.queries import logs as logq
from query_api.queries import usage as usageq

_NANO = Decimal("0.000000001")
AS_OF_TTL_S = 1.0
# Pages up to this offset read raw rows directly; deeper ones start at the right hour.
DIRECT_OFFSET = 10_000
_ZERO_METRICS: tuple[Any, ...] = (Decimal(0), 0, 0, 0, 0, 0, 0, 0, 0)


def money(value: Decimal) -> str:
    return format(Decimal(value).quantize(_NANO), "f")


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def metrics(row: Sequence[Any]) -> dict[str, Any]:
    """Shape one row of METRIC_COLUMNS; failures, rates and averages derive from it."""
    cost, inp, out, cached, reasoning, calls, successes, latency_sum, unpriced = row
    return {
        "cost_usd": money(cost),
        "input_tokens": int(inp),
        "output_tokens": int(out),
        "cached_input_tokens": int(cached),
        "reasoning_tokens": int(reasoning),
        "total_tokens": int(inp) + int(out),
        "calls": int(calls),
        "successes": int(successes),
        "failures": int(calls) - int(successes),
        "success_rate": round(successes / calls, 4) if calls else 0.0,
        "avg_latency_ms": round(latency_sum / calls, 1) if calls else 0.0,
        "unpriced_calls": int(unpriced),
    }


def add(a: Sequence[Any], b: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(x + y for x, y in zip(a, b, strict=True))


def bucket_starts(start: datetime, end: datetime, group_by: str) -> list[datetime]:
    """Starts of every bucket that overlaps [start, end), aligned to UTC hour/day/month."""
    if group_by == "hour":
        first = start.replace(minute=0, second=0, microsecond=0)
    elif group_by == "day":
        first = start.replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        first = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    starts = []
    current = first
    while current < end:
        starts.append(current)
        current = next_bucket(current, group_by)
    return starts


def next_bucket(current: datetime, group_by: str) -> datetime:
    if group_by == "hour":
        return current + timedelta(hours=1)
    if group_by == "day":
        return current + timedelta(days=1)
    return (current.replace(day=28) + timedelta(days=4)).replace(day=1)


def count_buckets(start: datetime, end: datetime, group_by: str) -> int:
    """How many buckets a period needs, without building them (guards huge requests)."""
    seconds = (end - start).total_seconds()
    if group_by == "hour":
        return int(seconds // 3600) + 2
    if group_by == "day":
        return int(seconds // 86400) + 2
    return (end.year - start.year) * 12 + end.month - start.month + 1


class BillingService:
    """One client's numbers. Every query is bound to the client id the API key resolved to."""

    def __init__(self, pool: ClickHousePool, tenants: TenantStore) -> None:
        self.pool = pool
        self.db = pool.database
        self.tenants = tenants
        # An as_of up to a second old is still true (data is complete up to it), and saves
        # a query on most requests.
        self._as_of: TTLCache[str, datetime | None] = TTLCache(AS_OF_TTL_S)
        self._executor = ThreadPoolExecutor(max_workers=pool.size, thread_name_prefix="query")

    def _rows(self, query: Query) -> list[tuple[Any, ...]]:
        return self.pool.query_rows(query.sql, query.params)

    def _summed(self, parts: list[Query], keys: int) -> list[tuple[Any, ...]]:
        """Run the parts side by side; sum their metric columns by the first ``keys`` columns.

        Sorted by key; with no keys, one row (zeros when nothing matched).
        """
        if len(parts) > 1:
            results = list(self._executor.map(self._rows, parts))
        else:
            results = [self._rows(q) for q in parts]
        merged: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        for rows in results:
            for row in rows:
                key, values = tuple(row[:keys]), tuple(row[keys:])
                merged[key] = add(merged[key], values) if key in merged else values
        if not keys:
            return [merged.get((), _ZERO_METRICS)]
        return [(*key, *values) for key, values in sorted(merged.items())]

    def as_of(self, client_id: str) -> datetime | None:
        return self._as_of.get_or_load(client_id, lambda: self._newest_event(client_id))

    def _newest_event(self, client_id: str) -> datetime | None:
        rows = self._rows(usageq.newest_event(self.db, client_id))
        return _aware(rows[0][0]) if rows else None

    # -- usage -------------------------------------------------------------------------------
    def summary(
        self, client_id: str, start: datetime, end: datetime, group_by: usageq.GroupBy
    ) -> dict[str, Any]:
        rows = self._summed(
            usageq.usage_by_bucket(self.db, client_id, _naive(start), _naive(end), group_by), 1
        )
        found = {_aware(r[0]): tuple(r[1:]) for r in rows}
        buckets = []
        total: tuple[Any, ...] = _ZERO_METRICS
        for bucket_start in bucket_starts(start, end, group_by):
            row = found.pop(bucket_start, _ZERO_METRICS)
            total = add(total, row)
            buckets.append(
                {
                    "start": bucket_start,
                    "end": next_bucket(bucket_start, group_by),
                    **metrics(row),
                }
            )
        if found:  # a bucket the calendar walk missed would be money silently left out
            raise RuntimeError(f"buckets outside the period: {sorted(found)}")
        return {
            "client_id": client_id,
            "period": {"start": start, "end": end},
            "group_by": group_by,
            "currency": "USD",
            "totals": metrics(total),
            "buckets": buckets,
            "as_of": self.as_of(client_id),
            "generated_at": datetime.now(UTC),
        }

    def by_provider(self, client_id: str, start: datetime, end: datetime) -> dict[str, Any]:
        rows = self._summed(
            usageq.usage_by_provider_model(self.db, client_id, _naive(start), _naive(end)), 2
        )
        return self._breakdown(client_id, start, end, rows, ("providers", "provider"), "model")

    def by_endpoint(self, client_id: str, start: datetime, end: datetime) -> dict[str, Any]:
        rows = self._summed(
            usageq.usage_by_endpoint_provider(self.db, client_id, _naive(start), _naive(end)), 2
        )
        return self._breakdown(client_id, start, end, rows, ("endpoints", "endpoint"), "provider")

    def _breakdown(
        self,
        client_id: str,
        start: datetime,
        end: datetime,
        rows: list[tuple[Any, ...]],
        outer: tuple[str, str],
        inner: str,
    ) -> dict[str, Any]:
        """Rows (outer key, inner key, *metrics) -> items by outer key, inner ones nested.

        ``outer`` is (list name, key name), e.g. ("providers", "provider") with inner "model".
        Items and nested items are sorted by cost, largest first.
        """
        grand = _sum_rows(r[2:] for r in rows)
        groups: dict[str, list[tuple[Any, ...]]] = {}
        for r in rows:
            groups.setdefault(r[0], []).append(tuple(r))
        items = []
        for key, inner_rows in groups.items():
            subtotal = _sum_rows(r[2:] for r in inner_rows)
            items.append(
                {
                    outer[1]: key,
                    **metrics(subtotal),
                    "cost_share": _share(subtotal[0], grand[0]),
                    f"{inner}s": [
                        {inner: r[1], **metrics(r[2:]), "cost_share": _share(r[2], grand[0])}
                        for r in sorted(inner_rows, key=lambda r: r[2], reverse=True)
                    ],
                }
            )
        items.sort(key=lambda item: (Decimal(item["cost_usd"]), item["calls"]), reverse=True)
        return {
            "client_id": client_id,
            "period": {"start": start, "end": end},
            "currency": "USD",
            "totals": metrics(grand),
            outer[0]: items,
            "as_of": self.as_of(client_id),
            "generated_at": datetime.now(UTC),
        }

    def current_month(self, client_id: str, now: datetime | None = None) -> dict[str, Any]:
        now = now or datetime.now(UTC)
        month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        month_end = next_bucket(month_start, "month")
        row = self._summed(
            usageq.usage_total(self.db, client_id, _naive(month_start), _naive(month_end)), 0
        )[0]
        spend = Decimal(row[0])
        body: dict[str, Any] = {
            "client_id": client_id,
            "month": month_start.strftime("%Y-%m"),
            "period": {"start": month_start, "end": month_end},
            "currency": "USD",
            "spend_usd": money(spend),
            **{k: v for k, v in metrics(row).items() if k != "cost_usd"},
        }
        # Linear projection on elapsed time; at least an hour so a month's first minutes
        # do not project absurd numbers.
        elapsed = max((now - month_start).total_seconds(), 3600.0)
        month_seconds = (month_end - month_start).total_seconds()
        projected = spend * Decimal(month_seconds) / Decimal(min(elapsed, month_seconds))
        body["projected_month_end_usd"] = money(projected)
        client = self.tenants.cached_client(client_id)
        budget = client.monthly_budget_usd if client else None
        thresholds = list(client.alert_thresholds) if client else [50, 80, 100]
        body["monthly_budget_usd"] = money(budget) if budget is not None else None
        body["alert_thresholds"] = thresholds
        alerts = []
        status = "ok"
        if budget is None:
            body["remaining_usd"] = None
            body["percent_used"] = None
        else:
            body["remaining_usd"] = money(budget - spend)
            body["percent_used"] = (
                float(round(spend * 100 / budget, 2))
                if budget > 0
                else (0.0 if spend == 0 else None)
            )
            for threshold in thresholds:
                limit = budget * threshold / 100
                if spend >= limit and (spend > 0 or limit > 0):
                    alerts.append(
                        {
                            "threshold_percent": threshold,
                            "threshold_usd": money(limit),
                            "level": "exceeded" if threshold >= 100 else "warning",
                            "message": f"spend {money(spend)} USD reached {threshold}% "
                            f"of the {money(budget)} USD monthly budget",
                        }
                    )
            if spend > budget or (budget > 0 and spend >= budget):
                status = "exceeded"
            elif alerts:
                status = "warning"
        body["status"] = status
        body["alerts"] = alerts
        body["as_of"] = self.as_of(client_id)
        body["generated_at"] = datetime.now(UTC)
        return body

    # -- logs --------------------------------------------------------------------------------
    def logs(self, flt: logq.LogFilter, limit: int, offset: int) -> dict[str, Any]:
        # The count and a near page are independent: ask both at once.
        counted = self._executor.submit(self._rows, logq.log_count(self.db, flt))
        page = None
        if offset <= DIRECT_OFFSET:
            page = self._executor.submit(self._rows, logq.log_page(self.db, flt, limit, offset))
        total = int(counted.result()[0][0])
        if page is not None:
            rows = page.result()
        else:
            rows = self._rows(self._page_query(flt, limit, offset)) if offset < total else []
        return {
            "client_id": flt.client_id,
            "items": [_log_item(dict(zip(logq.LOG_COLUMNS, r, strict=True))) for r in rows],
            "total": total,
            "limit": limit,
            "offset": offset,
            "has_more": offset + len(rows) < total,
            "filters": {"provider": flt.provider, "endpoint": flt.endpoint, "success": flt.success},
            "as_of": self.as_of(flt.client_id),
            "generated_at": datetime.now(UTC),
        }

    def _page_query(self, flt: logq.LogFilter, limit: int, offset: int) -> Query:
        """A near page reads raw rows in order; a deep one first finds the hour it starts in."""
        if offset <= DIRECT_OFFSET:
            return logq.log_page(self.db, flt, limit, offset)
        skipped = 0
        for hour, calls in self._rows(logq.calls_per_hour(self.db, flt)):
            if skipped + calls > offset:
                before = _naive(_aware(hour)) + timedelta(hours=1)
                return logq.log_page(self.db, flt, limit, offset - skipped, before)
            skipped += calls
        return logq.log_page(self.db, flt, limit, offset)

    def log_detail(self, client_id: str, log_id: str) -> dict[str, Any]:
        rows = self._rows(logq.log_detail(self.db, client_id, uuid.UUID(log_id)))
        if not rows:
            raise NotFound("log not found")
        raw = dict(zip(logq.DETAIL_COLUMNS, rows[0], strict=True))
        item = _log_item(raw)
        item.update(
            {
                "client_id": client_id,
                "ingested_at": _aware(raw["ingested_at"]),
                "price_version": raw["price_version"] or None,
                "error_message": raw["error_message"] or None,
                "request_metadata": orjson.loads(raw["request_metadata"] or "{}"),
                "response_metadata": orjson.loads(raw["response_metadata"] or "{}"),
                "schema_version": raw["schema_version"],
                "source": {
                    "kind": raw["source"],
                    "partition": raw["source_partition"] if raw["source_partition"] >= 0 else None,
                    "offset": raw["source_offset"] if raw["source_offset"] >= 0 else None,
                },
            }
        )
        return item


def _log_item(raw: dict[str, Any]) -> dict[str, Any]:
    unpriced = raw["cost_source"] == "unpriced"
    return {
        "log_id": str(raw["event_id"]),
        "occurred_at": _aware(raw["occurred_at"]),
        "provider": raw["provider"],
        "model": raw["model"],
        "endpoint": raw["endpoint"],
        "input_tokens": raw["input_tokens"],
        "output_tokens": raw["output_tokens"],
        "cached_input_tokens": raw["cached_input_tokens"],
        "reasoning_tokens": raw["reasoning_tokens"],
        "total_tokens": raw["input_tokens"] + raw["output_tokens"],
        "cost_usd": None if unpriced else money(raw["cost_usd"]),
        "cost_source": raw["cost_source"],
        "latency_ms": raw["latency_ms"],
        "success": bool(raw["success"]),
        "status_code": raw["status_code"] or None,
        "error_type": raw["error_type"] or None,
        "request_id": raw["request_id"] or None,
        "end_user_id": raw["end_user_id"] or None,
    }


def _sum_rows(rows: Any) -> tuple[Any, ...]:
    total: tuple[Any, ...] = _ZERO_METRICS
    for r in rows:
        total = add(total, r)
    return total


def _share(part: Decimal, whole: Decimal) -> float:
    return float(round(Decimal(part) / Decimal(whole), 6)) if whole else 0.0
