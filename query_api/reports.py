"""The six billing answers: read through the storage contract, shaped by the body models.

Every body carries ``as_of`` (the client's newest stored event: the answer is complete up to
it) and ``generated_at``. Money is exact throughout (Decimal in, 9-place strings out).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from core import budget, utc
from core.calendar import GroupBy, month_bounds
from core.errors import NotFound
from core.money import money
from core.tenancy import DEFAULT_THRESHOLDS
from core.usage import ZERO, Metrics, total
from query_api import bodies
from storage import Dimension, LogFilter, Storage


def metric_fields(m: Metrics) -> dict[str, Any]:
    """The UsageMetrics fields of ``m``: failures, rates and averages derive from the sums."""
    calls = m.calls
    return {
        "cost_usd": money(m.cost_usd),
        "input_tokens": m.input_tokens,
        "output_tokens": m.output_tokens,
        "cached_input_tokens": m.cached_input_tokens,
        "reasoning_tokens": m.reasoning_tokens,
        "total_tokens": m.input_tokens + m.output_tokens,
        "calls": calls,
        "successes": m.successes,
        "failures": calls - m.successes,
        "success_rate": round(m.successes / calls, 4) if calls else 0.0,
        "avg_latency_ms": round(m.latency_ms_sum / calls, 1) if calls else 0.0,
        "unpriced_calls": m.unpriced_calls,
    }


def _share(part: Decimal, whole: Decimal) -> float:
    return float(round(part / whole, 6)) if whole else 0.0


class BillingReports:
    """One client's numbers. Every read is bound to the client id its API key resolved to."""

    def __init__(self, storage: Storage, clock: utc.Clock = utc.now) -> None:
        self.storage = storage
        self.clock = clock

    def as_of(self, client_id: str) -> datetime | None:
        """Asked before an answer's reads: the data read after it is complete up to it."""
        newest = self.storage.usage.newest_event(client_id)
        return utc.aware(newest) if newest is not None else None

    # -- usage -------------------------------------------------------------------------------
    def summary(
        self, client_id: str, start: datetime, end: datetime, group_by: GroupBy
    ) -> bodies.UsageReportResponse:
        as_of = self.as_of(client_id)
        lo, hi = utc.naive(start), utc.naive(end)
        found = self.storage.usage.by_bucket(client_id, lo, hi, group_by)
        buckets = []
        grand = ZERO
        for bucket_start in group_by.starts(lo, hi):
            m = found.pop(bucket_start, ZERO)
            grand = grand.plus(m)
            buckets.append(
                bodies.UsageBucket(
                    start=utc.aware(bucket_start),
                    end=utc.aware(group_by.step(bucket_start)),
                    **metric_fields(m),
                )
            )
        if found:  # a bucket the calendar walk missed would be money silently left out
            raise RuntimeError(f"buckets outside the period: {sorted(found)}")
        return bodies.UsageReportResponse(
            client_id=client_id,
            period=bodies.Period(start=start, end=end),
            group_by=group_by,
            totals=bodies.UsageMetrics(**metric_fields(grand)),
            buckets=buckets,
            as_of=as_of,
            generated_at=self.clock(),
        )

    def _breakdown(
        self,
        client_id: str,
        start: datetime,
        end: datetime,
        dims: tuple[Dimension, Dimension],
        models: tuple[type[bodies.ShareOfCost], type[bodies.ShareOfCost]],
    ) -> tuple[bodies.UsageMetrics, list[dict[str, Any]]]:
        """Totals, and items by ``dims[0]`` with ``dims[1]`` nested, largest cost first.

        Items are keyword arguments for the response's list (``providers=``/``endpoints=``).
        """
        rows = self.storage.usage.by_pair(client_id, utc.naive(start), utc.naive(end), dims)
        whole = total(rows.values()).cost_usd
        groups: dict[str, list[tuple[str, Metrics]]] = {}
        for (outer, inner), m in sorted(rows.items()):
            groups.setdefault(outer, []).append((inner, m))
        outer_model, inner_model = models
        items = []
        for key, inner_rows in groups.items():
            inner_rows.sort(key=lambda r: r[1].cost_usd, reverse=True)
            sub = total(m for _, m in inner_rows)
            nested = [
                inner_model(
                    **{dims[1]: name}, cost_share=_share(m.cost_usd, whole), **metric_fields(m)
                )
                for name, m in inner_rows
            ]
            item = outer_model(
                **{dims[0]: key, f"{dims[1]}s": nested},
                cost_share=_share(sub.cost_usd, whole),
                **metric_fields(sub),
            )
            items.append(item)
        items.sort(key=lambda item: (Decimal(item.cost_usd), item.calls), reverse=True)
        grand = bodies.UsageMetrics(**metric_fields(total(rows.values())))
        return grand, [item.model_dump() for item in items]

    def by_provider(
        self, client_id: str, start: datetime, end: datetime
    ) -> bodies.ProviderBreakdownResponse:
        as_of = self.as_of(client_id)
        models = (bodies.ProviderUsage, bodies.ModelUsage)
        totals, items = self._breakdown(client_id, start, end, ("provider", "model"), models)
        return bodies.ProviderBreakdownResponse(
            client_id=client_id,
            period=bodies.Period(start=start, end=end),
            totals=totals,
            providers=items,
            as_of=as_of,
            generated_at=self.clock(),
        )

    def by_endpoint(
        self, client_id: str, start: datetime, end: datetime
    ) -> bodies.EndpointBreakdownResponse:
        as_of = self.as_of(client_id)
        models = (bodies.EndpointUsage, bodies.EndpointProviderUsage)
        totals, items = self._breakdown(client_id, start, end, ("endpoint", "provider"), models)
        return bodies.EndpointBreakdownResponse(
            client_id=client_id,
            period=bodies.Period(start=start, end=end),
            totals=totals,
            endpoints=items,
            as_of=as_of,
            generated_at=self.clock(),
        )

    def current_month(self, client_id: str) -> bodies.CurrentMonthResponse:
        now = self.clock()
        as_of = self.as_of(client_id)
        month_start, month_end = month_bounds(now)
        m = self.storage.usage.total(client_id, utc.naive(month_start), utc.naive(month_end))
        client = self.storage.tenants.cached_client(client_id)
        limit = client.monthly_budget_usd if client else None
        thresholds = list(client.alert_thresholds) if client else list(DEFAULT_THRESHOLDS)
        state = budget.assess(m.cost_usd, limit, thresholds)
        fields = metric_fields(m)
        fields.pop("cost_usd")
        return bodies.CurrentMonthResponse(
            client_id=client_id,
            month=month_start.strftime("%Y-%m"),
            period=bodies.Period(start=month_start, end=month_end),
            spend_usd=money(m.cost_usd),
            projected_month_end_usd=money(budget.project_month_end(m.cost_usd, now)),
            monthly_budget_usd=money(limit) if limit is not None else None,
            alert_thresholds=thresholds,
            remaining_usd=money(state.remaining_usd) if state.remaining_usd is not None else None,
            percent_used=state.percent_used,
            status=state.status,
            alerts=[
                bodies.BudgetAlert(
                    threshold_percent=a.threshold_percent,
                    threshold_usd=money(a.threshold_usd),
                    level=a.level,
                    message=f"spend {money(m.cost_usd)} USD reached {a.threshold_percent}% "
                    f"of the {money(limit or 0)} USD monthly budget",
                )
                for a in state.alerts
            ],
            as_of=as_of,
            generated_at=now,
            **fields,
        )

    # -- logs --------------------------------------------------------------------------------
    def logs(self, flt: LogFilter, limit: int, offset: int) -> bodies.LogsResponse:
        as_of = self.as_of(flt.client_id)
        page = self.storage.logs.page(flt, limit, offset)
        return bodies.LogsResponse(
            client_id=flt.client_id,
            items=[_log_item(row) for row in page.rows],
            total=page.total,
            limit=limit,
            offset=offset,
            has_more=offset + len(page.rows) < page.total,
            filters=bodies.LogFilters(
                provider=flt.provider, endpoint=flt.endpoint, success=flt.success
            ),
            as_of=as_of,
            generated_at=self.clock(),
        )

    def log_detail(self, client_id: str, log_id: uuid.UUID) -> bodies.LogDetailResponse:
        raw = self.storage.logs.detail(client_id, log_id)
        if raw is None:
            raise NotFound("log not found")
        return bodies.LogDetailResponse(
            **log_fields(raw),
            client_id=client_id,
            ingested_at=utc.aware(raw["ingested_at"]),
            price_version=raw["price_version"] or None,
            error_message=raw["error_message"] or None,
            request_metadata=orjson.loads(raw["request_metadata"] or "{}"),
            response_metadata=orjson.loads(raw["response_metadata"] or "{}"),
            schema_version=raw["schema_version"],
            source=bodies.LogSource(
                kind=raw["source"],
                partition=raw["source_partition"] if raw["source_partition"] >= 0 else None,
                offset=raw["source_offset"] if raw["source_offset"] >= 0 else None,
            ),
        )


def log_fields(raw: dict[str, Any]) -> dict[str, Any]:
    unpriced = raw["cost_source"] == "unpriced"
    return {
        "log_id": str(raw["event_id"]),
        "occurred_at": utc.aware(raw["occurred_at"]),
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


def _log_item(raw: dict[str, Any]) -> bodies.LogItem:
    return bodies.LogItem(**log_fields(raw))
