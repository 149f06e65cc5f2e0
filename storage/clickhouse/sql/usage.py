"""Aggregations over a client's calls in a period: by time bucket, by provider/model, endpoint.

Each is a list of queries: one over the hourly rollup (``usage_hourly``) for the whole UTC
hours inside the period, one over the raw ``generations`` rows for the partial hours at its
edges. Summed by key, their rows are exact for any start/end, while the bulk of the work is
done on pre-aggregated rows.

Every aggregation returns the same metric columns (:data:`METRIC_COLUMNS`) so one function
shapes them all, and totals are sums of the rows: summary, breakdowns and current month agree.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from core.calendar import GroupBy
from core.usage import METRIC_NAMES
from storage.clickhouse.sql import Query

# Every aggregation selects these, in this order: a row's tail is a core.usage.Metrics.
METRIC_COLUMNS = METRIC_NAMES

ROLLUP_SUMS = ", ".join(f"sum({c}) AS {c}" for c in METRIC_COLUMNS)
RAW_SUMS = (
    "sum(cost_usd) AS cost_usd, sum(input_tokens) AS input_tokens, "
    "sum(output_tokens) AS output_tokens, sum(cached_input_tokens) AS cached_input_tokens, "
    "sum(reasoning_tokens) AS reasoning_tokens, count() AS calls, "
    "countIf(success) AS successes, sum(latency_ms) AS latency_ms_sum, "
    "countIf(cost_source = 'unpriced') AS unpriced_calls"
)


def whole_hours(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The whole UTC hours inside [start, end): served by the rollup; the rest by raw rows.

    Returns an empty range (start, start) when the period holds no whole hour.
    """
    floor_start = start.replace(minute=0, second=0, microsecond=0)
    full_start = floor_start if floor_start == start else floor_start + timedelta(hours=1)
    full_end = end.replace(minute=0, second=0, microsecond=0)
    if full_start >= full_end:
        return start, start
    return full_start, full_end


def _parts(
    database: str,
    client_id: str,
    start: datetime,
    end: datetime,
    keys: list[tuple[str, str]],
    rollup: bool = True,
) -> list[Query]:
    """Queries whose rows, summed by ``keys``, give METRIC_COLUMNS over [start, end).

    With ``rollup=False`` only the raw part is built: the caller has the whole hours already
    (the in-process read model).

    One reads the rollup for the whole hours, one the raw rows of the ragged edges; each is
    left out when its range is empty. They are separate queries (not a UNION) so the caller
    can run them side by side: each costs a few ms of fixed overhead on the embedded engine.
    ``keys`` are (alias, expression over {col}) pairs.
    """
    full_start, full_end = whole_hours(start, end)
    aliases = ", ".join(alias for alias, _ in keys)
    group = f" GROUP BY {aliases}" if keys else ""
    parts = []
    if full_start < full_end and rollup:
        select = ", ".join(f"{expr.format(col='hour')} AS {alias}" for alias, expr in keys)
        parts.append(
            Query(
                f"SELECT {select + ', ' if keys else ''}{ROLLUP_SUMS} "
                f"FROM {database}.usage_hourly WHERE client_id = {{client_id:String}} "
                "AND hour >= {full_start:DateTime('UTC')} AND hour < {full_end:DateTime('UTC')}"
                f"{group}",
                {"client_id": client_id, "full_start": full_start, "full_end": full_end},
            )
        )
    ranges = (
        [(start, end)]
        if full_start == full_end
        else [(a, b) for a, b in ((start, full_start), (full_end, end)) if a < b]
    )
    if ranges:
        select = ", ".join(f"{expr.format(col='occurred_at')} AS {alias}" for alias, expr in keys)
        params: dict[str, object] = {"client_id": client_id}
        conditions = []
        for n, (a, b) in enumerate(ranges):
            conditions.append(
                f"(occurred_at >= {{lo{n}:DateTime64(3, 'UTC')}} "
                f"AND occurred_at < {{hi{n}:DateTime64(3, 'UTC')}})"
            )
            params[f"lo{n}"], params[f"hi{n}"] = a, b
        parts.append(
            Query(
                f"SELECT {select + ', ' if keys else ''}{RAW_SUMS} "
                f"FROM {database}.generations WHERE client_id = {{client_id:String}} "
                f"AND ({' OR '.join(conditions)}){group}",
                params,
            )
        )
    return parts


def bucket_expr(group_by: GroupBy) -> str:
    """Bucket start over a time column ``{col}``: a fixed function name, never request text."""
    return f"toDateTime({group_by.sql_floor}({{col}}), 'UTC')"


def usage_by_bucket(
    database: str,
    client_id: str,
    start: datetime,
    end: datetime,
    group_by: GroupBy,
    rollup: bool = True,
) -> list[Query]:
    """Rows (bucket_start, *METRIC_COLUMNS); sum them by bucket."""
    keys = [("bucket", bucket_expr(group_by))]
    return _parts(database, client_id, start, end, keys, rollup)


def usage_by_pair(
    database: str,
    client_id: str,
    start: datetime,
    end: datetime,
    dims: tuple[str, str],
    rollup: bool = True,
) -> list[Query]:
    """Rows (dims[0], dims[1], *METRIC_COLUMNS); sum them by the pair.

    ``dims`` are column names from a fixed set (storage.Dimension), never request text.
    """
    return _parts(database, client_id, start, end, [(d, d) for d in dims], rollup)


def usage_total(
    database: str, client_id: str, start: datetime, end: datetime, rollup: bool = True
) -> list[Query]:
    """Rows of METRIC_COLUMNS; their sum is the period's total."""
    return _parts(database, client_id, start, end, [], rollup)


def client_rollup(
    database: str, client_id: str, hours: tuple[datetime, datetime] | None = None
) -> Query:
    """Every rollup row of the client, one result row per combo with its hours as arrays,
    and the client's newest event time (the read model's ``as_of``) in the same statement.

    Arrays keep the result small (a few hundred rows) and let them cross as Arrow buffers.
    Cost is integer nano-USD (exact; the read model sums integers). ``hours`` (inclusive
    bounds) limits the rows to those a write touched, to patch a model already held.
    """
    params: dict[str, object] = {"client_id": client_id}
    within = ""
    if hours is not None:
        within = " AND hour >= {h0:DateTime('UTC')} AND hour <= {h1:DateTime('UTC')}"
        params["h0"], params["h1"] = hours
    arrays = ", ".join(
        f"groupArray({'toInt64(' + c + ' * 1000000000)' if c == 'cost_usd' else c}) AS {c}"
        for c in METRIC_COLUMNS
    )
    sql = (
        f"SELECT provider, model, endpoint, success, groupArray(toUInt32(hour)) AS hours, "
        f"{arrays}, any(newest) AS newest FROM ("
        f"SELECT provider, model, endpoint, success, hour, {ROLLUP_SUMS}, "
        f"(SELECT max(occurred_at) FROM {database}.generations "
        "WHERE client_id = {client_id:String}) AS newest "
        f"FROM {database}.usage_hourly WHERE client_id = {{client_id:String}}{within} "
        "GROUP BY provider, model, endpoint, success, hour"
        ") GROUP BY provider, model, endpoint, success"
    )
    return Query(sql, params)


# Each metric of one raw event, as the read model's integers (cost in nano-USD, exact:
# widened first, a Decimal64(9) times 10**9 would overflow).
EVENT_METRICS = {
    "cost_usd": "toInt64(toDecimal128(cost_usd, 9) * 1000000000)",
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cached_input_tokens": "cached_input_tokens",
    "reasoning_tokens": "reasoning_tokens",
    "calls": "toUInt8(1)",
    "successes": "toUInt8(success)",
    "latency_ms_sum": "latency_ms",
    "unpriced_calls": "toUInt8(cost_source = 'unpriced')",
}


def client_events(
    database: str, client_id: str, hours: tuple[datetime, datetime] | None = None
) -> Query:
    """The client's raw events as arrays, one result row per combo: epoch ms (``times``)
    and EVENT_METRICS, for the read model's edges (storage.clickhouse.edges). ``hours``
    (inclusive bounds) limits them to the hours a write touched."""
    params: dict[str, object] = {"client_id": client_id}
    within = ""
    if hours is not None:
        within = (
            " AND occurred_at >= {h0:DateTime64(3, 'UTC')}"
            " AND occurred_at < {h1:DateTime64(3, 'UTC')}"
        )
        params["h0"], params["h1"] = hours[0], hours[1] + timedelta(hours=1)
    arrays = ", ".join(f"groupArray({EVENT_METRICS[c]}) AS {c}" for c in METRIC_COLUMNS)
    sql = (
        "SELECT provider, model, endpoint, success, "
        f"groupArray(toUnixTimestamp64Milli(occurred_at)) AS times, {arrays} "
        f"FROM {database}.generations WHERE client_id = {{client_id:String}}{within} "
        "GROUP BY provider, model, endpoint, success"
    )
    return Query(sql, params)


def newest_event(database: str, client_id: str) -> Query:
    """Newest stored event time of the client: what the answers are complete up to.

    Reads one granule per part: the sort key is (client_id, occurred_at, ...).
    """
    sql = (
        f"SELECT occurred_at FROM {database}.generations WHERE client_id = {{client_id:String}} "
        "ORDER BY occurred_at DESC LIMIT 1"
    )
    return Query(sql, {"client_id": client_id})


# The rollup's key, as usage_hourly orders it.
ROLLUP_KEY = "client_id, hour, provider, model, endpoint, success"


def rollup_check(database: str, pairs: list[tuple[str, datetime]]) -> tuple[Query, Query]:
    """Rows (*ROLLUP_KEY, *METRIC_COLUMNS) for the (client_id, hour) pairs: rollup, raw.

    The same key and metrics on both sides, so they compare row for row (storage.clickhouse
    .repair). Bounded by the pairs' clients and time span first, for the primary key.
    """
    params: dict[str, object] = {
        "pairs": pairs,
        "clients": sorted({c for c, _ in pairs}),
        "lo": min(h for _, h in pairs),
        "hi": max(h for _, h in pairs) + timedelta(hours=1),
    }
    rollup = Query(
        f"SELECT {ROLLUP_KEY}, {ROLLUP_SUMS} FROM {database}.usage_hourly "
        "WHERE client_id IN {clients:Array(String)} "
        "AND hour >= {lo:DateTime('UTC')} AND hour < {hi:DateTime('UTC')} "
        "AND (client_id, hour) IN {pairs:Array(Tuple(String, DateTime('UTC')))} "
        f"GROUP BY {ROLLUP_KEY}",
        params,
    )
    raw = Query(
        "SELECT client_id, toStartOfHour(occurred_at) AS hour, provider, model, endpoint, "
        f"success, {RAW_SUMS} FROM {database}.generations "
        "WHERE client_id IN {clients:Array(String)} "
        "AND occurred_at >= {lo:DateTime64(3, 'UTC')} AND occurred_at < {hi:DateTime64(3, 'UTC')} "
        "AND (client_id, toStartOfHour(occurred_at)) IN "
        "{pairs:Array(Tuple(String, DateTime('UTC')))} "
        f"GROUP BY {ROLLUP_KEY}",
        params,
    )
    return rollup, raw
